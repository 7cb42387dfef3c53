"""Score the estimator on published measurements: residuals ln(measured / estimated) per row, grouped by metric,
method, GPU class and source; like for like (allocated vs allocated, reserved vs reserved, nvidia-smi vs the
planning value; real tokens vs real tokens).

Shared by estimator_accuracy.py (the report), fit_calibration.py (the fit, leave-one-source-out, the bands) and
tests/estimate/test_estimator_accuracy.py (bars and band coverage on the reference data).
"""

from __future__ import annotations

import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibration_rows import Case, load_cases  # noqa: E402
from measurement_rows import load_rows  # noqa: E402

from frugaltune.estimate.estimator import estimate  # noqa: E402
from frugaltune.estimate.gpu_class import gpu_class  # noqa: E402

OUT_OF_SAMPLE = Path(__file__).resolve().parent / "data" / "out_of_sample.csv"


def all_cases(catalog) -> dict[str, list[Case]]:
    """{'fit': reference + fit rows, 'heldout': held-out rows (never fit on)}, skipped rows included."""
    heldout = load_rows(catalog, "heldout")
    sources = {c.source for c in heldout}
    extra = [c for c in out_of_sample_cases(catalog) if c.source not in sources]  # older copy of a held-out source
    return {"fit": load_cases(catalog) + load_rows(catalog, "fit"), "heldout": heldout + extra}


def out_of_sample_cases(catalog) -> list[Case]:
    """bench/data/out_of_sample.csv (PEFT MetaMathQA, L40S): reserved peak, real tokens of length-bucketed batches."""
    import csv

    from frugaltune.estimate.records import Hardware, Job

    out = []
    with open(OUT_OF_SAMPLE, newline="", encoding="utf-8") as fh:
        for line, r in enumerate(csv.DictReader(fh), start=2):
            mean = float(r["mean_tokens_per_sample"])
            job = Job(model=catalog.model(r["model"]), method=r["method"], precision=r["precision"],
                      micro_batch=int(r["micro_batch"]), seq_len=int(r["seq_len"]), packing=r["packing"] == "true",
                      grad_ckpt=r["grad_ckpt"] == "true", tokens_per_sample=mean, padded_tokens_per_sample=mean,
                      longest_sample_tokens=int(r["seq_len"]), lora_r=int(r["lora_r"] or 8),
                      lora_targets=tuple(r["lora_targets"].split("|")) if r["lora_targets"] else ("q_proj",),
                      framework="hf-trainer")
            out.append(Case(row=r, line=line, source=r["source"], method=r["method"], tag="MEASURED",
                            job=job, hw=Hardware(gpu=catalog.gpu(r["gpu"])), mem_gb=float(r["measured_peak_gb"]),
                            tokens_per_s=float(r["measured_tokens_per_sec"]), mem_kind="reserved", split="heldout"))
    return out


def predicted_memory_gb(est: dict, kind: str) -> float:
    m = est["memory"]
    return {"allocated": m["peak_allocated_gb"], "reserved": m["peak_reserved_gb"]}.get(kind, m["peak_gb_per_gpu"])


def residuals(cases: list[Case], coef=None) -> list[dict]:
    """One record per scored measurement: metric, method, class, source, ln(measured/estimated), the band."""
    out = []
    for c in cases:
        if c.skip:
            continue
        est = estimate(c.job, c.hw, coef=coef).to_json()
        base = {"method": c.method, "cls": gpu_class(c.hw.gpu), "source": c.source.split(" (")[0], "case": c,
                "split": c.split}
        if c.tag == "OOM":
            out.append({**base, "metric": "oom", "ok": not est["memory"]["fits"]})
            continue
        if c.mem_gb:
            got = predicted_memory_gb(est, c.mem_kind)
            m = est["memory"]
            band = m["peak_gb_range"]
            shift = m["peak_gb_per_gpu"] - got  # the band is on the planning value; compare like for like
            floor = static_gb(m) - shift  # the band's low end never goes below the exact states (estimate/bands.py)
            out.append({**base, "metric": "memory", "r": math.log(c.mem_gb / got), "measured": c.mem_gb,
                        "estimated": got, "r_floor": math.log(floor / got) if floor > 0 else -math.inf,
                        "band": [b - shift for b in band] if band else None})
        if c.tokens_per_s:
            got = est["throughput"]["tokens_per_sec_per_gpu"] * c.tokens_ratio
            band = est["throughput"]["tokens_per_sec_range"]
            scale = got / est["throughput"]["tokens_per_sec"]
            out.append({**base, "metric": "tokens/s", "r": math.log(c.tokens_per_s / got), "measured": c.tokens_per_s,
                        "estimated": got, "r_floor": -math.inf,
                        "band": [b * scale for b in band] if band else None})
    return out


def static_gb(memory: dict) -> float:
    """The JSON twin of estimate/bands.py static_gb: weights, optimizer states (master weights included) and the
    quantisation workspace, exact, where a memory band's low end stops."""
    return memory["weights_gb"] + memory["optimizer_gb"] + memory["quant_workspace_gb"]


def abs_pct(r: float) -> float:
    """|estimate / measurement - 1| in %, from r = ln(measured / estimated)."""
    return abs(math.exp(-r) - 1.0) * 100.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def grouped(res: list[dict], metric: str, key: str | None) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for x in res:
        if x["metric"] == metric:
            groups["all" if key is None else x[key]].append(x)
    return dict(groups)


def summary(rows: list[dict]) -> tuple[int, float, float]:
    """(n, median abs %, p80 abs %)."""
    errs = [abs_pct(x["r"]) for x in rows]
    return len(errs), statistics.median(errs), percentile(errs, 0.8)


def coverage(rows: list[dict]) -> float | None:
    """Share of measurements inside their estimate's 80 % band."""
    banded = [x for x in rows if x.get("band")]
    if not banded:
        return None
    return sum(b[0] <= x["measured"] <= b[1] for x in banded for b in [x["band"]]) / len(banded)


def table(res: list[dict], title: str) -> list[str]:
    """Lines: per metric, all / per method / per GPU class / per source: n, median, p80, band coverage."""
    lines = [title, f"{'metric':9} {'group':34} {'n':>4} {'median %':>9} {'p80 %':>7} {'in band':>8}"]
    for metric in ("memory", "tokens/s"):
        for key in (None, "method", "cls", "source"):
            for name, rows in sorted(grouped(res, metric, key).items()):
                n, med, p80 = summary(rows)
                cov = coverage(rows)
                cov_text = f"{cov:7.0%}" if cov is not None else "      -"
                lines.append(f"{metric:9} {(key or '') + ' ' + name:34.34} {n:4d} {med:9.1f} {p80:7.1f} {cov_text:>8}")
    ooms = [x for x in res if x["metric"] == "oom"]
    if ooms:
        lines.append(f"OOM rows predicted not to fit: {sum(x['ok'] for x in ooms)}/{len(ooms)}")
    return lines
