"""`frugaltune probe`: 20 measured steps of the CPU example project its whole run; the real run, measured in the same
test on the same machine, lands within 20 % (hours in training, and billed hours with start-up, evaluations and
checkpoint saves); the measurement reaches the calibration store; nothing is left behind.

The machine is shared (other jobs take CPU away at random, often halving a process's speed for a while), so
bench/probe_accuracy.py samples each child's CPU time as it runs and the test compares work, not luck: the
projection at the CPU share the probe's measured steps got, against the run at the share its training (or its whole
life, for billed time) got. On a quiet machine every share is ~1 and the correction vanishes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from frugaltune.estimate.measured import load_measurements

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "examples" / "trade-classifier" / "tiny.yaml"


def _bench():
    spec = importlib.util.spec_from_file_location("probe_accuracy", REPO / "bench" / "probe_accuracy.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_probe_projects_the_real_run_within_20_percent(tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # where the probe (a child process) makes its scratch run directory
    r = _bench().measure(TINY, 20, tmp_path)
    assert not list(scratch.glob("frugaltune-probe-*"))  # the probe removed its scratch run directory
    result, m, proj = r["probe"], r["probe"]["measured"], r["probe"]["projection"]
    assert m["steps"] == 20 and m["measured_steps"] == 20 - m["warmup_steps"] >= 10
    assert m["tokens_per_sec"] > 0 and m["peak_memory_allocated_gb"] > 0 and m["checkpoint_save_seconds"] > 0
    assert result["run"]["steps"] == 150 and result["run"]["evaluations"] == 4 and result["run"]["checkpoints"] == 15
    assert result["estimate_applies"] is False and result["alternatives"] == [] and "not a GPU" in result["note"]
    assert result["price_source"] == "config" and proj["cost_usd"] == pytest.approx(proj["billed_hours"] * 0.1103)
    row = load_measurements()[-1]
    assert row["source"] == "probe" and row["device"] == "cpu" and row["gpu"] is None
    assert row["measured_tokens_per_sec_per_gpu"] == pytest.approx(m["tokens_per_sec"])
    assert r["run"]["steps"] == 150 and r["run"]["checkpoints_saved"] == 15
    print(json.dumps({**r["ratios"], **r["shares"]}))
    assert 0.8 <= r["ratios"]["train"] <= 1.2, r
    assert 0.8 <= r["ratios"]["billed"] <= 1.2, r


def test_a_multi_process_config_is_probed_in_one_process(tmp_path):
    from ft_runner_util import write_config

    from frugaltune.train.probe import probe

    cfg = write_config(tmp_path, steps=8, distributed={"engine": "ddp", "num_processes": 2})
    r = probe(str(cfg), steps=3, record=False)
    assert r["run"]["processes"] == 2 and r["run"]["steps"] == 8
    # one process does the global batch of a step (grad_accum 2 x 2 processes = 4 micro-batches of 4 rows)
    assert r["run"]["padded_tokens"] >= 8 * 4 * 4 and "projected at 1/2 of that time" in r["note"]
    m, proj = r["measured"], r["projection"]
    assert proj["train_hours"] * 3600 == pytest.approx(m["seconds_per_padded_token"] * r["run"]["padded_tokens"] / 2)
    assert not (tmp_path / "run").exists()
