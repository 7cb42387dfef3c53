"""compare prices multi-GPU consumer boxes (2x / 4x RTX 4090 on RunPod and Vast, sourced offer rows) next to one
A100, each at its per-GPU price x count and with the engine settings that fit."""

from __future__ import annotations

import json
import subprocess
import sys


def _compare(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", "from frugaltune.cli import main; main()", "compare", *args,
                           "--json"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_rtx_4090_boxes_with_two_and_four_gpus_on_marketplaces():
    got = {(c["hardware"]["platform"], c["hardware"]["instance"], c["job"]["num_gpus"])
           for c in _compare("--gpu", "rtx 4090")["candidates"]}
    assert {("runpod", "2x_RTX4090_SECURE", 2), ("runpod", "4x_RTX4090_SECURE", 4), ("vast", "2x-RTX_4090", 2),
            ("vast", "4x-RTX_4090", 4)} <= got


def test_a_4090_pod_costs_per_gpu_times_count_beside_one_a100():
    cands = _compare("--gpu", "rtx 4090", "--gpu", "a100-80gb")["candidates"]
    pods = {c["hardware"]["instance"]: c for c in cands if c["hardware"]["platform"] == "runpod"}
    two, four = pods["2x_RTX4090_SECURE"], pods["4x_RTX4090_SECURE"]
    assert two["hardware"]["usd_per_gpu_hour"] == four["hardware"]["usd_per_gpu_hour"] == 0.74
    assert four["time"]["hours"] < two["time"]["hours"]  # more GPUs, shorter run
    assert any(c["hardware"]["gpu"].startswith("A100") and c["job"]["num_gpus"] == 1 for c in cands)
