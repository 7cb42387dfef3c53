"""`frugaltune probe`: 20 measured steps of the CPU example project its whole run; the real run, measured in the same
test on the same machine, lands within 20 % (hours in training, and billed hours with start-up, evaluations and
checkpoint saves); the measurement reaches the calibration store; nothing is left behind.

The machine is shared (other jobs take CPU away at random, often halving a process's speed for a while), so the test
samples each child's CPU time (/proc/PID/stat) as it runs and compares work, not luck: the probe's projection at the
CPU share its measured steps got, against the run at the CPU share its training (or its whole life, for billed
time) got. On a quiet machine every share is ~1 and the correction vanishes."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from frugaltune.estimate.measured import load_measurements

TINY = Path(__file__).resolve().parents[2] / "examples" / "trade-classifier" / "tiny.yaml"


PROBE = ("import json, sys, time; from frugaltune.train.probe import probe; "
         "print(json.dumps(probe(sys.argv[1], steps=20, started_at=time.time(), {kw})))")
TRAIN = ("import sys, time; from frugaltune.train.recipe import train; "
         "sys.exit(train(sys.argv[1], resume='never', quiet=True, started_at=time.time()).exit_code)")


def _child(code: str, *args: str) -> tuple[str, list[tuple[float, float]]]:
    """Run `python -c code args` as a user runs a command (imports included): (stdout, [(unix time, CPU seconds of
    the child so far)] sampled every 0.1 s)."""
    ticks = os.sysconf("SC_CLK_TCK")
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    samples = [(time.time(), 0.0)]
    while proc.poll() is None:
        try:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            samples.append((time.time(), (int(fields[11]) + int(fields[12])) / ticks))  # utime + stime
        except (OSError, IndexError):
            pass
        time.sleep(0.1)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return out, samples


def _share(samples: list[tuple[float, float]], t0: float | None = None, t1: float | None = None) -> float:
    """CPU seconds / wall seconds of the child between t0 and t1 (default: all of its life)."""
    inside = [s for s in samples if (t0 is None or s[0] >= t0) and (t1 is None or s[0] <= t1)]
    (a, ca), (b, cb) = inside[0], inside[-1]
    return (cb - ca) / (b - a)


def _scratch_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "frugaltune-probe-*")))


@pytest.mark.slow
def test_probe_projects_the_real_run_within_20_percent(tmp_path, monkeypatch):
    monkeypatch.chdir(TINY.parents[2])  # the example names its data relative to the repository root
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(TINY.read_text().replace("dir: runs/trade-classifier-tiny", f"dir: {tmp_path / 'run'}"))
    before = _scratch_dirs()
    out, probe_cpu = _child(PROBE.replace("{kw}", ""), str(cfg_path))
    result = json.loads(out.splitlines()[-1])
    assert _scratch_dirs() == before and not (tmp_path / "run").exists()  # no checkpoint or run dir left
    m, proj = result["measured"], result["projection"]
    assert m["steps"] == 20 and m["measured_steps"] == 20 - m["warmup_steps"] >= 10
    assert m["tokens_per_sec"] > 0 and m["peak_memory_allocated_gb"] > 0 and m["checkpoint_save_seconds"] > 0
    assert result["run"]["steps"] == 150 and result["run"]["evaluations"] == 4 and result["run"]["checkpoints"] == 15
    assert result["estimate_applies"] is False and result["alternatives"] == [] and "measured a CPU" in result["note"]
    assert result["price_source"] == "config" and proj["cost_usd"] == pytest.approx(proj["billed_hours"] * 0.1103)
    row = load_measurements()[-1]
    assert row["source"] == "probe" and row["device"] == "cpu" and row["gpu"] is None
    assert row["measured_tokens_per_sec_per_gpu"] == pytest.approx(m["tokens_per_sec"])

    _, run_cpu = _child(TRAIN, str(cfg_path))
    run = json.loads((tmp_path / "run" / "summary.json").read_text())
    events = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train_from = next(e["time"] for e in events if e["event"] == "train_start")
    shares = {"probe_steps": _share(probe_cpu, m["measured_from"], m["measured_to"]), "probe": _share(probe_cpu),
              "run_training": _share(run_cpu, train_from, events[-1]["time"]), "run": _share(run_cpu)}
    # work (CPU seconds) projected vs done: the wall time each side took, at the share of a core it really had
    train_ratio = proj["train_hours"] * shares["probe_steps"] / (run["train_hours"] * shares["run_training"])
    billed_ratio = proj["billed_hours"] * shares["probe"] / (run["billed_hours"] * shares["run"])
    print(json.dumps({"train_ratio": train_ratio, "billed_ratio": billed_ratio, **shares,
                      "raw_train_ratio": proj["train_hours"] / run["train_hours"],
                      "raw_billed_ratio": proj["billed_hours"] / run["billed_hours"]}))
    assert 0.8 <= train_ratio <= 1.2, (proj, run, shares)
    assert 0.8 <= billed_ratio <= 1.2, (proj, run, shares)
