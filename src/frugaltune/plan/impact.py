"""`impact`: the "optimization impact" table, computed: every combination of method, precision, gradient
checkpointing, packing and optimizer for one model on one GPU, with memory, fit, speed, hours, dollars and the
change against a no-optimization baseline (full fine-tuning, fp32, no checkpointing, no packing, AdamW).
"""

from __future__ import annotations

from frugaltune.record import field, record
from itertools import product

from frugaltune.estimate.records import Estimate, Hardware, Job
from frugaltune.plan.search import total_usd, wall_hours

# Each axis: (name, values). The first value of each axis is the baseline ("no optimization").
AXES = {
    "method": ("full", "lora", "qlora"),
    "precision": ("fp32", "mixed"),  # mixed = bf16 where the GPU has it, else fp16
    "grad_ckpt": (False, True),
    "packing": (False, True),
    "optimizer": ("adamw", "adamw8bit"),
}


def select_axes(names: list[str]) -> dict:
    """The AXES named (all when none); unknown names are a ConfigError with a suggestion."""
    from frugaltune.errors import ConfigError, did_you_mean

    for n in names:
        if n not in AXES:
            raise ConfigError(f"--vary: unknown axis '{n}'.{did_you_mean(n, AXES)}", fix=f"use any of {', '.join(AXES)}")
    return {k: v for k, v in AXES.items() if not names or k in names}


@record
class ImpactRow:
    settings: dict
    estimate: Estimate
    speedup: float  # baseline hours / these hours
    usd_saved: float | None  # baseline dollars - these dollars
    pct_saved: float | None
    baseline: bool = False


@record
class Impact:
    rows: list[ImpactRow]
    best: int | None  # index of the cheapest row that fits (fastest when unpriced)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        out = []
        for i, r in enumerate(self.rows):
            e = r.estimate
            out.append({**r.settings, "precision_used": e.job.precision, "peak_gb_per_gpu": e.memory.peak_gb_per_gpu,
                        "fits": e.memory.fits, "tokens_per_sec": e.throughput.tokens_per_sec, "hours": wall_hours(e),
                        "total_cost": e.cost_breakdown.total_cost, "speedup": r.speedup, "usd_saved": r.usd_saved,
                        "pct_saved": r.pct_saved, "baseline": r.baseline, "best": i == self.best})
        return {"rows": out, "best": self.best, "notes": self.notes, "schema_version": 1}


def _variants(job: Job, gpu, axes: dict) -> list[tuple[dict, Job]]:
    mixed = "bf16" if gpu.bf16_supported else "fp16"
    out = []
    for combo in product(*axes.values()):
        s = dict(zip(axes, combo))
        if s.get("method") == "qlora" and s.get("precision") == "fp32":
            continue  # bitsandbytes 4-bit layers compute in 16-bit; an fp32 QLoRA row would be fiction
        changes = {k: v for k, v in s.items() if k != "precision"}
        if "precision" in s:
            changes["precision"] = mixed if s["precision"] == "mixed" else "fp32"
        out.append((s, job.with_(**changes)))
    return out


def impact_table(job: Job, hw: Hardware, catalog, *, axes: dict | None = None, estimator=None) -> Impact:
    """Estimate every combination of `axes` (default AXES) for `job` on `hw`; the first combination is the baseline.

    Rows are in enumeration order (baseline first); `best` marks the cheapest row that fits.
    """
    from frugaltune.plan.search import _default_estimator

    estimator = estimator or _default_estimator
    axes = axes or AXES
    variants = _variants(job, hw.gpu, axes)
    ests = [estimator(j, hw, catalog) for _s, j in variants]
    base_h, base_usd = wall_hours(ests[0]), ests[0].cost_breakdown.total_cost
    rows = []
    for (s, _j), e in zip(variants, ests):
        usd = e.cost_breakdown.total_cost
        saved = None if usd is None or base_usd is None else base_usd - usd
        pct = None if saved is None or not base_usd else 100.0 * saved / base_usd
        hours = wall_hours(e)
        rows.append(ImpactRow(s, e, base_h / hours if hours > 0 else 1.0, saved, pct))
    rows[0].baseline = True
    fitting = [i for i, r in enumerate(rows) if r.estimate.memory.fits]
    best = min(fitting, key=lambda i: (total_usd(rows[i].estimate), wall_hours(rows[i].estimate)), default=None)
    notes = [] if rows[0].estimate.memory.fits else \
        ["the baseline does not fit this GPU: its hours and dollars are what it would take if it did"]
    return Impact(rows, best, notes)
