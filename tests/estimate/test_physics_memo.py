"""The estimator computes a job's memory, speed and hours once per (job, GPU, coefficients, calibration) and prices
each offer on top: a planner's hundreds of offers of the same GPU cost one physics computation, with identical
answers."""

from __future__ import annotations

from frugaltune.estimate import estimator as E
from frugaltune.estimate.build import build_hardware, build_job, get_catalog
from frugaltune.estimate.calibration import load_coefficients
from frugaltune.record import replace


def _count_computations(monkeypatch) -> list:
    calls = []
    real = E._compute_core

    def counted(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(E, "_compute_core", counted)
    _forget(monkeypatch)
    return calls


def _forget(monkeypatch) -> None:
    monkeypatch.setattr(E, "_PHYSICS", {})
    monkeypatch.setattr(E, "_CORES", {})


def test_offers_of_one_gpu_share_one_physics_computation(monkeypatch, today):
    calls = _count_computations(monkeypatch)
    catalog = get_catalog()
    job = build_job("llama-2-7b", catalog)
    offers = [o for o in catalog.gpu_offers("A100-80GB") if o.gpus_per_instance >= 1][:4]
    hws = [build_hardware("a100-80gb", o.platform, "on-demand", 1, catalog, o.instance, o.region) for o in offers]
    estimates = [E.estimate(job, hw, catalog=catalog, today=today) for hw in hws]
    assert len(calls) == 1 and len({e.hardware.platform for e in estimates}) == len({o.platform for o in offers})
    _forget(monkeypatch)  # the same estimates computed afresh are identical
    assert [E.estimate(job, hw, catalog=catalog, today=today).to_json() for hw in hws] == \
        [e.to_json() for e in estimates]


def test_another_job_gpu_or_coefficients_computes_again(monkeypatch, today):
    calls = _count_computations(monkeypatch)
    catalog = get_catalog()
    job = build_job("llama-2-7b", catalog)
    hw = build_hardware("a10", "lambda", "on-demand", 1, catalog)
    E.estimate(job, hw, catalog=catalog, today=today)
    E.estimate(job.with_(micro_batch=2), hw, catalog=catalog, today=today)
    E.estimate(job, build_hardware("l4", None, "on-demand", 1, catalog), catalog=catalog, today=today)
    coef = load_coefficients()
    E.estimate(job, hw, catalog=catalog, today=today, coef=replace(coef, overhead_fraction=coef.overhead_fraction * 2))
    E.estimate(job, hw, catalog=catalog, today=today)
    assert len(calls) == 4


def test_one_job_at_many_data_sizes_computes_memory_and_speed_once(monkeypatch, today):
    # afford prices one job at many dataset sizes: memory and speed once, tokens and hours per size, each answer
    # identical to a fresh computation (the sanity warning of an implausible size included)
    calls = _count_computations(monkeypatch)
    catalog = get_catalog()
    job = build_job("llama-2-7b", catalog)
    hw = build_hardware("a10", "lambda", "on-demand", 1, catalog)
    sizes = [(100, 1.0), (10_000, 3.0), (2_000_000, 2.0), (1_000_000_000, 100.0)]
    estimates = [E.estimate(job.with_(dataset_size=n, epochs=e), hw, catalog=catalog, today=today) for n, e in sizes]
    assert len(calls) == 1 and len({e.time.hours for e in estimates}) == len(sizes)
    assert any("GPU-hours" in w for w in estimates[-1].warnings)
    fresh = []
    for n, e in sizes:
        _forget(monkeypatch)
        fresh.append(E.estimate(job.with_(dataset_size=n, epochs=e), hw, catalog=catalog, today=today).to_json())
    assert fresh == [e.to_json() for e in estimates] and len(calls) == 1 + len(sizes)
