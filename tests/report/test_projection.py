"""The probe's arithmetic: when speed has settled, how many evaluations and saves a run does, what it costs."""

import math

import pytest

from frugaltune.report import projection as P


def test_settling_leaves_warmup_out():
    costs = [5.0, 2.5, 1.02, 1.0, 0.98, 1.01, 0.99, 1.0]
    assert P.warmup_steps(costs, window=4, cv_max=0.05) == 2
    assert P.settled(costs, window=4, cv_max=0.05)
    assert not P.settled([1.0, 2.0, 1.0, 2.0, 1.0, 2.0], window=4, cv_max=0.05)
    assert P.warmup_steps([1.0, 2.0, 1.0, 2.0, 1.0, 2.0], window=4, cv_max=0.05) is None
    # never settled: the first step is still left out, and never more than half of them
    assert P.measured_warmup([1.0, 2.0, 1.0, 2.0, 1.0, 2.0], window=4, cv_max=0.05) == 1
    assert P.measured_warmup([9.0, 8.0, 7.0, 1.0, 1.0, 1.0, 1.0, 1.0], window=2, cv_max=0.01) == 3
    assert P.coefficient_of_variation([2.0, 2.0]) == 0.0 and math.isinf(P.coefficient_of_variation([1.0]))


@pytest.mark.parametrize("total,every,before,expected", [
    (150, 50, True, 4),  # before, at 50 and 100, at the end (150 is the end, not a periodic one)
    (151, 50, True, 5),  # 50, 100, 150 are periodic, then the end
    (150, None, False, 1),  # only at the end
])
def test_evaluations_match_the_recipe(total, every, before, expected):
    assert P.evaluations(total, every, before, has_eval=True) == expected
    assert P.evaluations(total, every, before, has_eval=False) == 0


def test_checkpoint_saves():
    assert P.checkpoint_saves(150, 10, None, 0.1) == 15  # the last step is a multiple: no extra final save
    assert P.checkpoint_saves(155, 10, None, 0.1) == 16  # 15 + the final one
    # 100 steps of 60 s, a save every 30 minutes and none by steps: 3 timed + the final
    assert P.checkpoint_saves(100, None, 30, 60.0) == 4
    # every 50 steps (50 minutes apart) and every 15 minutes: 2 by steps + 3 timed in each of 2 intervals + final
    assert P.checkpoint_saves(100, 50, 15, 60.0) == 2 + 6 + 1


def test_project_adds_the_parts_and_bills_them():
    out = P.project(seconds_per_padded_token=0.001, padded_tokens=1_800_000, evaluations=2, eval_seconds=90,
                    saves=3, save_seconds=20, final_save_seconds=10, setup_seconds=125, usd_per_hour=2.0,
                    increment_s=60, minimum_s=60)
    assert out["train_hours"] == pytest.approx(0.5) and out["eval_hours"] == pytest.approx(0.05)
    assert out["hours"] == pytest.approx((1800 + 180 + 70 + 125) / 3600)  # 2175 s
    assert out["billed_hours"] == pytest.approx(2220 / 3600)  # rounded up to whole minutes: 37 minutes
    assert out["cost_usd"] == pytest.approx(out["billed_hours"] * 2.0)
    unpriced = P.project(seconds_per_padded_token=0.001, padded_tokens=1000, evaluations=0, eval_seconds=0, saves=0,
                         save_seconds=0, final_save_seconds=0, setup_seconds=0)
    assert unpriced["cost_usd"] is None and unpriced["billed_hours"] == unpriced["hours"]


def test_ratios():
    r = P.ratios({"a": (2.0, 4.0), "b": (None, 1.0), "c": (1.0, None)})
    assert r["a"]["ratio"] == 0.5 and r["b"]["ratio"] is None and r["c"]["ratio"] is None


def test_probe_without_a_step_count_stops_once_settled():
    from types import SimpleNamespace

    from frugaltune.train import probe

    times = iter([0.9, 0.5] + [0.1] * 200)  # warm-up, then a steady 0.1 s per step
    plan = SimpleNamespace(indices=lambda g: [0, 1])
    recipe = SimpleNamespace(total_steps=500, plan=plan, train_set=[{"input_ids": [1] * 8}] * 2,
                             cfg=SimpleNamespace(training=SimpleNamespace(grad_accum=1)),
                             model=SimpleNamespace(train=lambda: None), run_step=lambda: (16, next(times)))
    costs, tokens, seconds, ends = probe._time_steps(recipe, None, max_seconds=60)
    warm = P.warmup_steps(costs)
    assert warm == 2 and len(costs) == warm + probe.MIN_MEASURED_STEPS  # stopped as soon as it had enough
    assert len(ends) == len(costs) + 1 and tokens == [16] * len(costs)
    fixed = probe._time_steps(recipe, 7, max_seconds=60)[0]
    assert len(fixed) == 7  # --steps N runs exactly N (never past the run's own length)
