"""The probe's GPU path, on a CPU: a run measured on a catalog GPU is priced at that GPU's offer, compared with the
catalog estimate for it, and the planner's cheapest options are re-priced at the measured speed-up."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from frugaltune import estimate
from frugaltune.report.compare import job_kwargs
from frugaltune.train.config import RunConfig
from frugaltune.train.probe_price import price_projection


def _recipe(usd_per_hour=None):
    cfg = RunConfig.from_dict({"method": {"kind": "lora"}, "training": {"max_steps": 1000, "micro_batch": 4},
                               "data": {"max_seq_len": 512},
                               "cost": {"gpu": "a10", "platform": "lambda", "usd_per_hour": usd_per_hour}})
    kwargs = job_kwargs(cfg, model_ref="llama-2-7b", n_examples=10_000, tokens_per_sample=500,
                        padded_tokens_per_sample=512, steps=1000)
    est = estimate(**{k: v for k, v in kwargs.items() if v is not None}).to_json()
    hw = {"device": "cuda", "name": "NVIDIA A10", "gpu": "A10", "count": 1}
    return SimpleNamespace(cfg=cfg, estimate=est, estimate_applies=True, hardware=hw, estimate_job=kwargs,
                           estimate_note=None)


def _parts(seconds_per_padded_token: float) -> dict:
    return {"seconds_per_padded_token": seconds_per_padded_token, "padded_tokens": 1000 * 4 * 512, "evaluations": 2,
            "eval_seconds": 60.0, "saves": 10, "save_seconds": 5.0, "final_save_seconds": 2.0, "setup_seconds": 90.0}


def test_gpu_probe_is_priced_and_compared_like_for_like():
    recipe = _recipe()
    est_tps = recipe.estimate["throughput"]["tokens_per_sec"]
    measured_tps = 0.8 * est_tps  # 20 % slower than the catalog estimate
    out = price_projection(recipe, _parts(1 / measured_tps), {"tokens_per_sec": measured_tps,
                                                              "peak_memory_allocated_gb": 15.0}, alternatives=3)
    assert out["estimate_applies"] and out["price_source"].startswith("catalog: lambda")
    proj = out["projection"]
    assert proj["usd_per_hour"] == pytest.approx(recipe.estimate["hardware"]["usd_per_gpu_hour"])
    assert proj["billed_hours"] * 3600 % 60 == pytest.approx(0, abs=1e-6)  # Lambda bills by the minute
    assert proj["cost_usd"] == pytest.approx(proj["billed_hours"] * proj["usd_per_hour"])
    assert out["vs_estimate"]["tokens_per_sec"]["ratio"] == pytest.approx(0.8)
    assert out["vs_estimate"]["train_hours"]["ratio"] == pytest.approx(1 / 0.8, rel=0.02)
    alts = out["alternatives"]
    assert len(alts) == 3 and all(a["cost_usd"] is not None for a in alts)
    for a in alts:  # every alternative is slowed by the same measured 0.8x, and priced by its own offer
        assert a["tokens_per_sec"] == pytest.approx(0.8 * a["estimated_tokens_per_sec"])
        assert a["billed_hours"] >= a["hours"] - 1e-9
        assert a["cost_usd"] == pytest.approx(a["billed_hours"] * a["num_gpus"] * a["usd_per_gpu_hour"], rel=0.01)


def test_config_price_wins_and_cpu_has_no_alternatives():
    recipe = _recipe(usd_per_hour=0.5)
    out = price_projection(recipe, _parts(1e-4), {"tokens_per_sec": 1000.0, "peak_memory_allocated_gb": 1.0}, 3)
    assert out["price_source"] == "config" and out["projection"]["usd_per_hour"] == 0.5
    cpu = _recipe()
    cpu.estimate_applies, cpu.hardware = False, {"device": "cpu", "name": "CPU (2 threads)", "gpu": None, "count": 1}
    out = price_projection(cpu, _parts(1e-4), {"tokens_per_sec": 1000.0, "peak_memory_allocated_gb": 1.0}, 3)
    assert out["estimate"] is None and out["alternatives"] == [] and out["projection"]["cost_usd"] is None
    assert "measured on CPU (2 threads), not a GPU" in out["note"]
