"""The probe's dollars: the whole run priced on this machine, the catalog estimate for this machine beside it, and
the planner's cheapest alternatives re-priced from the measurement.

This machine's price: `cost.usd_per_hour` when the config says what it pays (billed as measured), else, on a GPU
the catalog knows, the catalog offer's price and billing rules for that GPU (on `cost.platform`, or the cheapest).
A CPU or an unknown GPU without `cost.usd_per_hour` gets hours but no dollars.

Alternatives (GPU only): measured / estimated tokens/s on this GPU scales each alternative's estimated speed
(the same correction `frugaltune train` records for later estimates); its evaluation time scales with it, its
start-up and saves stay as measured here; billed time follows its offer's rules.
"""

from __future__ import annotations

import logging

from frugaltune.report import projection as P

log = logging.getLogger("frugaltune.probe")


def price_projection(recipe, parts: dict, measured: dict, alternatives: int) -> dict:
    """{"projection", "price_source", "estimate", "estimate_applies", "vs_estimate", "alternatives", "note"}."""
    cfg, est = recipe.cfg, recipe.estimate if recipe.estimate_applies else None
    usd, source, increment, minimum = _this_machine_price(cfg, recipe.hardware, est)
    proj = P.project(**parts, usd_per_hour=usd, increment_s=increment, minimum_s=minimum)
    out = {"projection": proj, "price_source": source, "estimate_applies": est is not None,
           "estimate": _estimate_figures(est) if est else None, "vs_estimate": {}, "alternatives": [],
           "note": recipe.estimate_note}
    if est is None:
        if recipe.hardware.get("device") != "cuda":
            out["note"] = (f"measured on {recipe.hardware.get('name')}, not a GPU: the projection is for this "
                           "machine only; no GPU estimate applies")
        return out
    e = out["estimate"]
    out["vs_estimate"] = P.ratios({
        "tokens_per_sec": (measured["tokens_per_sec"], e["tokens_per_sec"]),
        "peak_memory_gb": (measured["peak_memory_allocated_gb"], e["peak_gb_per_gpu"]),
        "train_hours": (proj["train_hours"], e["hours"]), "billed_hours": (proj["billed_hours"], e["billed_hours"]),
        "cost_usd": (proj["cost_usd"], e["cost_usd"])})
    speedup = out["vs_estimate"]["tokens_per_sec"]["ratio"]
    if speedup and alternatives:
        out["alternatives"] = _alternatives(recipe, proj, speedup, measured["tokens_per_sec"], alternatives)
    return out


def _estimate_figures(est: dict) -> dict:
    """The catalog estimate's figures the probe compares (names as in the probe's measured figures)."""
    tp, mem, t, c, hw = (est.get(k) or {} for k in ("throughput", "memory", "time", "cost_breakdown", "hardware"))
    return {"gpu": hw.get("gpu"), "platform": hw.get("platform"), "usd_per_gpu_hour": hw.get("usd_per_gpu_hour"),
            "tokens_per_sec": tp.get("tokens_per_sec"), "tokens_per_sec_range": tp.get("tokens_per_sec_range"),
            "peak_gb_per_gpu": mem.get("peak_gb_per_gpu"), "hours": t.get("hours"),
            "billed_hours": t.get("billed_hours"), "cost_usd": c.get("compute_cost"),
            "total_cost_range": c.get("total_cost_range"), "source": tp.get("source")}


def _this_machine_price(cfg, hardware: dict, est: dict | None) -> tuple[float | None, str | None, int | None,
                                                                        int | None]:
    """(usd per hour, where it comes from, billing increment s, billing minimum s)."""
    if cfg.cost.usd_per_hour is not None:
        return cfg.cost.usd_per_hour, "config", None, None
    if est is None:
        return None, None, None, None
    offer = _offer(hardware["gpu"], (est.get("hardware") or {}).get("platform"), hardware.get("count") or 1,
                   cfg.cost.pricing)
    if offer is None:
        return None, None, None, None
    price = offer.spot_usd_per_gpu_hour if cfg.cost.pricing == "spot" else offer.on_demand_usd_per_gpu_hour
    if price is None:
        return None, None, None, None
    from frugaltune.estimate.cost import billed_gpus

    usd = price * billed_gpus(hardware.get("count") or 1, offer)
    return usd, f"catalog: {offer.platform} {offer.instance}", offer.billing_increment_s, offer.billing_minimum_s


def _offer(gpu: str, platform: str | None, num_gpus: int, pricing: str):
    from frugaltune.catalog.load import load_catalog
    from frugaltune.errors import FrugalError

    try:
        return load_catalog().find_offer(gpu, platform, num_gpus, pricing)
    except FrugalError:
        return None


def _alternatives(recipe, proj: dict, speedup: float, tokens_per_sec: float, n: int) -> list[dict]:
    """The planner's `n` cheapest on-demand options for this job, re-priced with this GPU's measured speed-up."""
    from frugaltune.errors import FrugalError
    from frugaltune.estimate.cost import billed_hours
    from frugaltune.plan.api import compare
    kwargs = dict(recipe.estimate_job)
    for key in ("gpu", "platform", "pricing", "num_gpus", "instance", "region"):
        kwargs.pop(key, None)
    try:
        ranked = compare(spot=False, max_gpus=recipe.cfg.cost.num_gpus, **kwargs).ranked
    except (FrugalError, TypeError, ValueError) as err:
        log.warning("no alternatives: %s", err)
        return []
    fixed_h = proj["setup_hours"] + proj["checkpoint_hours"]
    out = []
    for cand, est in ranked[:n]:
        alt_tps = est.throughput.tokens_per_sec * speedup
        hours = fixed_h + (proj["train_hours"] + proj["eval_hours"]) * tokens_per_sec / alt_tps
        billing = billed_hours(hours, cand.offer, cand.num_gpus)
        price = est.hardware.usd_per_gpu_hour
        out.append({"gpu": cand.offer.gpu, "num_gpus": cand.num_gpus, "platform": cand.offer.platform,
                    "instance": cand.offer.instance, "tokens_per_sec": alt_tps, "hours": hours,
                    "billed_hours": billing.billed_hours, "usd_per_gpu_hour": price,
                    "cost_usd": billing.billed_gpu_hours * price if price is not None else None,
                    "estimated_tokens_per_sec": est.throughput.tokens_per_sec,
                    "estimated_cost_usd": est.cost_breakdown.compute_cost})
    return out
