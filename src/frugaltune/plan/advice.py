"""When nothing works: say why every option failed and search relaxed versions of the question for what would.

Relaxations are tried in the order a user would accept them: drop the budget/deadline (how far off is the
cheapest?), same method on more or bigger GPUs, then a lighter method (LoRA, QLoRA) with gradient checkpointing.
"""

from __future__ import annotations

from collections import Counter
from frugaltune.record import replace

from frugaltune.errors import InfeasiblePlanError
from frugaltune.estimate.records import Job
from frugaltune.plan.search import Comparison, Filters, compare_job, total_usd, wall_hours

_LIGHTER = {"full": ("lora", "qlora"), "lora": ("qlora",), "qlora": ()}


def describe(cand, est) -> str:
    """'1x A10 on lambda (on-demand): $1.23, 2.5 h' for one ranked option."""
    o = cand.offer
    return (f"{cand.num_gpus}x {o.gpu} on {o.platform} {o.instance} ({cand.pricing}, zero {est.job.zero_stage}): "
            f"${total_usd(est):,.2f}, {wall_hours(est):,.2f} h")


def reason_summary(cmp: Comparison, top: int = 4) -> str:
    """'does not fit: 27, no spot price for this offer: 12, ...' (reasons grouped by their first words)."""
    kinds = Counter(r.reason.split(":")[0].split(" (")[0] for r in cmp.rejected)
    return ", ".join(f"{k}: {n}" for k, n in kinds.most_common(top))


def _best(cmp: Comparison):
    return cmp.ranked[cmp.cheapest] if cmp.ranked else None


def alternatives(job: Job, catalog, flt: Filters, estimator=None, limit: int = 3) -> list[str]:
    """Up to `limit` concrete options that would work if the user relaxed one thing."""
    tries: list[tuple[str, Job, Filters]] = []
    if flt.budget_usd is not None or flt.max_hours is not None:
        tries.append(("without the budget/deadline", job, replace(flt, budget_usd=None, max_hours=None)))
    wide = replace(flt, gpus=(), platforms=(), max_gpus=8, min_gpus=1)
    if wide != flt:
        tries.append(("on any GPU and platform (up to 8 GPUs)", job, wide))
    for method in _LIGHTER[job.method]:
        lighter = job.with_(method=method, grad_ckpt=True, micro_batch=1)
        tries.append((f"with --method {method} --grad-ckpt --micro-batch 1", lighter, flt))
        tries.append((f"with --method {method} on any GPU", lighter, wide))
    out = []
    for label, j, f in tries:
        best = _best(compare_job(j, catalog, f, estimator=estimator, top=1))  # only the cheapest is read
        if best is not None:
            out.append(f"{label}: {describe(*best)}")
        if len(out) >= limit:
            break
    return out


def require_options(cmp: Comparison, catalog, flt: Filters, estimator=None) -> Comparison:
    """Return `cmp` when it has at least one option; otherwise raise InfeasiblePlanError saying what would work."""
    if cmp.ranked:
        return cmp
    job = cmp.job
    what = f"{job.method} fine-tuning of {job.model.name}"
    if not cmp.rejected:
        raise InfeasiblePlanError(f"no offer in the catalog matches your filters for {what}.",
                                  fix=filter_hint(catalog, flt))
    alts = alternatives(job, catalog, flt, estimator)
    fix = ("what would work instead: " + "; ".join(alts)) if alts else \
        "no relaxation tried works either: use a smaller model, shorter --seq-len, or add a larger GPU to the catalog"
    raise InfeasiblePlanError(f"none of the {len(cmp.rejected)} options works for {what} "
                              f"({reason_summary(cmp)}).", fix=fix)


def filter_hint(catalog, flt: Filters) -> str:
    """Where the filtered GPUs are offered and which GPUs the filtered platforms offer."""
    offers = list(catalog.offers)
    parts = []
    for gpu in flt.gpus:
        where = sorted({o.platform for o in offers if o.gpu == gpu})
        sizes = sorted({o.gpus_per_instance for o in offers if o.gpu == gpu})
        parts.append(f"{gpu} is offered on {', '.join(where) or 'no platform'} (GPUs per instance: "
                     f"{', '.join(map(str, sizes)) or '-'})")
    for platform in flt.platforms:
        gpus = sorted({o.gpu for o in offers if o.platform == platform})
        parts.append(f"{platform} offers {', '.join(gpus) or 'nothing'}")
    if flt.pricings == ("spot",):
        parts.append("spot prices exist on " + ", ".join(sorted({o.platform for o in offers if o.spot_usd_per_gpu_hour})))
    parts.append(f"--max-gpus is {flt.max_gpus}; whole-node offers need their full GPU count")
    return "; ".join(parts) + "."
