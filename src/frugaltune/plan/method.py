"""Which method, as a decision flow made concrete with estimates:

    Budget tight / low VRAM?  -> QLoRA
    else large domain shift?  -> full fine-tuning + ZeRO-3
    else                      -> LoRA
    preference alignment needed -> DPO after SFT (whichever SFT method was chosen)

"Low VRAM" and "tight budget" are not left to taste: low VRAM means LoRA (16-bit base) does not fit the user's GPU
even at micro-batch 1 with gradient checkpointing and the safety margin; a tight budget means the cheapest LoRA
option the user allows costs more than the budget. Full fine-tuning that the budget cannot pay for falls back to
LoRA on every linear layer, with the reason printed. A method the user names is kept (the flow still explains what
it would have chosen).

Hardware: `Situation.gpu` without `rent` is the user's own machine (`num_gpus` of that GPU): every figure is
estimated on it and nothing is priced. With `rent`, or without a GPU, the catalog's offers are searched.
"""

from __future__ import annotations

from frugaltune.record import field, record

from frugaltune.estimate.records import Estimate, Hardware, Job
from frugaltune.plan.search import Comparison, Filters, compare_job, hardware_key, total_usd, wall_hours
from frugaltune.plan.settings import DEFAULT_SAFETY_MARGIN, base_job

DOMAIN_SHIFTS = ("small", "large")
TOP_HARDWARE = 3  # settings are tuned on this many of the cheapest hardware options, then the cheapest result wins
# Qualitative columns of the trade-off matrix: the usual rule-of-thumb comparison of the methods (LoRA: Hu et al.
# 2021; QLoRA: Dettmers et al. 2023; DPO: Rafailov et al. 2023). Words, not measurements; the peak memory,
# dollars and hours printed beside them are computed for the user's job.
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


@record(frozen=True)
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
    rent: bool = False  # with `gpu`: search rented offers of it instead of using the user's own machine
    method: str | None = None  # the method the user asked for (None: decided by the flow)

    @property
    def owned(self) -> bool:
        """The user's own `num_gpus` x `gpu`: estimated, not priced."""
        return self.gpu is not None and not self.rent


@record
class MethodChoice:
    method: str
    zero_stage: int
    why: list[str]
    then: list[str] = field(default_factory=list)  # later stages (DPO)
    options: dict[str, Comparison] = field(default_factory=dict)  # per method: the compare behind the decision
    matrix: list[dict] = field(default_factory=list)
    owned: dict[str, Estimate] = field(default_factory=dict)  # per method, on the user's own machine


def _lightest(job: Job, gpu, num_gpus: int, catalog, estimator) -> Estimate:
    """`job` at its lightest settings on `num_gpus` x `gpu`: micro-batch 1, grad ckpt, ZeRO-3 if > 1 GPU."""
    trial = base_job(job, gpu).with_(micro_batch=1, grad_ckpt=True, num_gpus=num_gpus,
                                     zero_stage=3 if num_gpus > 1 else 0)
    return estimator(trial, Hardware(gpu=gpu, num_gpus=num_gpus), catalog)


def _fits_locally(job: Job, gpu, num_gpus: int, catalog, estimator, margin: float) -> tuple[bool, float]:
    """Does `job` fit `num_gpus` x `gpu` at its lightest settings? With tensor / pipeline / context parallel degrees
    that `num_gpus` cannot hold, per GPU on the fewest GPUs that hold them (the VRAM question is per GPU)."""
    model_parallel = job.model_parallel
    if num_gpus % model_parallel:
        num_gpus = model_parallel * -(-num_gpus // model_parallel)
    peak = _lightest(job, gpu, num_gpus, catalog, estimator).memory.peak_gb_per_gpu
    return peak <= gpu.memory_gb * (1 - margin), peak


@record(frozen=True)
class Best:
    """A method's cheapest option: where it runs, its estimate, and its dollars (None on the user's own GPU)."""

    where: str
    estimate: Estimate
    usd: float | None


def _options(job: Job, sit: Situation, catalog, estimator) -> dict[str, Comparison]:
    """The cheapest way to run each method within the user's GPU constraints (no budget filter: we want costs); each
    comparison holds at least the TOP_HARDWARE first distinct options (`compare_job`'s `top`)."""
    if sit.owned:
        return {}
    flt = Filters(gpus=(sit.gpu,) if sit.gpu else (), max_gpus=sit.max_gpus, pricings=sit.pricings,
                  platforms=sit.platforms)
    out = {}
    for method in ("qlora", "lora", "full"):
        light = job.with_(method=method, grad_ckpt=True, micro_batch=1)
        out[method] = compare_job(light, catalog, flt, estimator=estimator, top=TOP_HARDWARE, distinct=hardware_key)
    return out


def more_options(job: Job, sit: Situation, catalog, estimator, method: str, top: int) -> Comparison:
    """The comparison of `_options` for one method, holding the `top` first distinct options (recommend reaches past
    the first TOP_HARDWARE when none of them has settings that fit within the margin)."""
    flt = Filters(gpus=(sit.gpu,) if sit.gpu else (), max_gpus=sit.max_gpus, pricings=sit.pricings,
                  platforms=sit.platforms)
    light = job.with_(method=method, grad_ckpt=True, micro_batch=1)
    return compare_job(light, catalog, flt, estimator=estimator, top=top, distinct=hardware_key)


def _owned_estimates(job: Job, sit: Situation, catalog, estimator) -> dict[str, Estimate]:
    """Each method at its lightest settings on the user's own machine (see `_fits_locally`)."""
    if not sit.owned:
        return {}
    gpu = catalog.gpu(sit.gpu)
    return {m: _lightest(job.with_(method=m), gpu, sit.num_gpus, catalog, estimator) for m in ("qlora", "lora", "full")}


def best_options(opts: dict[str, Comparison], owned: dict[str, Estimate], sit: Situation, margin: float) -> dict[str, Best | None]:
    """Per method: its cheapest rented option, or the user's own machine when it fits there; None: nothing fits."""
    out: dict[str, Best | None] = {}
    for method in ("qlora", "lora", "full"):
        if sit.owned:
            est = owned[method]
            fits = est.memory.peak_gb_per_gpu <= est.hardware.gpu_memory_gb * (1 - margin)
            out[method] = Best(f"{sit.num_gpus}x {sit.gpu} (yours)", est, None) if fits else None
            continue
        cmp = opts.get(method)
        ce = cmp.ranked[cmp.cheapest] if cmp is not None and cmp.ranked else None
        out[method] = None if ce is None else Best(option_label(ce[0]), ce[1], total_usd(ce[1]))
    return out


def option_label(cand) -> str:
    """'1x A10 lambda gpu_1x_a10 us-east-1 (on-demand)': the machine, as the settings card and the trade-off
    matrix name it."""
    o = cand.offer
    region = "" if o.region in ("", "n/a") else f" {o.region}"  # a serverless offer has no region to name
    return f"{cand.num_gpus}x {o.gpu} {o.platform} {o.instance}{region} ({cand.pricing})"


def decide(job: Job, sit: Situation, catalog, *, estimator=None, margin: float = DEFAULT_SAFETY_MARGIN) -> MethodChoice:
    """Apply the decision flow; every branch taken is explained with the numbers behind it."""
    from frugaltune.plan.search import _default_estimator

    estimator = estimator or _default_estimator
    opts = _options(job, sit, catalog, estimator)
    owned = _owned_estimates(job, sit, catalog, estimator)
    best = best_options(opts, owned, sit, margin)
    why: list[str] = []
    low_vram = False
    if sit.gpu:
        gpu = catalog.gpu(sit.gpu)
        fits, peak = _fits_locally(job.with_(method="lora"), gpu, sit.num_gpus, catalog, estimator, margin)
        low_vram = not fits
        why.append(f"LoRA needs at least {peak:.1f} GB per GPU; {sit.num_gpus}x {gpu.name} gives "
                   f"{gpu.memory_gb * (1 - margin):.1f} GB after the {margin:.0%} margin"
                   + (" -> low VRAM" if low_vram else ""))
    tight = _tight_budget(sit, best, why)
    method = _branch(sit, best, low_vram, tight, why)
    if method == "full" and job.use_dora and not sit.method:
        why.append("DoRA (--dora) trains adapters, which full fine-tuning has none of -> LoRA on every linear layer")
        method = "lora"
    if sit.method and sit.method != method:
        why.append(f"--method {sit.method} as you asked (the flow above would pick {method})")
        method = sit.method
    zero = 3 if method == "full" else 0
    dpo = ("then DPO on preference pairs (chosen/rejected) starting from the SFT model; with LoRA the reference "
           "model is the base with adapters disabled, so it costs no second copy of the weights")
    then = [dpo] if sit.alignment else []
    return MethodChoice(method, zero, why, then, opts, tradeoff_matrix(best, sit.alignment), owned)


def _tight_budget(sit: Situation, best: dict[str, Best | None], why: list[str]) -> bool:
    if sit.budget_usd is None:
        return False
    if sit.owned:
        why.append("your own GPU: training on it costs no rent, so the budget does not limit the method")
        return False
    lora_usd = _usd_of(best["lora"])
    tight = lora_usd is None or lora_usd > sit.budget_usd
    why.append(f"cheapest LoRA option at its lightest settings (micro-batch 1, checkpointing): {_usd(lora_usd)} "
               f"vs budget ${sit.budget_usd:,.2f}"
               + (" -> tight budget" if tight else ""))
    return tight


def _usd_of(best: Best | None) -> float | None:
    return None if best is None else best.usd


def _branch(sit: Situation, best: dict[str, Best | None], low_vram: bool, tight: bool, why: list[str]) -> str:
    if low_vram:
        why.append("low VRAM -> QLoRA (4-bit base, adapters on every linear layer)")
        return "qlora"
    if tight:
        qlora_usd, lora_usd = _usd_of(best["qlora"]), _usd_of(best["lora"])
        if qlora_usd is not None and (lora_usd is None or qlora_usd < lora_usd):
            why.append(f"tight budget -> QLoRA: its cheapest option {_usd(qlora_usd)} undercuts LoRA's "
                       f"{_usd(lora_usd)} (a 4-bit base fits cheaper GPUs)")
            return "qlora"
        why.append(f"tight budget, but QLoRA's cheapest option ({_usd(qlora_usd)}) is no cheaper than LoRA's "
                   f"({_usd(lora_usd)}): 4-bit weights save memory, not compute -> LoRA")
        return "lora"
    if sit.domain_shift == "large":
        return _large_shift(sit, best["full"], why)
    why.append("small domain shift and the budget/VRAM allow it -> LoRA")
    return "lora"


def _large_shift(sit: Situation, full: Best | None, why: list[str]) -> str:
    if full is None:
        where = f"does not fit your {sit.num_gpus}x {sit.gpu}" if sit.owned else "fits no allowed GPU setup"
        why.append(f"large domain shift, but full fine-tuning {where} -> LoRA on every linear layer instead")
        return "lora"
    if sit.budget_usd is not None and full.usd is not None and full.usd > sit.budget_usd:
        why.append(f"large domain shift, but full fine-tuning costs at least {_usd(full.usd)} > budget -> "
                   "LoRA on every linear layer instead")
        return "lora"
    cost = "" if full.usd is None else f" (cheapest {_usd(full.usd)})"
    why.append(f"large domain shift -> full fine-tuning with ZeRO-3{cost}")
    return "full"


def tradeoff_matrix(best: dict[str, Best | None], alignment: bool) -> list[dict]:
    """The qualitative matrix, with this job's peak memory, dollars and hours on each method's cheapest option."""
    rows = []
    for method in ("lora", "qlora", "full"):
        b = best.get(method)
        rows.append(matrix_row(method, b))
    if alignment:
        rows.append({"method": "dpo", **TRADEOFFS["dpo"], "peak_gb_per_gpu": None, "cheapest_usd": None,
                     "hours": None, "cheapest_option": None, "trainable_params": None})
    return rows


def matrix_row(method: str, b: Best | None) -> dict:
    """One method's row: the words of TRADEOFFS and the numbers of `b` (None: nothing fits)."""
    e = None if b is None else b.estimate
    return {"method": method, **TRADEOFFS[method], "peak_gb_per_gpu": e.memory.peak_gb_per_gpu if e else None,
            "cheapest_usd": b.usd if b else None, "hours": wall_hours(e) if e else None,
            "cheapest_option": b.where if b else None, "trainable_params": e.model.trainable_params if e else None}


def _usd(x: float | None) -> str:
    """'none fits', or dollars to the cent (four decimals below a cent, never '$0.00' for a real cost)."""
    if x is None:
        return "none fits"
    return f"${x:.4f}" if 0 < x < 0.01 else f"${x:,.2f}"
