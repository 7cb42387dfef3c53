"""Turn hours into billed hours and dollars for an offer: compute (on-demand or spot), storage, per epoch."""

from __future__ import annotations

from datetime import date

from frugaltune.estimate import cost as billing
from frugaltune.estimate import records as rec
from frugaltune.estimate.shapes import total_params
from frugaltune.record import record

CHECKPOINTS_KEPT = 3  # default keep_last of `frugaltune train`


@record
class Priced:
    hardware: rec.HardwareOut
    billed_hours: float | None
    cost: rec.CostOut
    time: rec.TimeOut | None = None


def stored_bytes(job: rec.Job, ckpt_bytes: float, real_tokens: int) -> float:
    """Disk the run keeps while it runs: the dataset text, the base model in 16-bit, and the kept checkpoints."""
    tokens_per_epoch = real_tokens / job.epochs
    return billing.dataset_bytes(tokens_per_epoch) + total_params(job.model) * 2 + CHECKPOINTS_KEPT * ckpt_bytes


def _unit_price(hw: rec.Hardware, warnings: list[str]) -> tuple[float | None, str]:
    offer, pricing = hw.offer, hw.pricing
    usd = offer.usd_per_gpu_hour(pricing)
    if usd is None and pricing == "spot":
        warnings.append(f"spot unavailable for {offer.platform} {offer.instance} ({offer.gpu}): priced on-demand")
        pricing, usd = "on-demand", offer.on_demand_usd_per_gpu_hour
    if offer.cpu_usd_per_core_hour or offer.memory_usd_per_gib_hour:
        warnings.append(f"{offer.platform} bills CPU (${offer.cpu_usd_per_core_hour or 0:.4f} per core-hour) and "
                        f"memory (${offer.memory_usd_per_gib_hour or 0:.4f} per GiB-hour) on top of the GPU price; "
                        "they are not in this estimate (they depend on what your function requests)")
    if offer.price_flagged(pricing):
        warnings.append(f"the catalog flags the {pricing} price of {offer.platform} {offer.instance} ({offer.gpu}) "
                        "as unreliable (`frugaltune catalog prices` notes say why): check the provider's page")
    return usd, pricing


def _storage_price(catalog, platform: str) -> tuple[float | None, str]:
    if catalog is None:
        return None, "no catalog: storage not priced"
    return catalog.storage_usd_per_gb_month(platform)


def _spot(job: rec.Job, hw: rec.Hardware, hours: float, usd_per_hour: float, ckpt_bytes: float,
          setup_hours: float, catalog=None) -> dict | None:
    """Spot expectation; every restart pays the setup again (instance start, environment, download, load)."""
    try:
        from frugaltune.estimate.spot import spot_outcome
    except ImportError:
        return None
    # the spot_assumptions.csv of every user catalog directory read, --catalog DIR included
    extra_dirs = tuple(catalog.user_dirs) if getattr(catalog, "user_dirs", None) else None
    return spot_outcome(work_hours=hours, usd_per_hour=usd_per_hour, checkpoint_bytes=ckpt_bytes,
                        platform=hw.offer.platform, kind=hw.offer.kind, extra_dirs=extra_dirs,
                        billing_increment_s=hw.offer.billing_increment_s,
                        billing_minimum_s=hw.offer.billing_minimum_s, provision_hours=setup_hours)


def price_job(job: rec.Job, hw: rec.Hardware, hours: float, ckpt_bytes: float, real_tokens: int, catalog,
              today: date | None, warnings: list[str]) -> Priced:
    """Billed hours (setup included) and the cost breakdown; all-None costs when no offer prices the hardware."""
    from frugaltune.estimate.setup import setup_time

    offer = hw.offer
    setup = setup_time(total_params(job.model), offer.platform if offer else None, offer.kind if offer else None)
    if offer is None:
        out = rec.HardwareOut(hw.gpu.name, hw.gpu.memory_gb, None, hw.pricing)
        return Priced(out, None, rec.CostOut(None, None, None, None), rec.TimeOut(hours, None, setup.hours,
                                                                                 setup.to_json()))
    usd, pricing = _unit_price(hw, warnings)
    from frugaltune.catalog.staleness import stale_price_warning

    stale = stale_price_warning(offer, today or date.today())
    if stale:
        warnings.append(stale)
    bill = billing.billed_hours(hours + setup.hours, offer, job.num_gpus)
    compute = billing.compute_usd(bill, usd)
    billed = bill.billed_hours
    spot = None
    if pricing == "spot":
        spot = _spot(job, hw, hours, usd * bill.billed_gpus, ckpt_bytes, setup.hours, catalog)
        if spot:
            expected = billing.billed_hours(spot["expected_hours"] + setup.hours, offer, job.num_gpus)
            compute, billed = billing.compute_usd(expected, usd), expected.billed_hours
    usd_gb_month, note = _storage_price(catalog, offer.platform)
    storage = billing.storage_usd(stored_bytes(job, ckpt_bytes, real_tokens), billed, usd_gb_month or 0.0)
    if note and usd_gb_month is not None and "median" in note:
        warnings.append(note)
    total = compute + storage
    out = rec.HardwareOut(hw.gpu.name, hw.gpu.memory_gb, offer.platform, pricing, offer.instance, offer.region,
                          usd, offer.data_date)
    setup_usd = min(setup.hours / max(billed, 1e-12), 1.0) * compute
    cost = rec.CostOut(round(compute, 4), round(storage, 4), round(total, 4), round(total / job.epochs, 4), spot,
                       setup_cost=round(setup_usd, 4))
    return Priced(out, billed, cost, rec.TimeOut(hours, billed, setup.hours, setup.to_json()))
