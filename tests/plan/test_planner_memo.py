"""The planners' shortcuts change no answer: afford, compare, plan and recommend print the same JSON with every memo
of the estimator disabled as with them on; a memory probe, a price-only estimate and a comparison that keeps no
estimate for its rejections agree with the whole estimate. (bench/planner_equality.py checks a larger grid between
two versions of the code.)"""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path

import pytest

from frugaltune.estimate import estimator as E
from frugaltune.estimate import measured, probe
from frugaltune.estimate.build import build_hardware, build_job, get_catalog
from frugaltune.plan.search import Filters, compare_job, wall_hours

BENCH = Path(__file__).resolve().parents[2] / "bench" / "planner_equality.py"
MEMOS = ("_PHYSICS", "_CORES", "_GPU_FREE", "_STEPS")
TODAY = date(2026, 12, 2)


def _bench():
    spec = importlib.util.spec_from_file_location("planner_equality", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Forgetful(dict):
    """A memo that never remembers: every lookup misses and everything is computed afresh."""

    def __setitem__(self, key, value) -> None:
        pass


def _uncached(monkeypatch) -> None:
    for name in MEMOS:
        monkeypatch.setattr(E, name, _Forgetful())
    monkeypatch.setattr(measured, "_FROZEN", _NeverFrozen(), raising=False)


class _NeverFrozen(list):
    """Measurements read afresh for every estimate, even inside a planner's search."""

    def append(self, rows) -> None:
        pass

    def pop(self, *args):
        return None


GRID = [
    ("afford", ["--budget-usd", "50"]),
    ("afford", ["--budget-usd", "2000", "--per", "month", "--model", "llama-3.1-8b,qwen2.5-32b"]),
    ("afford", ["--budget-usd", "30", "--spot", "--max-gpus", "2", "--model", "qwen2.5-3b,llama-3.1-70b"]),
    ("compare", ["--model", "llama-3.1-8b", "--method", "full", "--max-gpus", "8"]),
    ("plan", ["--model", "qwen2.5-14b", "--rent", "--budget-usd", "100"]),
    ("recommend", ["--model", "llama-2-7b", "--budget-usd", "20"]),
]


def test_every_planner_answer_is_the_same_without_memos(monkeypatch):
    bench = _bench()
    cached = bench.answers(GRID)
    assert all(a["code"] == 0 and isinstance(a["out"], dict) for a in cached.values()), cached
    with monkeypatch.context() as patch:
        _uncached(patch)
        uncached = bench.answers(GRID)
    assert uncached == cached
    assert bench.answers(GRID) == cached  # and again with the memos warm


@pytest.mark.parametrize("model,method,gpus", [("llama-3.1-8b", "full", (1, 2, 8)), ("llama-3.1-70b", "qlora", (1, 4)),
                                               ("qwen2.5-0.5b", "lora", (1,)), ("llama-2-7b", "lora", (1, 2))])
def test_memory_probe_agrees_with_the_estimate(model, method, gpus):
    catalog = get_catalog()
    for gpu in ("t4", "rtx 4090", "a10", "l40s", "a100-80gb", "h100"):
        for n in gpus:
            for stage in (0, 3) if n > 1 else (0,):
                job = build_job(model, catalog, method=method).with_(num_gpus=n, zero_stage=stage)
                hw = build_hardware(gpu, None, "on-demand", n, catalog)
                est = E.estimate(job, hw, catalog=catalog, today=TODAY)
                fits, band_fits, hours = probe.memory_fits(job, hw.gpu)
                assert (fits, band_fits) == (est.memory.fits, est.memory.fits_band_high), (gpu, n, stage)
                assert hours == (est.time.hours if fits and band_fits else None)


def test_price_only_estimate_agrees_with_the_estimate():
    catalog = get_catalog()
    job = build_job("llama-3.1-8b", catalog, method="lora")
    offers = [("a10", "lambda", "on-demand"), ("a100-80gb", None, "spot"), ("h100", None, "on-demand"),
              ("l4", None, "spot")]
    for gpu, platform, pricing in offers:
        hw = build_hardware(gpu, platform, pricing, 1, catalog)
        for size in (1, 2_000, 200_000, 20_000_000):
            sized = job.with_(dataset_size=size)
            est = E.estimate(sized, hw, catalog=catalog, today=TODAY)
            assert probe.cost_and_hours(sized, hw, catalog=catalog, today=TODAY) == \
                (est.cost_breakdown.total_cost, wall_hours(est)), (gpu, pricing, size)


def test_a_comparison_without_rejected_estimates_ranks_the_same():
    catalog = get_catalog()
    job = build_job("llama-3.1-8b", catalog, method="full")
    flt = Filters(max_gpus=8)
    full = compare_job(job, catalog, flt, top=4)
    lean = compare_job(job, catalog, flt, top=4, rejected_estimates=False)
    assert [(c, e.to_json()) for c, e in lean.ranked] == [(c, e.to_json()) for c, e in full.ranked]
    assert len(lean.rejected) == len(full.rejected) and any(r.estimate for r in full.rejected)
    assert all(r.estimate is None for r in lean.rejected if r.reason.startswith("does not fit"))


def test_measurements_are_read_once_per_search_and_again_after_it(tmp_path, monkeypatch):
    monkeypatch.setenv(measured.ENV_FILE, str(tmp_path / "m.jsonl"))
    with measured.frozen():
        assert measured.throughput_correction("A10", "lora") == (1.0, 0)
        measured.record_measurement(gpu="A10", method="lora", model="m", measured_tokens_per_sec_per_gpu=800.0,
                                    estimated_tokens_per_sec_per_gpu=1000.0)
        assert measured.throughput_correction("A10", "lora") == (1.0, 0)  # the search sees the file as it began
    assert measured.throughput_correction("A10", "lora") == (0.8, 1)  # the next one sees the new run


def test_spot_assumption_dirs_are_an_enclosing_blocks_else_the_users(tmp_path, monkeypatch):
    from frugaltune.estimate import spot

    mine = tmp_path / "frugaltune" / "catalog"
    mine.mkdir(parents=True)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert spot.assumption_dirs() == (str(mine),)
    with spot.spot_overrides(extra_dirs=("/team/catalog",)):
        assert spot.assumption_dirs() == ("/team/catalog",)  # a caller's block is kept, not replaced
    with spot.spot_overrides(extra_dirs=()):
        assert spot.assumption_dirs() == ()  # none, said explicitly: not looked up again per option


@pytest.mark.parametrize("method,pricings", [("full", ("on-demand", "spot")), ("qlora", ("spot",))])
def test_a_lean_comparison_ranks_the_same_options_with_the_same_numbers(method, pricings):
    catalog = get_catalog()
    job = build_job("llama-3.1-8b", catalog, method=method)
    flt = Filters(max_gpus=8, pricings=pricings)
    full = compare_job(job, catalog, flt, top=4)
    lean = compare_job(job, catalog, flt, top=4, lean=True)

    def facts(cmp):
        return [(c, e.job.precision, e.job.zero_stage, e.job.cpu_offload, e.cost_breakdown.total_cost,
                 e.cost_breakdown.spot, vars(e.time), wall_hours(e)) for c, e in cmp.ranked]

    assert len(full.ranked) >= 4 and facts(lean) == facts(full)
    assert (lean.cheapest, lean.fastest, lean.pareto, lean.notes) == (full.cheapest, full.fastest, full.pareto,
                                                                      full.notes)
