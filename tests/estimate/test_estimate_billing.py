"""Billing: rounding to the platform's increment and minimum, whole-instance rental, and compute dollars =
billed GPU-hours x price. Offers are made up inline (one comment per case) except the end-to-end Lambda case."""

from __future__ import annotations

import pytest

from frugaltune import api
from frugaltune.estimate.cost import billed_gpus, billed_hours, billed_seconds, compute_usd, storage_usd


@pytest.mark.parametrize("seconds, increment_s, minimum_s, billed", [
    (61.4, 1, 60, 62),        # per second (AWS-like), rounds up to the next whole second
    (10, 1, 60, 60),          # ... but at least the 60 s minimum
    (0.3, 1, 1, 1),           # per second, 1 s minimum (Modal-like)
    (61, 60, 60, 120),        # Lambda bills whole minutes: 61 s -> 2 minutes
    (60, 60, 60, 60),         # exactly one minute stays one minute
    (60 + 1e-12, 60, 60, 60),  # float noise from hours x 3600 does not buy another minute
    (1, 60, 60, 60),          # one minute minimum
    (119.9, 60, 60, 120),
    (1, 3600, 3600, 3600),    # hourly (Azure, CoreWeave list rates): a second costs an hour
    (3601, 3600, 3600, 7200),
    (5, 1, 0, 5),             # no minimum
])
def test_billed_seconds(seconds, increment_s, minimum_s, billed):
    assert billed_seconds(seconds, increment_s, minimum_s) == billed


def test_lambda_per_minute_billed_hours(offer_factory):
    # Lambda 1x A10: $1.29/GPU-h, per-minute, 60 s minimum; a 61 s job is billed 2 minutes
    offer = offer_factory(platform="lambda", on_demand_usd_per_gpu_hour=1.29, billing_increment_s=60,
                          billing_minimum_s=60)
    bill = billed_hours(61 / 3600, offer, 1)
    assert bill.billed_hours == pytest.approx(120 / 3600)
    assert bill.billed_gpu_hours == pytest.approx(120 / 3600)
    assert compute_usd(bill, 1.29) == pytest.approx(120 / 3600 * 1.29)


def test_whole_instance_8_gpu_node_bought_whole_for_3_gpus(offer_factory):
    # an 8-GPU node rented whole at $1.99/GPU-h, per-minute: 3 GPUs for 1.5 h pay for 8 GPUs
    offer = offer_factory(gpus_per_instance=8, whole_instance=True, on_demand_usd_per_gpu_hour=1.99,
                          billing_increment_s=60, billing_minimum_s=60)
    bill = billed_hours(1.5, offer, 3)
    assert (bill.instances, bill.billed_gpus) == (1, 8)
    assert bill.billed_hours == pytest.approx(1.5)
    assert bill.billed_gpu_hours == pytest.approx(1.5 * 8)
    assert compute_usd(bill, 1.99) == pytest.approx(12 * 1.99)  # $23.88, not 3 x 1.5 x 1.99 = $8.955


def test_whole_instance_needs_a_second_node_for_9_gpus(offer_factory):
    offer = offer_factory(gpus_per_instance=8, whole_instance=True)
    assert billed_hours(1.0, offer, 9).instances == 2
    assert billed_gpus(9, offer) == 16


def test_divisible_instance_bills_only_gpus_used(offer_factory):
    # a 4-GPU offer that can be rented per GPU (marketplace-like): 3 GPUs pay for 3
    offer = offer_factory(gpus_per_instance=4, whole_instance=False)
    bill = billed_hours(2.0, offer, 3)
    assert (bill.billed_gpus, bill.billed_gpu_hours) == (3, 6.0)


def test_hourly_minimum_on_a_short_job(offer_factory):
    # hourly billing with a 1 h minimum: a 10-minute job on 2 GPUs at $3/GPU-h costs 2 GPU-hours
    offer = offer_factory(billing_increment_s=3600, billing_minimum_s=3600, on_demand_usd_per_gpu_hour=3.0,
                          gpus_per_instance=2)
    bill = billed_hours(10 / 60, offer, 2)
    assert bill.billed_hours == 1.0
    assert compute_usd(bill, 3.0) == pytest.approx(2 * 1.0 * 3.0)


def test_storage_usd_is_gb_months():
    # 100 GB at $0.10/GB-month for 73 h = 100 x 0.10 x 73/730 = $1.00
    assert storage_usd(100e9, 73.0, 0.10) == pytest.approx(1.0)


def test_estimate_end_to_end_lambda_8x_node(today):
    # Lambda has A100-40GB only as 1x or a whole 8x node; 3 GPUs need the 8x node, billed per minute at $1.99/GPU-h
    j = api.estimate(model="llama-2-7b", gpu="a100-40gb", platform="lambda", num_gpus=3, today=today).to_json()
    hw, t, c = j["hardware"], j["time"], j["cost_breakdown"]
    assert hw["instance"] == "gpu_8x_a100"
    minutes = t["billed_hours"] * 60
    assert minutes == pytest.approx(round(minutes)) and minutes >= t["hours"] * 60  # whole minutes, rounded up
    assert t["billed_hours"] - (t["hours"] + t["setup_hours"]) < 1 / 60  # setup is billed with the run
    assert c["compute_cost"] == pytest.approx(round(t["billed_hours"] * 8 * 1.99, 4))
    assert c["total_cost"] == pytest.approx(c["compute_cost"] + c["storage_cost"], abs=2e-4)  # each rounded to 1e-4
    assert c["usd_per_epoch"] == pytest.approx(c["total_cost"] / j["job"]["epochs"], abs=1e-4)
