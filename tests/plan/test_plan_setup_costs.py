"""Fixed costs in plans: every launch bills instance start, environment, model download and load on every GPU it
rents (estimate/setup.py), so a minutes-long job stays on one GPU while a long one still spreads out."""

from __future__ import annotations

import pytest
from plan_catalog import offer

from frugaltune.estimate.estimator import estimate
from frugaltune.estimate.records import Hardware, Job
from frugaltune.estimate.setup import setup_time
from frugaltune.plan.search import Filters, compare_job, total_usd

# One A100 per second at $1.50/GPU-h, or a whole 8x V100 node at $0.40/GPU-h ($3.20/h): per GPU-hour of work the
# V100 node is the cheaper machine, but it bills 8 GPUs through every minute of setup.
OFFERS = [offer("one", "a100", "A100-80GB", 1.50), offer("node", "v100x8", "V100-32GB", 0.40, gpus=8, whole=True)]


def _job(shipped, samples: int, tokens: float, epochs: int = 3) -> Job:
    return Job(model=shipped.model("llama-2-7b"), method="lora", dataset_size=samples, tokens_per_sample=tokens,
               epochs=epochs, packing=True, seq_len=512)


def test_a_minutes_long_lora_job_is_planned_on_one_gpu(cat, shipped):
    # the case: 600 short samples (3 epochs of ~100 tokens): minutes of compute
    cmp = compare_job(_job(shipped, 600, 100), cat(OFFERS), Filters(pricings=("on-demand",)))
    best, est = cmp.ranked[0]
    assert best.num_gpus == 1 and best.offer.gpu == "A100-80GB"
    assert est.time.setup_hours > est.time.hours  # setup dominates such a job
    node = next(e for c, e in cmp.ranked if c.num_gpus == 8)
    assert total_usd(node) > total_usd(est)


def test_a_200m_token_job_still_spreads_over_the_cheaper_node(cat, shipped):
    cmp = compare_job(_job(shipped, 400_000, 500), cat(OFFERS), Filters(pricings=("on-demand",)))  # 600M tokens
    best, _est = cmp.ranked[0]
    assert best.num_gpus == 8 and best.offer.gpu == "V100-32GB"


def test_a_200m_token_job_spreads_over_the_cheaper_node_and_over_the_gpus_asked_for(cat, shipped):
    job = _job(shipped, 400_000, 500, epochs=1)  # 200M tokens: about a day of one A100's time
    best, est = compare_job(job, cat(OFFERS), Filters(pricings=("on-demand",))).ranked[0]
    assert best.num_gpus == 8 and best.offer.gpu == "V100-32GB" and est.time.hours > 10 * est.time.setup_hours
    # asked for at least 4 GPUs of one kind, the plan spreads the job over them even where one would be cheaper
    pods = [offer("pod", "a100x8", "A100-80GB", 1.50, gpus=8)]  # billed per GPU used
    one, _ = compare_job(job, cat(pods), Filters(pricings=("on-demand",))).ranked[0]
    spread, _ = compare_job(job, cat(pods), Filters(pricings=("on-demand",), min_gpus=4)).ranked[0]
    assert one.num_gpus == 1 and spread.num_gpus >= 4


def test_setup_hours_hand_computed_for_a_cloud_vm_and_a_serverless_container():
    # Llama 2 7B: 6,738,415,616 params -> a 13.48 GB 16-bit checkpoint
    gb = 6_738_415_616 * 2 / 1e9
    cloud = setup_time(6_738_415_616, "somecloud", "cloud")
    # 5 min start + 4 min environment + 13.48 GB at 0.125 GB/s + 13.48 GB at 2 GB/s (setup_assumptions.csv)
    assert cloud.hours == pytest.approx(5 / 60 + 4 / 60 + gb / 0.125 / 3600 + gb / 2.0 / 3600)
    serverless = setup_time(6_738_415_616, "modal", "serverless")
    assert serverless.hours == pytest.approx(0.75 / 60 + gb / 0.125 / 3600 + gb / 2.0 / 3600)
    owned = setup_time(6_738_415_616, None, "owned")
    assert owned.hours == pytest.approx(gb / 2.0 / 3600)  # cached weights, loaded from disk only


@pytest.mark.parametrize("increment_s, minimum_s", [(1, 0), (3600, 3600), (60, 60)])
def test_setup_is_billed_with_the_run_under_the_platforms_rules(shipped, increment_s, minimum_s):
    job = _job(shipped, 600, 100)
    o = offer("p", "a100", "A100-80GB", 2.0, increment_s=increment_s, minimum_s=minimum_s)
    est = estimate(job, Hardware(gpu=shipped.gpu("A100-80GB"), offer=o))
    wall_s = (est.time.hours + est.time.setup_hours) * 3600
    billed_s = max(-(-wall_s // increment_s) * increment_s, minimum_s)  # rounded up, at least the minimum
    assert est.time.billed_hours == pytest.approx(billed_s / 3600)
    assert est.cost_breakdown.compute_cost == pytest.approx(billed_s / 3600 * 2.0, abs=1e-4)
    if increment_s == 1:  # per second: the setup's share of the bill is exactly its time
        assert est.cost_breakdown.setup_cost == pytest.approx(est.time.setup_hours * 2.0, abs=1e-4)


def test_every_spot_restart_pays_the_setup_again(shipped):
    job = _job(shipped, 400_000, 500)
    o = offer("p", "a100", "A100-80GB", 2.0, 0.8)
    est = estimate(job, Hardware(gpu=shipped.gpu("A100-80GB"), offer=o, pricing="spot"))
    spot = est.cost_breakdown.spot
    assert spot["restart_minutes"] == pytest.approx(est.time.setup_hours * 60 + spot["checkpoint_write_s"] / 60)
    assert spot["expected_restart_hours"] == pytest.approx(spot["expected_interruptions"] * spot["restart_minutes"] / 60)
