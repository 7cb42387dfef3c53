"""What a planner asks of the estimator without a whole estimate: whether a job fits a GPU (and then its hours),
the dollars and wall hours of a job on an offer, and what a ranking of offers reads of an estimate. Each answer is
the one `estimate(job, hw)` gives (tests/plan/test_planner_memo.py), from the same memoized physics (estimator.py)."""

from __future__ import annotations

from datetime import date

from frugaltune.estimate import estimator as E
from frugaltune.estimate.bands import band_high_fits
from frugaltune.estimate.calibration import Coefficients, load_coefficients
from frugaltune.estimate.records import Hardware, Job
from frugaltune.record import record

GB = E.GB


def memory_fits(job: Job, gpu, coef: Coefficients | None = None) -> tuple[bool, bool, float | None]:
    """(peak fits, the 80 % band's high end fits too, hours) of `job` on `gpu`: what `estimate(job, hw)` says in
    `memory.fits`, `memory.fits_band_high` and `time.hours`, without pricing or building the estimate (a planner
    probes ZeRO stages and GPU counts this way); hours only when both fit (the speed is not worked out otherwise)."""
    coef = coef or load_coefficients()
    _stack, _precision, m = E._gpu_free(job, E.effective_precision(job.precision, gpu, []), coef)
    peak = m.peak  # a property summed from the components: read once
    fits = peak <= gpu.memory_gb * GB
    high = band_high_fits(job.method, gpu, m.weights / GB, (m.optimizer + m.master) / GB, peak / GB)
    band_fits = fits if high is None else high
    return fits, band_fits, E.physics(job, gpu, coef).hours if fits and band_fits else None


def cost_and_hours(job: Job, hw: Hardware, *, catalog=None, today: date | None = None,
                   coef: Coefficients | None = None) -> tuple[float | None, float]:
    """(total dollars, expected wall hours) of `job` on `hw`: what `estimate(job, hw)` reports as
    `cost_breakdown.total_cost` and as the spot expectation's `expected_hours` (else `time.hours`), without building
    the estimate (a planner searching for the largest job a budget buys prices many sizes and keeps one)."""
    job = job.with_(num_gpus=hw.num_gpus) if job.num_gpus != hw.num_gpus else job
    _ph, priced, _warnings = E._priced(job, hw, catalog, today, coef or load_coefficients(), advice=False)
    spot_hours = (priced.cost.spot or {}).get("expected_hours")
    return priced.cost.total_cost, float(priced.time.hours if spot_hours is None else spot_hours)


@record(frozen=True)
class RankedJob:
    """The job as estimated (`Estimate.job`'s fields a ranking reads)."""

    precision: str
    zero_stage: int
    cpu_offload: bool


@record(frozen=True)
class Ranked:
    """What a planner ranks an option by (search.rank, prune.py, afford): the fields of the Estimate it stands for
    that they read, `cost_breakdown` and `time` being the estimate's own."""

    job: RankedJob
    cost_breakdown: object  # records.CostOut
    time: object  # records.TimeOut


def ranked_estimate(job: Job, hw: Hardware, *, catalog=None, today: date | None = None,
                    coef: Coefficients | None = None) -> Ranked:
    """`estimate(job, hw)` as a ranking reads it (Ranked), without building the whole estimate."""
    job = job.with_(num_gpus=hw.num_gpus) if job.num_gpus != hw.num_gpus else job
    ph, priced, _warnings = E._priced(job, hw, catalog, today, coef or load_coefficients(), advice=False)
    return Ranked(RankedJob(ph.precision, job.zero_stage, job.cpu_offload), priced.cost, priced.time)
