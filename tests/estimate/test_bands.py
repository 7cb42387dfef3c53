"""The 80 % bands (estimate/bands.py): which group a job's band comes from, how the fit's width factor and the
borrowing widen it, the memory band's floor at the exact static states, and the cost band following tokens/s."""

from __future__ import annotations

import math

import pytest

from frugaltune.estimate.bands import apply_bands, load_bands, quantiles, static_gb
from frugaltune.estimate.build import build_job, estimate
from frugaltune.estimate.records import Hardware

BANDS = {"borrow_widen": 1.5, "group_by": {"memory": "method", "tokens_per_s": "method x class"},
         "width_factor": {"memory": 2.0, "tokens_per_s": 1.0},
         "memory": {"*|*": [-0.2, 0.2, 50], "lora|*": [-0.1, 0.3, 20]},
         "tokens_per_s": {"*|*": [-0.4, 0.4, 50], "lora|*": [-0.2, 0.2, 30], "lora|hopper": [0.0, 0.2, 10]}}


def test_memory_bands_come_from_the_method_widened_by_the_fit_factor_only():
    lo, hi, basis = quantiles(BANDS, "memory", "lora", "hopper")
    # centre 0.1, half-width 0.2 x 2.0: the method is memory's own group, so no borrowing widen
    assert (lo, hi, basis) == (pytest.approx(-0.3), pytest.approx(0.5), "method")
    lo, hi, basis = quantiles(BANDS, "memory", "full", "hopper")  # no full rows: all methods', borrowed
    assert (lo, hi, basis) == (pytest.approx(-0.6), pytest.approx(0.6), "all")


def test_tokens_per_s_bands_use_the_class_then_borrow_the_method_wider():
    assert quantiles(BANDS, "tokens_per_s", "lora", "hopper") == (pytest.approx(0.0), pytest.approx(0.2),
                                                                   "method x class")
    lo, hi, basis = quantiles(BANDS, "tokens_per_s", "lora", "ada-consumer")
    assert (lo, hi, basis) == (pytest.approx(-0.3), pytest.approx(0.3), "method")
    assert quantiles({}, "tokens_per_s", "lora", "hopper") is None


def test_the_memory_band_never_drops_below_the_exact_static_states(catalog):
    # a very wide band (q10 = -3: a twentieth of the peak) on full fine-tuning: its low end stops at the weights,
    # optimizer states and fp32 master weights, which are computed exactly; the high end is the band's
    wide = {**BANDS, "memory": {"*|*": [-3.0, 0.2, 50]}, "width_factor": {"memory": 1.0, "tokens_per_s": 1.0}}
    job = build_job("llama-2-7b", catalog, method="full", micro_batch=1, seq_len=1024)
    est = estimate(model="llama-2-7b", gpu="a100-80gb", method="full", micro_batch=1, seq_len=1024)
    m = apply_bands(est, job, Hardware(gpu=catalog.gpu("a100-80gb")), bands=wide).memory
    assert static_gb(m) == pytest.approx(m.weights_gb + m.optimizer_gb)  # fp32 master weights included
    assert m.peak_gb_range[0] == pytest.approx(static_gb(m))  # not 0.05 x the peak
    # all methods' group, borrowed: centre -1.4, half-width 1.6 x 1.5
    assert m.peak_gb_range[1] == pytest.approx(m.peak_gb_per_gpu * math.exp(-1.4 + 1.6 * 1.5))


def test_borrow_widening_may_differ_per_metric():
    # the fit derives one widening per metric (bench/fit_calibration.py borrow_widen); a scalar still applies to both
    per_metric = {**BANDS, "borrow_widen": {"memory": 1.0, "tokens_per_s": 2.0}}
    lo, hi, basis = quantiles(per_metric, "memory", "full", "hopper")  # no full rows: all methods' band, not widened
    assert basis == "all" and (lo, hi) == pytest.approx((0.0 - 0.2 * 2.0, 0.0 + 0.2 * 2.0))
    lo, hi, basis = quantiles(per_metric, "tokens_per_s", "lora", "ada-consumer")  # borrows lora|*, x 1.0 x 2.0
    assert basis == "method" and (lo, hi) == pytest.approx((-0.4, 0.4))


def test_shipped_bands_keep_every_low_end_at_or_above_the_states_and_are_not_absurd():
    for kwargs in ({"method": "full", "num_gpus": 8, "zero_stage": 3, "cpu_offload": True, "model": "llama-2-70b",
                    "gpu": "h100"},
                   {"method": "full", "num_gpus": 8, "zero_stage": 3, "model": "llama-2-70b", "gpu": "a100-80gb"},
                   {"method": "lora", "model": "llama-2-7b", "gpu": "a10"},
                   {"method": "qlora", "model": "llama-2-7b", "gpu": "t4"}):
        m = estimate(**kwargs).memory
        low, high = m.peak_gb_range
        assert static_gb(m) <= low < m.peak_gb_per_gpu < high, kwargs
        assert high / low < 4.0, (kwargs, m.peak_gb_range)  # the 70B offload case was 1.0-273 GB before


def test_the_cost_band_scales_training_time_not_setup_or_storage():
    est = estimate(model="llama-2-7b", gpu="a100-80gb", platform="lambda")
    c, t = est.cost_breakdown, est.throughput
    low, high = c.total_cost_range
    training = c.compute_cost - c.setup_cost
    fast, slow = t.tokens_per_sec_range[1] / t.tokens_per_sec, t.tokens_per_sec_range[0] / t.tokens_per_sec
    assert low == pytest.approx(c.setup_cost + training / fast + c.storage_cost, abs=1e-3)
    assert high == pytest.approx(c.setup_cost + training / slow + c.storage_cost, abs=1e-3)
    assert low < c.total_cost < high


def test_shipped_bands_say_how_they_were_made():
    bands = load_bands()
    assert bands["group_by"] == {"memory": "method", "tokens_per_s": "method x class"}
    assert bands["min_sources"] >= 3 and bands["fit"]["residuals"].startswith("ln(measured / estimated)")
    for name in ("memory", "tokens_per_s"):
        assert 1.0 <= bands["width_factor"][name] <= 3.0
        for lo, hi, rows in bands[name].values():
            assert lo < hi and rows >= bands["min_rows"] and math.isfinite(lo)
