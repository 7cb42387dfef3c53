"""`frugaltune probe`: 20 measured steps of the CPU example project its whole run; the real run, measured in the same
test on the same machine, lands within 20 % (hours in training, and billed hours with start-up, evaluations and
checkpoint saves); the measurement reaches the calibration store; nothing is left behind.

The machine is shared (other jobs take CPU away at random), so the test measures how much of a core each phase
really got (this process's CPU seconds / wall seconds) and compares the projection with the run at the same share:
on a quiet machine both shares are ~1 and the correction vanishes."""

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


def _child(code: str, *args: str) -> tuple[str, float]:
    """Run `python -c code args` as a user runs a command (imports included); (stdout, its CPU share)."""
    import resource

    before, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=600)
    after, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter() - wall
    assert out.returncode == 0, out.stderr[-3000:]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out.stdout, cpu / wall


def _scratch_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "frugaltune-probe-*")))


@pytest.mark.slow
def test_probe_projects_the_real_run_within_20_percent(tmp_path, monkeypatch):
    monkeypatch.chdir(TINY.parents[2])  # the example names its data relative to the repository root
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(TINY.read_text().replace("dir: runs/trade-classifier-tiny", f"dir: {tmp_path / 'run'}"))
    before = _scratch_dirs()
    out, probe_share = _child(PROBE.replace("{kw}", ""), str(cfg_path))
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

    _, run_share = _child(TRAIN, str(cfg_path))
    run = json.loads((tmp_path / "run" / "summary.json").read_text())
    load = probe_share / run_share  # > 1: the run got less of the CPU than the probe did, so it took longer
    train_ratio = proj["train_hours"] * load / run["train_hours"]
    billed_ratio = proj["billed_hours"] * load / run["billed_hours"]
    print(json.dumps({"train_ratio": train_ratio, "billed_ratio": billed_ratio, "probe_share": probe_share,
                      "run_share": run_share, "raw_billed_ratio": proj["billed_hours"] / run["billed_hours"]}))
    assert 0.8 <= train_ratio <= 1.2, (proj, run)
    assert 0.8 <= billed_ratio <= 1.2, (proj, run)
