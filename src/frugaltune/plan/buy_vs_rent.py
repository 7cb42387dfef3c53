"""`buy-vs-rent`: an owned GPU against renting the same GPU for the same monthly workload.

Workload: `runs_per_month` runs of a job (hours per run from the estimator, on each side), or `hours_per_month`
GPU-machine hours of use. Owned monthly cost = straight-line depreciation (purchase x (1 - resale fraction) /
(years x 12)) + energy (hours x watts / 1000 x $/kWh). Rented monthly cost = the same GPU (same count where
offered) on its cheapest offer: the `compare` option's dollars per run x runs, or hours x the offer's hourly price.
Break-even month (cash view): the first month m where m x rent >= purchase + m x energy, i.e.
m = ceil(purchase / (rent - energy)); "never" when renting costs no more than the energy, or when the break-even
falls after the hardware's useful life, taken as the depreciation period you give (default 3 years: a stated
assumption, the straight-line period the owned monthly cost already uses).
All inputs are the user's: no purchase price, wattage or electricity tariff is invented (the GPU's catalog TDP and
purchase price are used only where the catalog has them, and the output says which).
"""

from __future__ import annotations

import math
from frugaltune.record import field, record

from frugaltune.errors import ConfigError
from frugaltune.estimate.cost import HOURS_PER_MONTH, billed_gpus
from frugaltune.estimate.records import Estimate, Hardware, Job
from frugaltune.plan.search import Comparison, Filters, compare_job, total_usd, wall_hours


@record(frozen=True)
class OwnedGpu:
    gpu: str  # canonical catalog name
    purchase_usd: float  # per GPU
    power_watts: float  # per GPU under training load
    usd_per_kwh: float
    num_gpus: int = 1
    host_watts: float = 0.0  # the rest of the machine (CPU, RAM, fans, PSU losses)
    depreciation_years: float = 3.0
    resale_fraction: float = 0.0  # share of the purchase price recovered at the end of depreciation

    def __post_init__(self):
        bad = [n for n, v in (("purchase_usd", self.purchase_usd), ("power_watts", self.power_watts),
                              ("usd_per_kwh", self.usd_per_kwh), ("depreciation_years", self.depreciation_years))
               if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0)]
        if not 0 <= self.resale_fraction < 1:
            bad.append("resale_fraction (0 <= x < 1)")
        if bad:
            raise ConfigError(f"buy-vs-rent: these must be positive: {', '.join(bad)}.",
                              fix="pass --purchase-usd, --power-watts and --usd-per-kwh for your GPU and tariff.")


def energy_usd(hours: float, watts: float, usd_per_kwh: float) -> float:
    """Electricity for `hours` at a constant draw of `watts`: kWh x tariff."""
    return hours * watts / 1000.0 * usd_per_kwh


def depreciation_usd_per_month(purchase_usd: float, years: float, resale_fraction: float) -> float:
    """Straight-line depreciation of what the resale does not recover."""
    return purchase_usd * (1.0 - resale_fraction) / (years * 12.0)


def break_even_month(purchase_usd: float, rent_usd_per_month: float, energy_usd_per_month: float) -> int | None:
    """First month whose cumulative rent covers the purchase plus cumulative energy; None if never (also when the
    margin is so thin that the month count is not a finite number)."""
    margin = rent_usd_per_month - energy_usd_per_month
    if margin <= 0 or not math.isfinite(purchase_usd / margin):
        return None
    return max(1, math.ceil(purchase_usd / margin - 1e-9))


@record
class BuyVsRent:
    owned: OwnedGpu
    runs_per_month: float
    owned_estimate: Estimate
    owned_hours_per_month: float
    energy_usd_per_month: float
    depreciation_usd_per_month: float
    owned_usd_per_month: float
    rent: Comparison
    rent_usd_per_month: float | None
    break_even_month: int | None  # None: never within the useful life (see `payback_month` for the cash month)
    annual_saving_usd: float | None  # renting minus owning over 12 months (positive: buying saves)
    notes: list[str] = field(default_factory=list)
    hours_per_month: float | None = None  # the workload in hours of use, when given that way
    payback_month: int | None = None  # the cash break-even month even past the useful life (None: never)

    @property
    def useful_life_months(self) -> float:
        return self.owned.depreciation_years * 12

    def to_json(self) -> dict:
        best = self.rent.ranked[0] if self.rent.ranked else None  # the option rent_usd_per_month prices
        return {
            "owned": {**self.owned.__dict__, "fits": self.owned_estimate.memory.fits,
                      "peak_gb_per_gpu": self.owned_estimate.memory.peak_gb_per_gpu,
                      "hours_per_run": wall_hours(self.owned_estimate), "hours_per_month": self.owned_hours_per_month,
                      "energy_usd_per_month": self.energy_usd_per_month,
                      "depreciation_usd_per_month": self.depreciation_usd_per_month,
                      "usd_per_month": self.owned_usd_per_month},
            "rent": None if best is None else {
                "gpu": best[0].offer.gpu, "num_gpus": best[0].num_gpus, "platform": best[0].offer.platform,
                "instance": best[0].offer.instance, "region": best[0].offer.region, "pricing": best[0].pricing,
                "usd_per_run": total_usd(best[1]), "hours_per_run": wall_hours(best[1]),
                "usd_per_month": self.rent_usd_per_month},
            "runs_per_month": self.runs_per_month, "hours_per_month": self.hours_per_month,
            "break_even_month": self.break_even_month, "payback_month": self.payback_month,
            "useful_life_months": self.useful_life_months,
            "annual_saving_usd": self.annual_saving_usd, "notes": self.notes, "schema_version": 1}


def buy_vs_rent(job: Job, owned: OwnedGpu, runs_per_month: float | None, catalog, *,
                rent_filters: Filters | None = None, hours_per_month: float | None = None,
                estimator=None) -> BuyVsRent:
    """Monthly cost of owning vs renting the same GPU for `runs_per_month` runs of `job`, or for
    `hours_per_month` hours of use (see the module docstring)."""
    from frugaltune.plan.search import _default_estimator

    estimator = estimator or _default_estimator
    gpu = catalog.gpu(owned.gpu)
    own_est = estimator(job.with_(num_gpus=owned.num_gpus), Hardware(gpu=gpu, num_gpus=owned.num_gpus), catalog)
    hours = hours_per_month if hours_per_month is not None else wall_hours(own_est) * runs_per_month
    energy = energy_usd(hours, owned.num_gpus * owned.power_watts + owned.host_watts, owned.usd_per_kwh)
    dep = owned.num_gpus * depreciation_usd_per_month(owned.purchase_usd, owned.depreciation_years,
                                                      owned.resale_fraction)
    rent, how = rent_same_gpu(job, owned, catalog, rent_filters or Filters(), estimator)
    notes = _notes(own_est, gpu, owned, hours) + how
    rent_month = None
    if rent.ranked:
        cand, est = rent.ranked[0]
        rent_month = (total_usd(est) * runs_per_month if hours_per_month is None else
                      hours * est.hardware.usd_per_gpu_hour * billed_gpus(cand.num_gpus, cand.offer))
    payback = None if rent_month is None else break_even_month(owned.num_gpus * owned.purchase_usd, rent_month,
                                                                energy)
    life = owned.depreciation_years * 12
    be = payback if payback is not None and payback <= life else None
    saving = None if rent_month is None else 12.0 * (rent_month - energy - dep)
    if rent_month is None:
        notes.append("no cloud offer runs this job, so there is nothing to compare renting against")
    return BuyVsRent(owned, runs_per_month or 0.0, own_est, hours, energy, dep, energy + dep, rent, rent_month, be,
                     saving, notes, hours_per_month, payback)


def rent_same_gpu(job: Job, owned: OwnedGpu, catalog, flt: Filters, estimator) -> tuple[Comparison, list[str]]:
    """The cheapest rented option of the owned GPU (the same count where offered, else any count); when nobody rents
    that GPU, the cheapest option of any GPU, and a note that says so."""
    from frugaltune.record import replace

    same = compare_job(job, catalog, replace(flt, gpus=(owned.gpu,), min_gpus=owned.num_gpus,
                                             max_gpus=owned.num_gpus), estimator=estimator)
    if same.ranked:
        return same, []
    any_count = compare_job(job, catalog, replace(flt, gpus=(owned.gpu,)), estimator=estimator)
    if any_count.ranked:
        return any_count, [f"no offer rents {owned.num_gpus}x {owned.gpu}; compared with renting "
                           f"{any_count.ranked[0][0].num_gpus}x {owned.gpu}"]
    anywhere = compare_job(job, catalog, flt, estimator=estimator)
    return anywhere, [f"nobody in the catalog rents {owned.gpu}; compared with the cheapest rented GPU that runs "
                      "the job instead"]


def _notes(est: Estimate, gpu, owned: OwnedGpu, hours_per_month: float) -> list[str]:
    notes = []
    if not est.memory.fits:
        fix = next((w for w in est.warnings if w.startswith("does not fit")), "")
        notes.append(f"the owned {owned.num_gpus}x {gpu.name} cannot fit this job "
                     f"({est.memory.peak_gb_per_gpu:.1f} GB needed per GPU); {fix}")
    if hours_per_month > HOURS_PER_MONTH:
        notes.append(f"the workload needs {hours_per_month:,.0f} GPU-hours a month on the owned GPU, more than a "
                     f"month has ({HOURS_PER_MONTH:.0f} h): one owned GPU cannot keep up")
    return notes
