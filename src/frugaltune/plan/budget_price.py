"""Price a BudgetSpec (budget.py): per phase, per month, in total, with the cheaper ways to do each train phase."""

from __future__ import annotations

from frugaltune.record import field, record

from frugaltune.estimate.records import Estimate, Job
from frugaltune.plan.budget import BudgetSpec, Phase
from frugaltune.plan.search import Comparison, Filters, compare_job, total_usd


@record
class Alternative:
    label: str  # "cheapest platform for this GPU" | "cheapest anywhere" | "spot" | "qlora"
    option: str | None  # "1x A10 on lambda (on-demand)"; None when nothing fits
    usd_per_run: float | None
    saving_usd: float | None  # over the whole phase: chosen - alternative (negative: the alternative costs more)


@record
class PhaseCost:
    phase: Phase
    usd_per_month: list[float]  # index 0 = month 1
    usd_per_run: float | None = None
    runs: float = 0.0
    estimate: Estimate | None = None
    alternatives: list[Alternative] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def total_usd(self) -> float:
        return sum(self.usd_per_month)


@record
class BudgetResult:
    spec: BudgetSpec
    phases: list[PhaseCost]

    @property
    def monthly_usd(self) -> list[float]:
        return [sum(p.usd_per_month[m] for p in self.phases) for m in range(self.spec.months)]

    @property
    def total_usd(self) -> float:
        return sum(self.monthly_usd)

    def to_json(self) -> dict:
        phases = []
        for p in self.phases:
            phases.append({"name": p.phase.name, "kind": p.phase.kind, "gpu": p.phase.gpu, "platform": p.phase.platform,
                           "pricing": p.phase.pricing, "runs": p.runs, "usd_per_run": p.usd_per_run,
                           "usd_per_month": p.usd_per_month, "total_usd": p.total_usd,
                           "alternatives": [a.__dict__ for a in p.alternatives], "notes": p.notes,
                           "estimate": p.estimate.to_json() if p.estimate else None})
        return {"months": self.spec.months, "phases": phases, "monthly_usd": self.monthly_usd,
                "total_usd": self.total_usd, "schema_version": 1}


def price_budget(spec: BudgetSpec, catalog, *, estimator=None) -> BudgetResult:
    """Price every phase for every month of `spec`."""
    cache: dict = {}
    out = []
    for phase in spec.phases:
        if phase.kind == "storage":
            out.append(_storage(phase, spec.months, catalog))
        elif phase.kind == "eval":
            out.append(_eval(phase, spec.months, catalog))
        else:
            out.append(_train(phase, spec, catalog, estimator, cache))
    return BudgetResult(spec, out)


def _storage(phase: Phase, months: int, catalog) -> PhaseCost:
    notes = []
    price = phase.usd_per_gb_month
    free_gb = 0.0
    if price is None:  # a volume kept for months sits mostly between runs: the platform's stopped-machine rate
        price, note = catalog.storage_usd_per_gb_month(phase.platform, held="stopped")
        row = catalog.storage_price(phase.platform, held="stopped")
        free_gb = row.free_gb if row else 0.0
        if note:
            notes.append(note + ("; held between runs (the running rate applies during training, inside each "
                                 "run's estimate)" if row is not None and row.held == "stopped" else ""))
    usd = max(0.0, phase.gb - free_gb) * price
    return PhaseCost(phase, [usd if phase.active(m) else 0.0 for m in range(1, months + 1)], notes=notes)


def _eval(phase: Phase, months: int, catalog) -> PhaseCost:
    from frugaltune.estimate.cost import billed_hours, compute_usd

    offer = catalog.find_offer(phase.gpu, phase.platform, phase.num_gpus, phase.pricing)
    unit = offer.usd_per_gpu_hour(phase.pricing) or offer.on_demand_usd_per_gpu_hour
    per_run = compute_usd(billed_hours(phase.gpu_hours_per_run / phase.num_gpus, offer, phase.num_gpus), unit)
    runs = [phase.runs_in_month(m) for m in range(1, months + 1)]
    return PhaseCost(phase, [r * per_run for r in runs], per_run, sum(runs))


def _train(phase: Phase, spec: BudgetSpec, catalog, estimator, cache: dict) -> PhaseCost:
    from frugaltune.estimate.build import build_hardware, build_job

    kwargs = {**spec.job, **phase.job}
    model = kwargs.pop("model", "llama-2-7b")
    job = build_job(model, catalog, num_gpus=phase.num_gpus, **kwargs)
    hw = build_hardware(phase.gpu, phase.platform, phase.pricing, phase.num_gpus, catalog, job=job)
    est = (estimator or _estimate)(job, hw, catalog)
    per_run = total_usd(est)
    runs = [phase.runs_in_month(m) for m in range(1, spec.months + 1)]
    cost = PhaseCost(phase, [r * per_run for r in runs], per_run, sum(runs), est)
    if not est.memory.fits:
        cost.notes.append(f"does not fit on {hw.num_gpus}x {hw.gpu.name}: its dollars are hypothetical")
    total_runs = sum(runs)
    same_gpu = Filters(gpus=(hw.gpu.name,), max_gpus=hw.num_gpus, min_gpus=hw.num_gpus)
    for label, j, flt in (("cheapest platform for this GPU", job, same_gpu), ("cheapest anywhere", job, Filters()),
                          ("spot", job, Filters(pricings=("spot",))),
                          ("qlora", job.with_(method="qlora"), Filters())):
        if label == "qlora" and job.method == "qlora":
            continue
        cost.alternatives.append(_alternative(label, _compare(j, flt, catalog, estimator, cache), per_run, total_runs))
    return cost


def _compare(job: Job, flt: Filters, catalog, estimator, cache: dict) -> Comparison:
    key = (job, flt)
    if key not in cache:
        cache[key] = compare_job(job, catalog, flt, estimator=estimator, top=1)  # only the cheapest is read
    return cache[key]


def _alternative(label: str, cmp: Comparison, per_run: float, runs: float) -> Alternative:
    if not cmp.ranked:
        return Alternative(label, None, None, None)
    cand, est = cmp.ranked[cmp.cheapest]
    usd = total_usd(est)
    option = f"{cand.num_gpus}x {cand.offer.gpu} on {cand.offer.platform} {cand.offer.instance} ({cand.pricing})"
    return Alternative(label, option, usd, (per_run - usd) * runs)


def _estimate(job, hw, catalog):
    from frugaltune.estimate import estimate

    return estimate(job, hw, catalog=catalog)
