"""The pruned search (`compare_job(..., top=K)`, plan/prune.py) against the exhaustive one on the shipped catalog:
the same first K distinct options, in the same order, with the same numbers, the same cheapest; and the bound it
prunes with is below every candidate's dollars."""

from __future__ import annotations

import pytest

from frugaltune.estimate.records import Job
from frugaltune.plan.afford import _offer_key
from frugaltune.plan.prune import cost_floor
from frugaltune.plan.search import Filters, compare_job, hardware_key, total_usd


def _jobs(shipped) -> list[tuple[str, Job]]:
    m = shipped.model
    return [
        ("lora 7B", Job(model=m("llama-2-7b"), method="lora", grad_ckpt=True)),
        ("qlora 8B long", Job(model=m("llama-3.1-8b"), method="qlora", seq_len=2048, dataset_size=50_000)),
        ("full 3B", Job(model=m("qwen2.5-3b"), method="full", dataset_size=20_000, epochs=1)),
        ("full 14B", Job(model=m("qwen2.5-14b"), method="full", dataset_size=5_000, tokens_per_sample=800)),
        ("lora 0.5B tiny", Job(model=m("qwen2.5-0.5b"), method="lora", dataset_size=200, epochs=1)),
    ]


def _first_distinct(ranked: list, key, k: int) -> list:
    seen, out = set(), []
    for cand, est in ranked:
        if key(cand) not in seen:
            seen.add(key(cand))
            out.append((cand, est))
    return out[:k]


def _same(pruned: list, full: list) -> None:
    assert [c for c, _e in pruned] == [c for c, _e in full]
    assert [e.to_json() for _c, e in pruned] == [e.to_json() for _c, e in full]


FILTERS = [Filters(), Filters(pricings=("spot",)), Filters(max_gpus=2, budget_usd=40.0),
           Filters(max_hours=3.0, pricings=("on-demand",))]


@pytest.mark.parametrize("flt", FILTERS, ids=["all", "spot", "budget", "deadline"])
def test_top_k_distinct_options_match_the_exhaustive_search(shipped, flt):
    pruned_any = False
    for label, job in _jobs(shipped):
        full = compare_job(job, shipped, flt)
        for k, key in ((1, None), (3, hardware_key), (4, _offer_key)):
            pruned = compare_job(job, shipped, flt, top=k, distinct=key)
            _same(_first_distinct(pruned.ranked, key or id, k), _first_distinct(full.ranked, key or id, k))
            if full.ranked:
                assert pruned.ranked[pruned.cheapest][0] == full.ranked[full.cheapest][0], label
            else:
                assert not pruned.ranked, label
            pruned_any |= len(pruned.ranked) < len(full.ranked)
    assert pruned_any  # the bound does prune on the shipped catalog


def test_cheapest_and_near_ties_are_kept(shipped):
    # top=1 still ranks every option about as cheap as the cheapest (search.as_cheap), simplest first
    job = Job(model=shipped.model("llama-2-7b"), method="lora")
    full, pruned = compare_job(job, shipped), compare_job(job, shipped, top=1)
    near = [c for c, e in full.ranked if total_usd(e) <= total_usd(full.ranked[full.cheapest][1]) * 1.05 + 0.01]
    assert [c for c, _e in pruned.ranked[:len(near)]] == near


def test_the_bound_is_below_every_candidates_dollars(shipped):
    # cost_floor <= total dollars for every estimated candidate, spot (interruptions) and whole-node offers included;
    # time.hours is the fault-free hours the search probes the candidate's (GPU, count) with
    checked = 0
    for _label, job in _jobs(shipped):
        for cand, est in compare_job(job, shipped).ranked:
            assert cost_floor(cand, est.time.hours) <= total_usd(est), (cand, total_usd(est))
            checked += 1
    assert checked > 100
