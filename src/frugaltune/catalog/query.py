"""Questions asked of catalog rows: which offers fit, which one an estimate uses, what storage costs."""

from __future__ import annotations

import math

from frugaltune.catalog.types import Offer, StoragePrice
from frugaltune.numbers import median
from frugaltune.errors import CatalogError

PRICINGS = ("on-demand", "spot")


def billed_gpus(offer: Offer, num_gpus: int) -> int:
    """GPUs paid for when a job uses `num_gpus` on `offer`: whole instances are paid in full
    (`gpus_per_instance` per instance, as many instances as needed); otherwise exactly `num_gpus`."""
    if offer.whole_instance:
        return math.ceil(num_gpus / offer.gpus_per_instance) * offer.gpus_per_instance
    return num_gpus


def filter_offers(offers: list[Offer], gpu: str | None, platform: str | None, num_gpus: int | None) -> list[Offer]:
    """Offers of canonical `gpu` on canonical `platform` (None = any) whose one instance holds `num_gpus` GPUs."""
    return [
        o for o in offers
        if (gpu is None or o.gpu == gpu)
        and (platform is None or o.platform == platform)
        and (num_gpus is None or o.gpus_per_instance >= num_gpus)
    ]


def _preference(offer: Offer, num_gpus: int, pricing: str) -> tuple:
    """Sort key: sound rows first, then all-in prices, then the newest observation, then the cheapest job."""
    usd = offer.usd_per_gpu_hour(pricing) * billed_gpus(offer, num_gpus)
    return (offer.price_flagged(pricing), not offer.price_includes_host, -_date_number(offer.data_date), usd,
            offer.gpus_per_instance, offer.instance)


def _date_number(iso: str) -> int:
    """'2026-09-20' -> 20260920 (orders like the date, without importing datetime); 'unknown' -> 0."""
    digits = iso.replace("-", "")
    return int(digits) if len(digits) == 8 and digits.isdigit() else 0


def pick_offer(offers: list[Offer], gpu: str, platform: str | None, num_gpus: int = 1,
               pricing: str = "on-demand") -> Offer:
    """The offer an estimate for `gpu` x `platform` uses, among those priced for `pricing` that hold `num_gpus`.

    Rule within a platform: skip rows flagged as anomalies, prefer prices that include the host VM, then the
    newest dated observation (an older price of the same product is superseded), then the lowest cost for the
    job (per-GPU price x GPUs billed, so a 1-GPU instance beats an 8-GPU node for a 1-GPU job).
    With `platform=None`: each platform's pick by that rule, then the cheapest for the job across platforms.

    Raises:
        CatalogError: no such offer; the message says what the platform and the GPU do have.
    """
    if pricing not in PRICINGS:
        raise CatalogError(f"Unknown pricing {pricing!r}.", fix=f"use one of {', '.join(PRICINGS)}.")
    picks = platform_picks(offers, gpu, platform, num_gpus, pricing)
    if picks:
        return min(picks, key=lambda o: (_preference(o, num_gpus, pricing)[:2], _preference(o, num_gpus, pricing)[3:]))
    raise CatalogError(_no_offer_message(offers, gpu, platform, num_gpus, pricing),
                       fix="pick another GPU or platform (`frugaltune catalog prices --gpu X` lists who rents it), "
                       "or add your own row in offers.csv of a user catalog dir.")


def platform_picks(offers: list[Offer], gpu: str, platform: str | None, num_gpus: int, pricing: str) -> list[Offer]:
    """Each platform's offer for `gpu` by the within-platform rule of `pick_offer` (one per platform)."""
    candidates = [o for o in filter_offers(offers, gpu, platform, num_gpus) if o.usd_per_gpu_hour(pricing) is not None]
    return [min((o for o in candidates if o.platform == key), key=lambda o: _preference(o, num_gpus, pricing))
            for key in sorted({o.platform for o in candidates})]


def sound_first(offer: Offer, pricing: str) -> tuple[bool, bool]:
    """Sort key that puts sound, host-inclusive prices before flagged or GPU-only ones."""
    return offer.price_flagged(pricing), not offer.price_includes_host


def _no_offer_message(offers: list[Offer], gpu: str, platform: str | None, num_gpus: int, pricing: str) -> str:
    if platform is None:
        most = max((o.gpus_per_instance for o in offers if o.gpu == gpu), default=0)
        if most and most < num_gpus:
            return f"no {gpu} instance in the catalog has {num_gpus} GPUs (at most {most})."
        return f"no {pricing} offer for {gpu} in the catalog."
    same = filter_offers(offers, gpu, platform, None)
    if same and not filter_offers(same, None, None, num_gpus):
        most = max(o.gpus_per_instance for o in same)
        return f"{platform} has no {gpu} instance with {num_gpus} GPUs (at most {most})."
    if same:
        return f"{platform} has no {pricing} price for {gpu}."
    on_platform = sorted({o.gpu for o in offers if o.platform == platform})
    elsewhere = sorted({o.platform for o in offers if o.gpu == gpu})
    return (f"{platform} has no {gpu} offer; {platform} offers: {', '.join(on_platform) or 'none'}; "
            f"{gpu} is offered by: {', '.join(elsewhere) or 'nobody in the catalog'}.")


def default_storage(storage: list[StoragePrice], platform: str, held: str = "running") -> StoragePrice | None:
    """The platform's storage row for a volume `held` "running" (during a run: the default row, flagged in
    storage.csv) or "stopped" (between runs: the row priced for a stopped machine where the platform bills that
    differently, else the default); else its first row, else None."""
    rows = [s for s in storage if s.platform == platform]
    default = next((s for s in rows if s.default_for_platform), rows[0] if rows else None)
    if held == "stopped":
        return next((s for s in rows if s.held == "stopped"), default)
    return default


def storage_usd_per_gb_month(storage: list[StoragePrice], platform: str, held: str = "running") -> tuple[float, str]:
    """(USD per GB-month, note) for `platform`'s default storage.

    Where the catalog has no price for the platform, the median of the other platforms' default storage prices,
    and the note says so: a stand-in, not that provider's price.
    """
    row = default_storage(storage, platform, held)
    if row is not None:
        free = f"; first {row.free_gb:g} GB free" if row.free_gb else ""
        return row.usd_per_gb_month, f"{platform} {row.item} ({row.source}, {row.data_date}){free}"
    defaults = {p: default_storage(storage, p) for p in sorted({s.platform for s in storage})}
    prices = [r.usd_per_gb_month for r in defaults.values() if r is not None]
    if not prices:
        return 0.0, f"no storage price known for {platform} or any platform; storage not priced"
    usd = median(prices)
    return usd, (f"no storage price known for {platform}; using ${usd:.3f}/GB-month, the median of the default "
                    f"storage prices of {', '.join(defaults)}")
