"""Which method: the seeds' decision flow (shared/seeds/001), made concrete with estimates.

    Budget tight / low VRAM?  -> QLoRA
    else large domain shift?  -> full fine-tuning + ZeRO-3
    else                      -> LoRA
    preference alignment needed -> DPO after SFT (whichever SFT method was chosen)

"Low VRAM" and "tight budget" are not left to taste: low VRAM means LoRA (16-bit base) does not fit the user's GPU
even at micro-batch 1 with gradient checkpointing and the safety margin; a tight budget means the cheapest LoRA
option the user allows costs more than the budget. Full fine-tuning that the budget cannot pay for falls back to
LoRA on every linear layer, with the reason printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from frugaltune.estimate.records import Hardware, Job
from frugaltune.plan.search import Comparison, Filters, compare_job, total_usd, wall_hours
from frugaltune.plan.settings import DEFAULT_SAFETY_MARGIN, base_job

DOMAIN_SHIFTS = ("small", "large")
# Qualitative columns of the trade-off matrix, as the seed states them (shared/seeds/001_510395dad6898a79.txt,
# "Fine-Tuning Approach Trade-offs" and "Cost and complexity matrix"). Words, not measurements; the VRAM and
# operating-cost columns printed beside them are computed for the user's job.
TRADEOFFS = {
    "qlora": {"vram": "Very low", "data": "Low-Med", "quality": "Med-High", "complexity": "Medium",
              "opex": "Very low", "exit_cost": "Low"},
    "lora": {"vram": "Low", "data": "Low-Med", "quality": "Medium", "complexity": "Low", "opex": "Low",
             "exit_cost": "Low"},
    "full": {"vram": "High", "data": "High", "quality": "Highest", "complexity": "High", "opex": "High",
             "exit_cost": "High"},
    "dpo": {"vram": "High", "data": "High (preference pairs)", "quality": "Highest (alignment)",
            "complexity": "Very high", "opex": "Very high", "exit_cost": "High"},
}


@dataclass(frozen=True)
class Situation:
    """What the user has and needs."""

    budget_usd: float | None = None  # per training run
    gpu: str | None = None  # the GPU the user has or insists on (canonical name); None = any offer
    num_gpus: int = 1
    domain_shift: str = "small"  # small | large
    alignment: bool = False  # preference alignment (DPO) needed after SFT
    max_gpus: int = 8
    pricings: tuple[str, ...] = ("on-demand", "spot")
    platforms: tuple[str, ...] = ()  # canonical platform keys allowed; () = any


@dataclass
class MethodChoice:
    method: str
    zero_stage: int
    why: list[str]
    then: list[str] = field(default_factory=list)  # later stages (DPO)
    options: dict[str, Comparison] = field(default_factory=dict)  # per method: the compare behind the decision
    matrix: list[dict] = field(default_factory=list)


def _fits_locally(job: Job, gpu, num_gpus: int, catalog, estimator, margin: float) -> tuple[bool, float]:
    """Does `job` fit `num_gpus` x `gpu` at its lightest settings (micro-batch 1, grad ckpt, ZeRO-3 if >1 GPU)?"""
    trial = base_job(job, gpu).with_(micro_batch=1, grad_ckpt=True, num_gpus=num_gpus,
                                     zero_stage=3 if num_gpus > 1 else 0)
    est = estimator(trial, Hardware(gpu=gpu, num_gpus=num_gpus), catalog)
    return est.memory.peak_gb_per_gpu <= gpu.memory_gb * (1 - margin), est.memory.peak_gb_per_gpu


def _options(job: Job, sit: Situation, catalog, estimator) -> dict[str, Comparison]:
    """The cheapest way to run each method within the user's GPU constraints (no budget filter: we want costs)."""
    flt = Filters(gpus=(sit.gpu,) if sit.gpu else (), max_gpus=sit.max_gpus, pricings=sit.pricings,
                  platforms=sit.platforms)
    out = {}
    for method in ("qlora", "lora", "full"):
        light = job.with_(method=method, grad_ckpt=True, micro_batch=1)
        out[method] = compare_job(light, catalog, flt, estimator=estimator)
    return out


def _cheapest(cmp: Comparison) -> float | None:
    return total_usd(cmp.ranked[cmp.cheapest][1]) if cmp.ranked else None


def decide(job: Job, sit: Situation, catalog, *, estimator=None, margin: float = DEFAULT_SAFETY_MARGIN) -> MethodChoice:
    """Apply the decision flow; every branch taken is explained with the numbers behind it."""
    from frugaltune.plan.search import _default_estimator

    estimator = estimator or _default_estimator
    opts = _options(job, sit, catalog, estimator)
    why: list[str] = []
    low_vram = False
    if sit.gpu:
        gpu = catalog.gpu(sit.gpu)
        fits, peak = _fits_locally(job.with_(method="lora"), gpu, sit.num_gpus, catalog, estimator, margin)
        low_vram = not fits
        why.append(f"LoRA needs at least {peak:.1f} GB per GPU; {sit.num_gpus}x {gpu.name} gives "
                   f"{gpu.memory_gb * (1 - margin):.1f} GB after the {margin:.0%} margin"
                   + (" -> low VRAM" if low_vram else ""))
    lora_usd = _cheapest(opts["lora"])
    tight = sit.budget_usd is not None and (lora_usd is None or lora_usd > sit.budget_usd)
    if sit.budget_usd is not None:
        why.append(f"cheapest LoRA option: {_usd(lora_usd)} vs budget ${sit.budget_usd:,.2f}"
                   + (" -> tight budget" if tight else ""))
    method = _branch(sit, opts, low_vram, tight, why)
    zero = 3 if method == "full" else 0
    dpo = ("then DPO on preference pairs (chosen/rejected) starting from the SFT model; with LoRA the reference "
           "model is the base with adapters disabled, so it costs no second copy of the weights")
    then = [dpo] if sit.alignment else []
    return MethodChoice(method, zero, why, then, opts, tradeoff_matrix(opts, sit.alignment))


def _branch(sit: Situation, opts: dict[str, Comparison], low_vram: bool, tight: bool, why: list[str]) -> str:
    if low_vram:
        why.append("low VRAM -> QLoRA (4-bit base, adapters on every linear layer)")
        return "qlora"
    if tight:
        qlora_usd, lora_usd = _cheapest(opts["qlora"]), _cheapest(opts["lora"])
        if qlora_usd is not None and (lora_usd is None or qlora_usd < lora_usd):
            why.append(f"tight budget -> QLoRA: its cheapest option {_usd(qlora_usd)} undercuts LoRA's "
                       f"{_usd(lora_usd)} (a 4-bit base fits cheaper GPUs)")
            return "qlora"
        why.append(f"tight budget, but QLoRA's cheapest option ({_usd(qlora_usd)}) is no cheaper than LoRA's "
                   f"({_usd(lora_usd)}): 4-bit weights save memory, not compute -> LoRA")
        return "lora"
    if sit.domain_shift == "large":
        full_usd = _cheapest(opts["full"])
        if full_usd is None:
            why.append("large domain shift, but full fine-tuning fits no allowed GPU setup -> LoRA on every "
                       "linear layer instead")
            return "lora"
        if sit.budget_usd is not None and full_usd > sit.budget_usd:
            why.append(f"large domain shift, but full fine-tuning costs at least {_usd(full_usd)} > budget -> "
                       "LoRA on every linear layer instead")
            return "lora"
        why.append(f"large domain shift -> full fine-tuning with ZeRO-3 (cheapest {_usd(full_usd)})")
        return "full"
    why.append("small domain shift and the budget/VRAM allow it -> LoRA")
    return "lora"


def tradeoff_matrix(opts: dict[str, Comparison], alignment: bool) -> list[dict]:
    """The seed's qualitative matrix, with this job's cheapest peak memory, dollars and hours beside it."""
    rows = []
    for method in ("lora", "qlora", "full"):
        cmp = opts.get(method)
        best = cmp.ranked[cmp.cheapest] if cmp and cmp.ranked else None
        row = {"method": method, **TRADEOFFS[method],
               "peak_gb_per_gpu": best[1].memory.peak_gb_per_gpu if best else None,
               "cheapest_usd": total_usd(best[1]) if best else None,
               "hours": wall_hours(best[1]) if best else None,
               "cheapest_option": f"{best[0].num_gpus}x {best[0].offer.gpu} {best[0].offer.platform}" if best else None,
               "trainable_params": best[1].model.trainable_params if best else None}
        rows.append(row)
    if alignment:
        rows.append({"method": "dpo", **TRADEOFFS["dpo"], "peak_gb_per_gpu": None, "cheapest_usd": None,
                     "hours": None, "cheapest_option": None, "trainable_params": None})
    return rows


def _usd(x: float | None) -> str:
    return "none fits" if x is None else f"${x:,.2f}"
