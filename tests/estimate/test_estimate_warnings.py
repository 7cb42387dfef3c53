"""Warnings an estimate carries: precision fallback, does-not-fit (with what would fit), spot unavailable, stale price."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from frugaltune import api
from frugaltune.catalog.staleness import stale_price_warning
from frugaltune.cli.options import ESTIMATE_OPTIONS
from frugaltune.cli.parse import parse
from frugaltune.estimate import estimate as core_estimate
from frugaltune.estimate.records import Hardware, Job


def test_bf16_on_t4_falls_back_to_fp16(today):
    j = api.estimate(model="llama-2-7b", gpu="Tesla T4", platform="aws", today=today).to_json()
    assert j["job"]["precision"] == "fp16"
    assert any("bf16" in w and "fp16" in w for w in j["warnings"]), j["warnings"]
    assert j["throughput"]["peak_tflops"] == 65  # T4's fp16 tensor rate, not a missing bf16 rate


def test_bf16_true_on_t4_falls_back_to_fp16_mixed_precision(today):
    j = api.estimate(model="llama-2-7b", method="full", gpu="t4", num_gpus=1, precision="bf16-true",
                     today=today).to_json()
    assert j["job"]["precision"] == "fp16" and any("no bf16 support" in w for w in j["warnings"])
    a100 = api.estimate(model="llama-2-7b", method="full", gpu="a100-80gb", precision="bf16-true", today=today)
    mixed = api.estimate(model="llama-2-7b", method="full", gpu="a100-80gb", precision="bf16", today=today)
    assert a100.job.precision == "bf16-true" and a100.memory.master_weights_gb == 0
    assert a100.memory.peak_gb_per_gpu < mixed.memory.peak_gb_per_gpu


def test_bf16_on_a10_has_no_precision_warning(today):
    j = api.estimate(model="llama-2-7b", gpu="a10", platform="lambda", today=today).to_json()
    assert j["job"]["precision"] == "bf16"
    assert not any("bf16" in w for w in j["warnings"])


def test_70b_full_on_one_a10_does_not_fit_and_says_so(today):
    j = api.estimate(model="llama-2-70b", gpu="a10", platform="lambda", method="full", today=today).to_json()
    assert j["memory"]["fits"] is False
    # 16 B per param (bf16 weights + grads, AdamW, fp32 master) alone is > 1 TB
    assert j["memory"]["peak_gb_per_gpu"] > 16 * 69e9 / 1e9
    [warning] = [w for w in j["warnings"] if w.startswith("does not fit")]
    assert "A10 has 24 GB" in warning
    assert "nothing tried fits" in warning or "would fit with" in warning


def _flags_to_kwargs(flags: str) -> dict:
    """'--method qlora --grad-ckpt --micro-batch 1' -> {'method': 'qlora', 'grad_ckpt': True, 'micro_batch': 1}."""
    parsed, defaults = parse(flags.split(), ESTIMATE_OPTIONS), parse([], ESTIMATE_OPTIONS)
    return {k: v for k, v in parsed.items() if v != defaults[k] or f"--{k.replace('_', '-')}" in flags}


def test_does_not_fit_lists_options_that_really_fit(today):
    base = {"model": "llama-2-7b", "gpu": "a100-80gb", "platform": "lambda", "method": "full", "today": today}
    j = api.estimate(**base).to_json()
    assert j["memory"]["fits"] is False
    [warning] = [w for w in j["warnings"] if w.startswith("does not fit")]
    assert "would fit with: " in warning
    options = warning.split("would fit with: ", 1)[1].split("; ")
    assert "--method lora" in [o.split(" (peak")[0] for o in options]
    for option in options:
        flags, peak = re.fullmatch(r"(.*) \(peak ([\d.]+) GB.*\)", option).groups()
        kwargs = _flags_to_kwargs(flags)
        again = api.estimate(**{**base, **kwargs}).to_json()["memory"]
        assert again["fits"], option
        assert again["peak_gb_per_gpu"] == pytest.approx(float(peak), abs=0.05), option


def test_spot_on_an_offer_without_spot_warns_and_prices_on_demand(catalog, today):
    # Lambda sells no spot: the estimator core prices on-demand and says so
    offer = catalog.find_offer("a10", "lambda")
    assert offer.spot_usd_per_gpu_hour is None
    hw = Hardware(gpu=catalog.gpu("a10"), offer=offer, pricing="spot")
    j = core_estimate(Job(model=catalog.model("llama-2-7b")), hw, catalog=catalog, today=today).to_json()
    assert any(w.startswith("spot unavailable") and "lambda" in w for w in j["warnings"]), j["warnings"]
    assert j["hardware"]["pricing"] == "on-demand"
    assert j["hardware"]["usd_per_gpu_hour"] == offer.on_demand_usd_per_gpu_hour
    assert j["cost_breakdown"]["spot"] is None


def test_api_spot_on_platform_without_spot_warns_and_prices_on_demand(today):
    # Lambda sells no spot: the API prices its on-demand offer and the warning says spot is unavailable
    j = api.estimate(model="llama-2-7b", gpu="a10", platform="lambda", pricing="spot", today=today).to_json()
    assert any(w.startswith("spot unavailable") and "lambda" in w for w in j["warnings"]), j["warnings"]
    assert j["hardware"]["pricing"] == "on-demand"


def test_spot_where_offered_adds_interruption_outcome(today):
    j = api.estimate(model="llama-2-7b", gpu="t4", pricing="spot", today=today).to_json()
    assert j["hardware"]["pricing"] == "spot"
    assert j["cost_breakdown"]["spot"] is not None
    assert not any(w.startswith("spot unavailable") for w in j["warnings"])


def test_a_flagged_spot_price_warns_only_for_spot(today, tmp_path):
    # a catalog row may flag its spot price (spot_anomaly), as Azure's old snapshot at ~12 % of on-demand did
    (tmp_path / "offers.csv").write_text(
        "platform,instance,gpu,gpus_per_instance,region,on_demand_usd_per_gpu_hour,spot_usd_per_gpu_hour,"
        "billing_increment_s,billing_minimum_s,whole_instance,kind,price_includes_host,anomaly,spot_anomaly,"
        "data_date,source\n"
        "azure,Standard_NC4as_T4_v3,T4,1,eastus,0.526,0.062699,3600,3600,false,cloud,true,false,true,"
        f"{today.isoformat()},a user file\n")
    mine = {"catalog_dirs": [tmp_path], "today": today, "model": "llama-2-7b", "gpu": "t4"}
    spot = api.estimate(platform="azure", pricing="spot", **mine).to_json()
    assert spot["hardware"]["pricing"] == "spot"
    assert any("flags the spot price of azure" in w for w in spot["warnings"]), spot["warnings"]
    on_demand = api.estimate(platform="azure", **mine).to_json()
    assert not any("flags" in w for w in on_demand["warnings"])
    # with no platform named, the cheapest spot offer is picked among unflagged ones
    anywhere = api.estimate(pricing="spot", **mine).to_json()
    assert anywhere["hardware"]["platform"] != "azure"


def test_modal_estimates_say_cpu_and_memory_are_billed_on_top(today):
    modal = api.estimate(model="llama-2-7b", gpu="a10", platform="modal", today=today).to_json()
    [warning] = [w for w in modal["warnings"] if "on top of the GPU price" in w]
    # reference README billing table: $0.0000131 per core-second and $0.00000222 per GiB-second
    assert "$0.0472 per core-hour" in warning and "$0.0080 per GiB-hour" in warning
    lambda_ = api.estimate(model="llama-2-7b", gpu="a10", platform="lambda", today=today).to_json()
    assert not any("on top of the GPU price" in w for w in lambda_["warnings"])


def test_stale_price_warning_with_an_old_today(today):
    fresh = api.estimate(model="llama-2-7b", gpu="a10", platform="lambda", today=today).to_json()
    assert not any("days old" in w for w in fresh["warnings"])
    old = api.estimate(model="llama-2-7b", gpu="a10", platform="lambda", today=date(2030, 1, 1)).to_json()
    [warning] = [w for w in old["warnings"] if "days old" in w]
    age = (date(2030, 1, 1) - date(2026, 9, 20)).days  # the Lambda price's data_date
    assert f"from 2026-09-20 ({age} days old)" in warning


def test_stale_threshold_is_180_days(offer_factory):
    offer = offer_factory(data_date="2026-01-01")
    assert stale_price_warning(offer, date(2026, 1, 1) + timedelta(days=180)) is None
    assert "181 days old" in stale_price_warning(offer, date(2026, 1, 1) + timedelta(days=181))
    assert "no known date" in stale_price_warning(offer_factory(data_date="unknown"), date(2026, 1, 1))
