"""compare prices multi-GPU consumer boxes (2x / 4x RTX 4090 on RunPod, sourced and dated offer rows) next to one
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


def test_rtx_4090_boxes_with_two_and_four_gpus():
    got = {(c["hardware"]["platform"], c["hardware"]["instance"], c["job"]["num_gpus"])
           for c in _compare("--gpu", "rtx 4090")["candidates"]}
    assert {("runpod", "2x_RTX4090_SECURE", 2), ("runpod", "4x_RTX4090_SECURE", 4)} <= got


def test_a_4090_pod_costs_per_gpu_times_count_beside_one_a100():
    cands = _compare("--gpu", "rtx 4090", "--gpu", "a100-80gb")["candidates"]
    pods = {c["hardware"]["instance"]: c for c in cands if c["hardware"]["platform"] == "runpod"}
    two, four = pods["2x_RTX4090_SECURE"], pods["4x_RTX4090_SECURE"]
    assert two["hardware"]["usd_per_gpu_hour"] == four["hardware"]["usd_per_gpu_hour"] == 0.74
    assert four["time"]["hours"] < two["time"]["hours"]  # more GPUs, shorter run
    assert any(c["hardware"]["gpu"].startswith("A100") and c["job"]["num_gpus"] == 1 for c in cands)


def test_a_70b_qlora_is_priced_on_two_4090s_with_its_base_sharded_by_fsdp(tmp_path):
    # FSDP-QLoRA (Answer.AI's 70B on two 24 GB GPUs): the 4-bit base sharded over both GPUs and kept in CPU memory
    cands = _compare("--model", "llama-2-70b", "--method", "qlora", "--gpu", "rtx 4090", "--zero-stage", "3",
                     "--cpu-offload")["candidates"]
    two = [c for c in cands if c["job"]["num_gpus"] == 2]
    assert two and all(c["memory"]["peak_gb_per_gpu"] < 24 for c in two)
    out = tmp_path / "run.yaml"
    proc = subprocess.run([sys.executable, "-c", "from frugaltune.cli import main; main()", "plan", "--model",
                           "llama-2-70b", "--method", "qlora", "--gpu", "rtx 4090", "--num-gpus", "2", "-o", str(out)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    import yaml

    text = out.read_text()
    assert yaml.safe_load(text)["distributed"] == {"engine": "fsdp", "num_processes": 2, "num_nodes": 1,
                                                   "zero_stage": 3, "cpu_offload": "params", "rdzv_endpoint": None}
    assert "# Engine: FSDP (full shard) with CPU offload on 2 GPU(s)" in text
