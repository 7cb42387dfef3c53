"""Spot done right: Young-Daly interval, analytic expectation vs seeded Monte Carlo, assumptions and overrides."""

from __future__ import annotations

import json
import math

import pytest

from frugaltune.errors import CatalogError
from frugaltune.estimate import spot
from frugaltune.estimate.spot import (
    analytic_expectation,
    expected_lost_hours,
    load_spot_assumptions,
    lookup_assumption,
    monte_carlo_hours,
    spot_outcome,
    spot_overrides,
    young_daly_interval_hours,
)

GBPS = 0.131  # the shipped default checkpoint bandwidth row (GB/s)


def test_young_daly_interval_by_hand():
    # C = 60 s, MTTI = 24 h: tau = sqrt(2 * (60/3600) * 24) = sqrt(0.8) = 0.894427 h = 53.666 min
    assert young_daly_interval_hours(60 / 3600, 24.0) == pytest.approx(0.894427, rel=1e-6)
    # nothing interrupts: never checkpoint for spot's sake
    assert math.isinf(young_daly_interval_hours(60 / 3600, math.inf))


def test_spot_outcome_uses_young_daly_with_the_bandwidth_row():
    # a checkpoint of 60 s at the default bandwidth, rate 1/24 per hour -> tau = 53.666 min (hand value above)
    out = spot_outcome(work_hours=10, usd_per_hour=1.0, checkpoint_bytes=60 * GBPS * 1e9, platform="aws",
                       kind="cloud", interruptions_per_hour=1 / 24, n_trials=0)
    assert out["checkpoint_write_s"] == pytest.approx(60.0)
    assert out["checkpoint_interval_min"] == pytest.approx(53.666, rel=1e-4)
    assert out["mtti_hours"] == pytest.approx(24.0)


def test_lost_work_is_half_a_cycle_for_rare_interruptions():
    # E[X mod c] -> c/2 as rate*c -> 0; exact form 1/r - c/(e^{rc}-1): r=0.01, c=1 -> 0.499167
    assert expected_lost_hours(1e-9, 1.0) == pytest.approx(0.5)
    assert expected_lost_hours(0.01, 1.0) == pytest.approx(100 - 1 / math.expm1(0.01), rel=1e-9)
    assert expected_lost_hours(0.01, 1.0) == pytest.approx(0.5 - 0.01 / 12, rel=1e-4)


def test_analytic_expectation_by_hand():
    # W=10 h, tau=1 h, C=0.1 h, rate 0.05/h, restart 0.2 h:
    # F = 10 * 1.1 = 11; lost = 1/0.05 - 1.1/(e^{0.055}-1); K = 0.05*11/(1-0.05*lost); hours = F + K*(lost+0.2)
    lost = 20 - 1.1 / math.expm1(0.055)
    k = 0.55 / (1 - 0.05 * lost)
    exp = analytic_expectation(work_hours=10, rate_per_hour=0.05, interval_hours=1.0, checkpoint_hours=0.1,
                               restart_hours=0.2)
    assert exp["fault_free_hours"] == pytest.approx(11.0)
    assert exp["expected_interruptions"] == pytest.approx(k)
    assert exp["expected_hours"] == pytest.approx(11 + k * (lost + 0.2))


def test_monte_carlo_agrees_with_analytic_expectation():
    # A long job with many interruptions (W=200 h, MTTI 6 h): at seed 0 with 4000 trials the MC mean is within 1 %
    # of the analytic expectation and the P50 within 3 % (the distribution is nearly symmetric at ~35 events).
    proc = {"work_hours": 200.0, "rate_per_hour": 1 / 6, "interval_hours": 0.5, "checkpoint_hours": 0.02,
            "restart_hours": 0.25}
    hours = monte_carlo_hours(seed=0, n_trials=4000, **proc)
    exp = analytic_expectation(**proc)["expected_hours"]
    assert sum(hours) / len(hours) == pytest.approx(exp, rel=0.01)
    assert spot.quantile(hours, 0.5) == pytest.approx(exp, rel=0.03)
    assert spot.quantile(hours, 0.9) > spot.quantile(hours, 0.5) >= proc["work_hours"]


def test_spot_outcome_p50_close_to_expectation_and_seeded():
    kw = {"work_hours": 50.0, "usd_per_hour": 2.0, "checkpoint_bytes": 20e9, "platform": "vast",
          "kind": "marketplace", "n_trials": 2000}
    a, b = spot_outcome(seed=7, **kw), spot_outcome(seed=7, **kw)
    assert a == b  # same seed, same answer
    assert spot_outcome(seed=8, **kw)["p90_hours"] != a["p90_hours"]
    assert a["p50_hours"] == pytest.approx(a["expected_hours"], rel=0.05)
    assert a["p50_cost_usd"] == pytest.approx(math.ceil(a["p50_hours"] * 3600) / 3600 * 2.0)  # per-second billing
    json.dumps(a, allow_nan=False)  # JSON-serialisable, no inf/nan


def test_no_interruptions_costs_exactly_the_work():
    out = spot_outcome(work_hours=3.0, usd_per_hour=1.5, checkpoint_bytes=1e9, platform="aws", kind="cloud",
                       interruptions_per_hour=0.0)
    assert out["expected_hours"] == pytest.approx(3.0)
    assert out["expected_cost_usd"] == pytest.approx(4.5)
    assert out["checkpoint_interval_min"] is None and out["mtti_hours"] is None
    assert out["p90_hours"] == pytest.approx(3.0)


def test_checkpoints_too_slow_are_infeasible():
    # a 1 h checkpoint with an interruption every 20 minutes: each (tau + C) cycle needs e^{3 * 1.82} ~ 230 tries,
    # so interruptions far more than double the time: flagged infeasible, expectation still given, MC skipped
    out = spot_outcome(work_hours=5, usd_per_hour=1, checkpoint_bytes=3600 * GBPS * 1e9, platform="aws",
                       kind="cloud", interruptions_per_hour=3.0)
    assert out["feasible"] is False and "checkpoints too slow" in out["reason"]
    assert out["expected_hours"] > 100 * out["fault_free_hours"] and out["p50_hours"] is None


def test_assumption_lookup_order_platform_then_kind_then_default():
    table = load_spot_assumptions()
    assert lookup_assumption(table, "interruptions_per_hour", "vast", "marketplace").scope == "vast"
    assert lookup_assumption(table, "interruptions_per_hour", "newcloud", "marketplace").scope == "marketplace"
    assert lookup_assumption(table, "interruptions_per_hour", "newcloud", "cloud").scope == "default"
    # every shipped rate is labelled as an assumption with a basis
    rates = [r for (p, _s), r in table.items() if p == "interruptions_per_hour"]
    assert rates and all(r.status == "assumption" and r.basis for r in rates)


def test_user_file_and_context_override(tmp_path):
    (tmp_path / "spot_assumptions.csv").write_text(
        "parameter,scope,value,unit,status,basis,source,data_date\n"
        "interruptions_per_hour,aws,0.5,1/h,user,my logs,me,2026-10-01\n")
    out = spot_outcome(work_hours=1, usd_per_hour=1, checkpoint_bytes=1e8, platform="aws", kind="cloud",
                       n_trials=0, extra_dirs=(str(tmp_path),))
    assert out["rate"] == 0.5 and out["assumptions"][0]["basis"] == "my logs"
    with spot_overrides(interruptions_per_hour=0.25, n_trials=0):
        inner = spot_outcome(work_hours=1, usd_per_hour=1, checkpoint_bytes=1e8, platform="aws", kind="cloud")
    assert inner["rate"] == 0.25 and inner["p50_hours"] is None


def test_bad_inputs():
    with pytest.raises(ValueError):
        spot_outcome(work_hours=1, usd_per_hour=1, checkpoint_bytes=1, platform="aws", kind="cloud",
                     interruptions_per_hour=-1)


def test_malformed_user_file(tmp_path):
    (tmp_path / "spot_assumptions.csv").write_text("parameter,scope,value\ninterruptions_per_hour,aws,often\n")
    with pytest.raises(CatalogError, match="not a number"):
        load_spot_assumptions((str(tmp_path),))


def test_percentile_dollars_follow_the_billing_increment():
    # 2.5 h with no interruptions on an hourly-billed offer at $2/h: P50 and P90 bill 3 h = $6
    out = spot_outcome(work_hours=2.5, usd_per_hour=2.0, checkpoint_bytes=1e8, platform="aws", kind="cloud",
                       interruptions_per_hour=0.0, billing_increment_s=3600, billing_minimum_s=3600)
    assert out["p50_hours"] == pytest.approx(2.5)
    assert out["p50_cost_usd"] == pytest.approx(6.0) and out["p90_cost_usd"] == pytest.approx(6.0)
