"""`compare`: one job over every GPU x count x platform x pricing offer: enumerate -> filter -> score -> rank.

Shape follows SkyPilot `optimizer.py::_estimate_nodes_cost_or_time`: every runtime comes from the estimator (never a
default hour), every dropped option keeps its reason, and the result is explained, not just picked.
"""

from __future__ import annotations

import math
from frugaltune.record import field, record

from frugaltune.catalog.types import Offer
from frugaltune.estimate.records import PRICINGS, Estimate, Hardware, Job
from frugaltune.plan.engines import as_run, engine_problem
from frugaltune.plan.pareto import pareto_front

SORT_KEYS = ("cost", "time")
NEAR_TIE = 0.05  # options within 5 % of the cheapest count as equally cheap (see `as_cheap`)
NEAR_TIE_USD = 0.01


@record(frozen=True)
class Filters:
    """What the user allows. Empty tuples mean 'any'."""

    platforms: tuple[str, ...] = ()  # canonical platform keys
    gpus: tuple[str, ...] = ()  # canonical GPU names
    max_gpus: int = 8
    min_gpus: int = 1
    pricings: tuple[str, ...] = PRICINGS
    max_hours: float | None = None  # deadline on expected wall hours
    budget_usd: float | None = None  # ceiling on expected total dollars
    include_anomalies: bool = False  # offers whose source data the catalog flags as unreliable
    include_gpu_only_prices: bool = False  # GPU-only SKU prices (GCP): the host VM is billed on top, not priced here


@record(frozen=True)
class Candidate:
    """One concrete option: an offer, how many of its GPUs, and how it is priced."""

    offer: Offer
    num_gpus: int
    pricing: str


@record
class Rejection:
    candidate: Candidate
    reason: str
    estimate: Estimate | None = None  # present when the estimator ran (over budget, does not fit, ...)

    def to_json(self) -> dict:
        o = self.candidate.offer
        out = {"gpu": o.gpu, "num_gpus": self.candidate.num_gpus, "platform": o.platform,
               "pricing": self.candidate.pricing, "reason": self.reason, "instance": o.instance, "region": o.region}
        if self.estimate is not None:
            out["total_cost"] = self.estimate.cost_breakdown.total_cost  # None when unpriced (never Infinity)
            out["hours"] = wall_hours(self.estimate)
            out["peak_gb_per_gpu"] = self.estimate.memory.peak_gb_per_gpu
        return out


@record
class Comparison:
    """Ranked feasible options (best first), every rejected one with its reason, and the marked winners."""

    job: Job
    sort: str
    ranked: list[tuple[Candidate, Estimate]]
    pareto: list[bool]
    rejected: list[Rejection]
    cheapest: int | None
    fastest: int | None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        cands = []
        for rank, ((cand, est), on_front) in enumerate(zip(self.ranked, self.pareto), start=1):
            row = est.to_json()
            row.update(rank=rank, pareto=on_front)
            if cand.pricing == "spot":  # the median over zones is priced; the cheapest zone and scarcity beside it
                o = cand.offer
                row["spot_zones"] = {"cheapest_usd_per_gpu_hour": o.spot_cheapest_usd_per_gpu_hour,
                                     "cheapest_zone": o.spot_cheapest_zone or None, "zones_seen": o.spot_zones,
                                     "scarce": o.spot_scarce or None}
            cands.append(row)
        return {"candidates": cands, "rejected": [r.to_json() for r in self.rejected], "cheapest": self.cheapest,
                "fastest": self.fastest, "sort": self.sort, "notes": list(self.notes), "schema_version": 1}


def wall_hours(est: Estimate) -> float:
    """Expected wall hours: the spot expectation (interruptions included) when priced as spot."""
    spot = est.cost_breakdown.spot
    if spot and spot.get("expected_hours") is not None:
        return float(spot["expected_hours"])
    return float(est.time.hours)


def total_usd(est: Estimate) -> float:
    """Expected total dollars (spot: expected cost of interruptions included by the estimator); inf if unpriced."""
    usd = est.cost_breakdown.total_cost
    return math.inf if usd is None else float(usd)


def hardware_key(cand: Candidate) -> tuple:
    """What distinguishes two hardware options for a recommendation: GPU, count, platform, pricing (not region)."""
    return cand.offer.gpu, cand.num_gpus, cand.offer.platform, cand.pricing


def gpu_counts(offer: Offer, min_gpus: int, max_gpus: int) -> list[int]:
    """GPU counts one offer can be rented at: a whole-instance offer only as the whole instance (an 8-GPU node is
    bought as 8 GPUs); a per-GPU offer at 1..gpus_per_instance on one machine (no multi-node)."""
    counts = [offer.gpus_per_instance] if offer.whole_instance else list(range(1, offer.gpus_per_instance + 1))
    return [n for n in counts if min_gpus <= n <= max_gpus]


def enumerate_candidates(offers: list[Offer], flt: Filters) -> tuple[list[Candidate], list[Rejection]]:
    """Every offer x GPU count x pricing the filters allow; unpriced pricings and flagged offers are rejected."""
    keep, rejected = [], []
    for offer in offers:
        if flt.platforms and offer.platform not in flt.platforms or flt.gpus and offer.gpu not in flt.gpus:
            continue
        for n in gpu_counts(offer, flt.min_gpus, flt.max_gpus):
            for pricing in flt.pricings:
                cand = Candidate(offer, n, pricing)
                reason = _offer_reason(offer, pricing, flt)
                (rejected.append(Rejection(cand, reason)) if reason else keep.append(cand))
    return keep, rejected


def _offer_reason(offer: Offer, pricing: str, flt: Filters) -> str | None:
    if offer.usd_per_gpu_hour(pricing) is None:
        return "no spot price for this offer" if pricing == "spot" else "no on-demand price for this offer"
    if offer.price_flagged(pricing) and not flt.include_anomalies:
        return "price flagged as unreliable in the catalog (see its notes); --include-anomalies to keep it"
    if not offer.price_includes_host and not flt.include_gpu_only_prices:
        return ("price covers the GPU only (the host VM is billed on top and not in the catalog); "
                "--include-gpu-only-prices to keep it")
    return None


@record
class _Fit:
    """What one (GPU, count) needs, shared by every offer of it: the job to run there, or why none fits."""

    job: Job | None
    reason: str | None = None
    estimate: Estimate | None = None
    hours: float | None = None  # the job's fault-free hours there (known when the default estimator probed it)


def score(cands: list[Candidate], job: Job, catalog, *, strict_precision: bool, auto_zero: bool,
          estimator, top: int | None = None, distinct=None, flt: Filters | None = None,
          rejected_estimates: bool = True, lean: bool = False
          ) -> tuple[list[tuple[Candidate, Estimate]], list[Rejection]]:
    """Estimate every candidate (with `top`: those that can reach the top, prune.py); reject the ones that cannot
    run the job (memory, precision, spot feasibility)."""
    fits = _fits(cands, job, catalog, strict_precision, auto_zero, estimator, rejected_estimates)

    def score_one(cand: Candidate, fit: _Fit, ok: list, rejected: list) -> None:
        _score_one(cand, fit, catalog, estimator, ok, rejected, lean)

    if top and all(f.job is None or f.hours is not None for f in fits.values()):
        from frugaltune.plan.prune import score_top

        return score_top(cands, fits, score_one, top, distinct, flt or Filters())
    ok, rejected = [], []
    for cand in cands:
        score_one(cand, fits[cand.offer.gpu, cand.num_gpus], ok, rejected)
    return ok, rejected


def _fits(cands: list[Candidate], job: Job, catalog, strict_precision: bool, auto_zero: bool,
          estimator, rejected_estimates: bool = True) -> dict[tuple[str, int], _Fit]:
    fits: dict[tuple[str, int], _Fit] = {}
    specs: dict = {}  # GPU name -> GpuSpec, resolved once per name
    derived: dict = {}  # the jobs derived for a GPU count, precision, ZeRO stage: shared by every GPU
    for cand in cands:
        key = (cand.offer.gpu, cand.num_gpus)
        if key not in fits:
            if key[0] not in specs:
                specs[key[0]] = catalog.gpu(key[0])
            fits[key] = _fit(cand, job, catalog, strict_precision, auto_zero, estimator, rejected_estimates,
                             specs[key[0]], derived)
    return fits


def _score_one(cand: Candidate, fit: _Fit, catalog, estimator, ok: list, rejected: list, lean: bool = False) -> None:
    if fit.job is None:
        rejected.append(Rejection(cand, fit.reason, fit.estimate))
        return
    if lean and estimator is _default_estimator:
        from frugaltune.estimate.probe import ranked_estimate

        est = ranked_estimate(fit.job, _hardware(cand, catalog), catalog=catalog)
    else:
        est = estimator(fit.job, _hardware(cand, catalog), catalog)
    spot, kept = est.cost_breakdown.spot, None if lean else est  # a rejection keeps only a whole estimate
    if spot is not None and spot.get("feasible") is False:
        rejected.append(Rejection(cand, "spot: checkpoints too slow for the assumed interruption rate "
                                        f"({spot.get('rate')}/h); the job would not finish", kept))
    elif est.cost_breakdown.total_cost is None:
        rejected.append(Rejection(cand, f"no {cand.pricing} price", kept))
    else:
        ok.append((cand, est))


def _hardware(cand: Candidate, catalog) -> Hardware:
    return Hardware(gpu=catalog.gpu(cand.offer.gpu), num_gpus=cand.num_gpus, offer=cand.offer, pricing=cand.pricing)


def _fit(cand: Candidate, job: Job, catalog, strict_precision: bool, auto_zero: bool, estimator,
         rejected_estimates: bool = True, gpu=None, derived: dict | None = None) -> _Fit:
    gpu = gpu or catalog.gpu(cand.offer.gpu)
    derived = {} if derived is None else derived
    model_parallel = job.model_parallel
    if model_parallel > 1 and cand.num_gpus % model_parallel:
        return _Fit(None, f"{cand.num_gpus} GPU(s) is not a multiple of tensor x pipeline x context parallel "
                          f"({model_parallel})")
    job = _derive(derived, job, "num_gpus", cand.num_gpus)
    if job.precision in ("bf16", "bf16-true") and not gpu.bf16_supported:
        if strict_precision:
            return _Fit(None, f"no bf16 on {gpu.name} (it has fp16: use --precision fp16 to include it)")
        job = _derive(derived, job, "precision", "fp16")
    stages = [job.zero_stage]
    if auto_zero and cand.num_gpus > 1:
        stages += [s for s in (1, 2, 3) if s > job.zero_stage]
    def hardware() -> Hardware:  # only an estimator needs one (not the frugaltune memory probe)
        return Hardware(gpu=gpu, num_gpus=cand.num_gpus, offer=None, pricing=cand.pricing)

    tried, why_not = None, None
    for stage in stages:
        trial = _derive(derived, job, "zero_stage", stage)
        why_not = engine_problem(trial)
        if why_not:
            continue
        tried = as_run(trial)
        fits, hours = _probe(tried, gpu, hardware, catalog, estimator)
        if fits:  # the 80 % band's high end fits too
            return _Fit(tried, hours=hours)
    if tried is None:
        return _Fit(None, f"no engine runs it: {why_not}")
    if not rejected_estimates:  # the caller reads only the options that run: no estimate for this one
        return _Fit(None, f"does not fit: the peak or its 80 % band exceeds the {gpu.memory_gb:.1f} GB of {gpu.name}")
    return _does_not_fit(_rejected_estimate(tried, hardware(), catalog, estimator), gpu)


def _derive(derived: dict, job: Job, name: str, value) -> Job:
    """job.with_(name=value), once per (job, change) within one comparison (`derived` keeps the jobs alive)."""
    key = (id(job), name, value)
    hit = derived.get(key)
    if hit is None:
        hit = derived[key] = job.with_(**{name: value})
    return hit


def _probe(job: Job, gpu, hardware, catalog, estimator) -> tuple[bool, float | None]:
    """(the peak and its 80 % band fit, fault-free hours or None): the frugaltune estimator's memory alone, or a
    whole estimate from any other estimator (on `hardware()`)."""
    if estimator is _default_estimator:
        from frugaltune.estimate.probe import memory_fits

        fits, band_fits, hours = memory_fits(job, gpu)
        return fits and band_fits, hours
    est = estimator(job, hardware(), catalog)
    return est.memory.fits and est.memory.fits_band_high, None


def _rejected_estimate(job: Job, hw: Hardware, catalog, estimator) -> Estimate:
    """The estimate kept with a memory rejection (its dollars, hours and peak), without the what-would-fit advice
    of the frugaltune estimator's warnings: a rejection says what it needs in its reason."""
    if estimator is _default_estimator:
        from frugaltune.estimate import estimate

        return estimate(job, hw, catalog=catalog, advice=False)
    return estimator(job, hw, catalog)


def _does_not_fit(est: Estimate, gpu) -> _Fit:
    mem = est.memory
    if mem.fits:
        return _Fit(None, f"may not fit: the 80 % band of the peak reaches {mem.peak_gb_range[1]:.1f} GB per GPU, "
                          f"{gpu.name} has {mem.usable_gb_per_gpu or gpu.memory_gb:.1f} GB", est)
    return _Fit(None, f"does not fit: needs {mem.peak_gb_per_gpu:.1f} GB per GPU, {gpu.name} has "
                      f"{mem.usable_gb_per_gpu or gpu.memory_gb:.1f} GB usable", est)


def apply_limits(scored: list[tuple[Candidate, Estimate]], flt: Filters) -> tuple[list, list[Rejection]]:
    """Drop options over the deadline or the budget, saying by how much."""
    ok, rejected = [], []
    for cand, est in scored:
        usd, hours = total_usd(est), wall_hours(est)
        if flt.budget_usd is not None and usd > flt.budget_usd:
            rejected.append(Rejection(cand, f"over budget: ${usd:,.2f} > ${flt.budget_usd:,.2f}", est))
        elif flt.max_hours is not None and hours > flt.max_hours:
            rejected.append(Rejection(cand, f"over deadline: {hours:,.2f} h > {flt.max_hours:,.2f} h", est))
        else:
            ok.append((cand, est))
    return ok, rejected


def rank(scored: list[tuple[Candidate, Estimate]], sort: str) -> list[tuple[Candidate, Estimate]]:
    """Best first: by expected hours (then dollars), or by expected dollars (then hours) with the options about as
    cheap as the cheapest put simplest first (`prefer_simple`)."""
    if sort == "time":
        return sorted(scored, key=lambda ce: (wall_hours(ce[1]), total_usd(ce[1])))
    return prefer_simple(scored)


def simplicity(cand: Candidate, est: Estimate) -> tuple:
    """Lower is simpler: fewer GPUs, then no sharding or offload, then on-demand (nothing to interrupt) over spot."""
    return cand.num_gpus, est.job.zero_stage + 4 * est.job.cpu_offload, cand.pricing == "spot"


def as_cheap(usd: float, cheapest_usd: float) -> bool:
    """Whether `usd` is as cheap as `cheapest_usd` for choosing hardware: within NEAR_TIE of it (inside the
    estimate's own error: tokens/s are off by ~8 % median, README) or within NEAR_TIE_USD (the cent the tables
    print)."""
    return usd <= cheapest_usd * (1.0 + NEAR_TIE) + NEAR_TIE_USD


def prefer_simple(scored: list) -> list:
    """(candidate, estimate) pairs by expected dollars (then hours), except that those `as_cheap` as the cheapest
    come first, simplest first (`simplicity`): 8 GPUs that save 2 % over one are not worth the set-up."""
    by_cost = sorted(scored, key=lambda ce: (total_usd(ce[1]), wall_hours(ce[1])))
    if not by_cost:
        return by_cost
    cheapest = total_usd(by_cost[0][1])
    near = [ce for ce in by_cost if as_cheap(total_usd(ce[1]), cheapest)]
    rest = [ce for ce in by_cost if not as_cheap(total_usd(ce[1]), cheapest)]
    return sorted(near, key=lambda ce: (simplicity(*ce), total_usd(ce[1]), wall_hours(ce[1]))) + rest


def compare_job(job: Job, catalog, flt: Filters | None = None, *, sort: str = "cost", strict_precision: bool = False,
                auto_zero: bool = True, estimator=None, top: int | None = None, distinct=None,
                rejected_estimates: bool = True, candidates: tuple | None = None, lean: bool = False) -> Comparison:
    """Enumerate -> filter -> score -> rank one job over the catalog's offers. Never raises for 'nothing works':
    an empty `ranked` with every reason in `rejected` is a valid answer (see `require_options`).

    Args:
        job: the job; its num_gpus and zero_stage are replaced per candidate (ZeRO stages are tried lowest first
            on multi-GPU candidates when `auto_zero`).
        catalog: a loaded Catalog.
        flt: the user's filters.
        sort: "cost" or "time".
        strict_precision: reject GPUs without bf16 for a bf16 job instead of running them in fp16.
        estimator: `f(job, hw, catalog) -> Estimate`, default the frugaltune estimator.
        top: for callers that read only the first `top` distinct options of the cost ranking (and `cheapest`):
            candidates that cannot reach them are dropped unestimated (prune.py). `ranked` then holds at least those
            options, in the same order and with the same numbers as without `top`; `fastest`, `pareto` and
            `rejected` cover only the options estimated. Ignored with sort "time" or a custom estimator.
        distinct: what makes two options distinct for `top` (a function of a Candidate); default: every candidate.
        rejected_estimates: False for callers that never read `rejected`: an option that does not fit in memory is
            rejected without the estimate (dollars, hours, peak) that would explain it. `ranked` is unchanged.
        candidates: `enumerate_candidates(catalog.offers_of_gpus(flt.gpus), flt)`, for a caller comparing many
            jobs under the same filters (it is enumerated here otherwise).
        lean: for callers that read only each ranked option's dollars, hours and job (precision, ZeRO stage,
            offload): options are priced without building whole estimates (estimate/probe.py `ranked_estimate`),
            and rejections keep none. The ranking is the same.
    """
    estimator = estimator or _default_estimator
    flt = flt or Filters()
    if candidates is None:  # with --gpu, only those GPUs' offers are read
        candidates = enumerate_candidates(list(catalog.offers_of_gpus(flt.gpus)), flt)
    cands, rejected = list(candidates[0]), list(candidates[1])
    scored, rej = score(cands, job, catalog, strict_precision=strict_precision, auto_zero=auto_zero,
                        estimator=estimator, top=top if sort == "cost" else None, distinct=distinct, flt=flt,
                        rejected_estimates=rejected_estimates and not lean, lean=lean)
    kept, rej2 = apply_limits(scored, flt)
    ranked = rank(kept, sort)
    front = pareto_front([(total_usd(e), wall_hours(e)) for _c, e in ranked])
    cheapest = min(range(len(ranked)), key=lambda i: (total_usd(ranked[i][1]), wall_hours(ranked[i][1])), default=None)
    fastest = min(range(len(ranked)), key=lambda i: (wall_hours(ranked[i][1]), total_usd(ranked[i][1])), default=None)
    return Comparison(job, sort, ranked, front, rejected + rej + rej2, cheapest, fastest, _notes(job, ranked))


def _notes(job: Job, ranked: list[tuple[Candidate, Estimate]]) -> list[str]:
    fp16 = sorted({c.offer.gpu for c, e in ranked if e.job.precision != job.precision})
    if job.precision in ("bf16", "bf16-true") and fp16:
        return [f"no bf16 on {', '.join(fp16)}: estimated in fp16 (--strict-precision rejects them instead)"]
    return []


def _default_estimator(job: Job, hw: Hardware, catalog) -> Estimate:
    from frugaltune.estimate import estimate

    return estimate(job, hw, catalog=catalog)
