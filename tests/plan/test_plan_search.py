"""compare: enumerate -> filter -> score -> rank over tiny inline catalogs (one comment per case)."""

from __future__ import annotations

import math

import pytest
from plan_catalog import offer

from frugaltune.errors import InfeasiblePlanError
from frugaltune.estimate.records import Job
from frugaltune.plan.advice import require_options
from frugaltune.plan.search import Filters, compare_job, gpu_counts, total_usd, wall_hours


@pytest.fixture
def lora7b(shipped) -> Job:
    return Job(model=shipped.model("llama-2-7b"), method="lora", dataset_size=2000, tokens_per_sample=500, epochs=1)


def _key(c):
    return (c.offer.platform, c.offer.gpu, c.num_gpus, c.pricing)


def test_ranks_by_cost_and_by_time(cat, lora7b):
    # three on-demand GPUs of rising price and speed: cost order and time order are each respected
    catalog = cat([offer("p1", "a10", "A10", 0.75), offer("p2", "a100", "A100-80GB", 1.50),
                   offer("p3", "h100", "H100-SXM", 3.00)])
    by_cost = compare_job(lora7b, catalog, Filters(pricings=("on-demand",)))
    costs = [total_usd(e) for _c, e in by_cost.ranked]
    assert costs == sorted(costs) and len(costs) == 3 and by_cost.cheapest == 0
    by_time = compare_job(lora7b, catalog, Filters(pricings=("on-demand",)), sort="time")
    hours = [wall_hours(e) for _c, e in by_time.ranked]
    assert hours == sorted(hours) and by_time.fastest == 0
    assert by_time.ranked[0][0].offer.gpu == "H100-SXM"  # the fastest GPU is first by time


def test_rejection_reasons(cat, shipped):
    # full fine-tuning of a 7B model: the T4 cannot hold it, the spot-less offer has no spot row, the flagged
    # offer and the GPU-only (host billed on top) price are dropped, the H100 node is kept
    job = Job(model=shipped.model("llama-2-7b"), method="full", dataset_size=1000, epochs=1)
    catalog = cat([offer("p1", "t4", "T4", 0.3, 0.1), offer("p2", "h100x8", "H100-SXM", 3.0, None, gpus=8, whole=True),
                   offer("p3", "odd", "A100-80GB", 0.01, anomaly=True),
                   offer("p4", "gpu-sku", "H200", 1.0, gpus=8, whole=True, host=False)])
    cmp = compare_job(job, catalog, Filters(pricings=("on-demand", "spot")))
    reasons = {(_key(r.candidate)): r.reason for r in cmp.rejected}
    assert reasons[("p1", "T4", 1, "on-demand")].startswith("does not fit")
    assert reasons[("p2", "H100-SXM", 8, "spot")] == "no spot price for this offer"
    assert "flagged" in reasons[("p3", "A100-80GB", 1, "on-demand")]
    assert "host VM is billed on top" in reasons[("p4", "H200", 8, "on-demand")]
    assert [_key(c) for c, _e in cmp.ranked] == [("p2", "H100-SXM", 8, "on-demand")]


def test_a_flagged_spot_price_is_rejected_for_spot_but_its_on_demand_price_is_kept(cat, lora7b):
    # p1's spot price is flagged (like Azure's old snapshot): cheapest on paper, but spot ranking must not pick it
    catalog = cat([offer("p1", "a10", "A10", 0.75, 0.08, spot_anomaly=True), offer("p2", "a10", "A10", 0.75, 0.5)])
    cmp = compare_job(lora7b, catalog, Filters(pricings=("on-demand", "spot")))
    reasons = {_key(r.candidate): r.reason for r in cmp.rejected}
    assert "flagged" in reasons[("p1", "A10", 1, "spot")]
    ranked = {_key(c) for c, _e in cmp.ranked}
    assert ("p1", "A10", 1, "on-demand") in ranked and ("p2", "A10", 1, "spot") in ranked
    kept = compare_job(lora7b, catalog, Filters(pricings=("spot",), include_anomalies=True))
    assert ("p1", "A10", 1, "spot") in {_key(c) for c, _e in kept.ranked}


def test_budget_deadline_and_bf16_reasons(cat, lora7b):
    # a $0.01 budget rejects the A10, a 0.01 h deadline rejects the L4; --strict-precision rejects the T4 (no bf16)
    catalog = cat([offer("p1", "a10", "A10", 0.75), offer("p2", "l4", "L4", 0.5), offer("p3", "t4", "T4", 0.3)])
    on_demand = ("on-demand",)
    over = compare_job(lora7b, catalog, Filters(gpus=("A10",), budget_usd=0.01, pricings=on_demand))
    assert over.rejected[0].reason.startswith("over budget: $")
    late = compare_job(lora7b, catalog, Filters(gpus=("L4",), max_hours=0.01, pricings=on_demand))
    assert late.rejected[0].reason.startswith("over deadline:")
    strict = compare_job(lora7b, catalog, Filters(gpus=("T4",), pricings=on_demand), strict_precision=True)
    assert strict.rejected[0].reason.startswith("no bf16 on T4")
    # without --strict-precision the T4 is estimated in fp16 instead (QLoRA: a LoRA peak of 15.3 GB has an 80 % band
    # past its 16 GB)
    loose = compare_job(lora7b.with_(method="qlora"), catalog, Filters(gpus=("T4",), pricings=on_demand))
    assert loose.ranked[0][1].job.precision == "fp16"


def test_minute_vs_hour_billing(cat, lora7b):
    # same A10 at the same price: Lambda bills whole minutes, the other provider whole hours
    catalog = cat([offer("lambda", "1x-a10", "A10", 0.75, increment_s=60, minimum_s=60),
                   offer("hourly", "a10", "A10", 0.75, increment_s=3600, minimum_s=3600)])
    cmp = compare_job(lora7b, catalog, Filters(pricings=("on-demand",)))
    by_platform = {c.offer.platform: e for c, e in cmp.ranked}
    hours = by_platform["lambda"].time.hours + by_platform["lambda"].time.setup_hours  # setup is billed too
    assert by_platform["lambda"].time.billed_hours == pytest.approx(math.ceil(hours * 60) / 60)
    assert by_platform["lambda"].cost_breakdown.compute_cost == pytest.approx(math.ceil(hours * 60) / 60 * 0.75, abs=1e-3)
    assert by_platform["hourly"].cost_breakdown.compute_cost == pytest.approx(math.ceil(hours) * 0.75, abs=1e-3)
    assert cmp.ranked[0][0].offer.platform == "lambda"  # minute rounding wins at equal price


def test_whole_node_is_bought_whole(cat, lora7b):
    # an 8-GPU node rented whole gives one 8-GPU candidate billed for 8 GPUs; a per-GPU 8-slot offer gives 1..8
    node = offer("p1", "8x-a100", "A100-80GB", 2.0, gpus=8, whole=True)
    pods = offer("p2", "pod", "A100-80GB", 2.0, gpus=8, whole=False)
    assert gpu_counts(node, 1, 8) == [8] and gpu_counts(pods, 1, 8) == list(range(1, 9))
    assert gpu_counts(node, 1, 4) == []  # --max-gpus 4 cannot buy an 8-GPU node
    cmp = compare_job(lora7b, cat([node]), Filters(pricings=("on-demand",)))
    (cand, est), = cmp.ranked
    assert cand.num_gpus == 8
    assert est.cost_breakdown.compute_cost == pytest.approx(est.time.billed_hours * 8 * 2.0, abs=1e-3)


def test_pareto_front_on_a_comparison(cat, lora7b):
    # every front row is undominated; every other row is beaten on both cost and time by some row
    catalog = cat([offer("p1", "a10", "A10", 0.75), offer("p2", "l4", "L4", 0.9), offer("p3", "a100", "A100-80GB", 1.5),
                   offer("p4", "h100", "H100-SXM", 3.0), offer("p5", "h100b", "H100-SXM", 4.0)])
    cmp = compare_job(lora7b, catalog, Filters(pricings=("on-demand",)))
    pts = [(total_usd(e), wall_hours(e)) for _c, e in cmp.ranked]

    def dominated(i):
        return any(u <= pts[i][0] and h <= pts[i][1] and (u, h) != pts[i] for u, h in pts)

    assert cmp.pareto == [not dominated(i) for i in range(len(pts))]
    assert cmp.pareto[cmp.cheapest] and cmp.pareto[cmp.fastest]
    assert not cmp.pareto[[c.offer.platform for c, _ in cmp.ranked].index("p5")]  # same GPU, dearer: dominated


def test_spot_ranked_by_expected_cost_not_list_price(cat, shipped, tmp_path):
    # Full fine-tuning (a ~94 GB checkpoint): the marketplace spot is 5 % cheaper per hour but, interrupted every
    # 2 h, it loses far more to rework and restarts than the cloud spot interrupted every 48 h.
    (tmp_path / "spot_assumptions.csv").write_text(
        "parameter,scope,value\ninterruptions_per_hour,market,0.5\ninterruptions_per_hour,cloud1,0.0208\n")
    from frugaltune.estimate.spot import spot_overrides

    job = Job(model=shipped.model("llama-2-7b"), method="full", dataset_size=400_000, epochs=1, zero_stage=3)
    catalog = cat([offer("market", "8x", "H100-SXM", 3.0, 1.90, gpus=8, whole=True, kind="marketplace"),
                   offer("cloud1", "8x", "H100-SXM", 3.0, 2.00, gpus=8, whole=True)])
    with spot_overrides(extra_dirs=(str(tmp_path),)):
        cmp = compare_job(job, catalog, Filters(pricings=("spot",)))
    first, second = (e for _c, e in cmp.ranked)
    assert cmp.ranked[0][0].offer.platform == "cloud1"
    assert first.hardware.usd_per_gpu_hour > second.hardware.usd_per_gpu_hour  # dearer list price ranks first
    assert second.cost_breakdown.spot["expected_interruptions"] > first.cost_breakdown.spot["expected_interruptions"]


def test_json_shape(cat, lora7b):
    # the contract: candidates (estimate JSON + rank + pareto), rejected (gpu, num_gpus, platform, pricing,
    # reason), cheapest, fastest
    catalog = cat([offer("p1", "a10", "A10", 0.75), offer("p2", "a100", "A100-80GB", 1.5, 0.6)])
    out = compare_job(lora7b, catalog).to_json()
    assert {"candidates", "rejected", "cheapest", "fastest"} <= set(out)
    cand = out["candidates"][0]
    assert {"model", "job", "hardware", "memory", "throughput", "time", "cost_breakdown", "warnings"} <= set(cand)
    assert cand["rank"] == 1 and isinstance(cand["pareto"], bool)
    assert set(out["rejected"][0]) >= {"gpu", "num_gpus", "platform", "pricing", "reason"}
    assert out["candidates"][out["cheapest"]]["cost_breakdown"]["total_cost"] == \
        min(c["cost_breakdown"]["total_cost"] for c in out["candidates"])


def test_impossible_job_says_what_would_work(cat, shipped):
    # 405B full fine-tuning on one T4 fits nowhere; the error names a lighter method on a bigger node instead
    job = Job(model=shipped.model("llama-3.1-405b"), method="full", dataset_size=1000, epochs=1)
    catalog = cat([offer("p1", "t4", "T4", 0.3), offer("p2", "8x-h200", "H200", 4.0, gpus=8, whole=True)])
    flt = Filters(gpus=("T4",), max_gpus=1)
    with pytest.raises(InfeasiblePlanError) as err:
        require_options(compare_job(job, catalog, flt), catalog, flt)
    assert "does not fit: 1" in err.value.message  # the on-demand T4 (its spot row has no price)
    # a lighter method on the bigger node (with ZeRO-3's gathered layers, 16-bit LoRA's band no longer fits 8 H200s:
    # QLoRA's 4-bit base, sharded by FSDP, does)
    assert "--method qlora" in err.value.fix and "H200" in err.value.fix and "zero 3" in err.value.fix


def test_empty_filter_result_says_where_the_gpu_is(cat, lora7b):
    # no H100 on p1: the message says where H100s are offered
    catalog = cat([offer("p1", "a10", "A10", 0.75), offer("p2", "h100", "H100-SXM", 3.0)])
    flt = Filters(gpus=("H100-SXM",), platforms=("p1",))
    with pytest.raises(InfeasiblePlanError, match="no offer") as err:
        require_options(compare_job(lora7b, catalog, flt), catalog, flt)
    assert "H100-SXM is offered on p2" in err.value.fix and "p1 offers A10" in err.value.fix


def test_budget_nothing_meets_names_the_cheapest(cat, lora7b):
    # a $0.001 budget: the error gives the cheapest option without the budget
    catalog = cat([offer("p1", "a10", "A10", 0.75), offer("p2", "l4", "L4", 0.5)])
    flt = Filters(budget_usd=0.001, pricings=("on-demand",))
    with pytest.raises(InfeasiblePlanError, match="over budget") as err:
        require_options(compare_job(lora7b, catalog, flt), catalog, flt)
    assert err.value.fix.startswith("what would work instead: without the budget/deadline: 1x")
