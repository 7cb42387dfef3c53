"""Fit the estimator's physical coefficients on the published measurements, measure its out-of-sample error, and
write the coefficients and the 80 % bands the product ships.

Data: bench/data/measurements_reference.csv (bench/calibration_rows.py) and bench/data/measurements_fit.csv
(bench/measurement_rows.py). bench/data/measurements_heldout.csv and out_of_sample.csv are never fit on: they are
only scored, with the final coefficients.

Objective, per metric (memory, tokens/s): over (source, method) groups weighted by sqrt(rows), the median
|ln(measured / estimated)| plus half its 80th percentile; OOM rows predicted to fit cost 0.005 each.
Coordinate descent over bounded log-spaced grids. Every coefficient is a property of the method, the GPU class, the
kernel class or the software stack (estimate/calibration.py); none belongs to a source.

Leave-one-source-out (LOSO): for each source, fit on all the others and score that source. Those residuals are the
headline error and, per method x GPU class, the bands (catalog/data/estimator_bands.json).
Run: .venv/bin/python bench/fit_calibration.py [--dry-run] [--no-loso] [--sweeps N]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scoring import all_cases, percentile, residuals, table  # noqa: E402

from frugaltune.catalog.load import load_catalog  # noqa: E402
from frugaltune.estimate import peak  # noqa: E402
from frugaltune.estimate.bands import BANDS_FILE  # noqa: E402
from frugaltune.estimate.calibration import CALIBRATION_FILE, Coefficients  # noqa: E402
from frugaltune.estimate.estimator import _throughput, effective_precision  # noqa: E402
from frugaltune.estimate.gpu_class import gpu_class  # noqa: E402
from frugaltune.estimate.stack import resolve_stack, sharded_precision  # noqa: E402
from frugaltune.record import asdict, replace  # noqa: E402

# (path, low, high): path is "field" or "field.key" for dict fields; low 0 adds 0 to the grid.
MEMORY_PARAMS = [("activation_scale", 0.5, 1.5), ("logits_bytes_per_element", 4.0, 16.0),
                 ("chunked_bytes_per_logit", 0.0, 6.0), ("overhead_fixed_bytes", 0.2e9, 1.5e9),
                 ("overhead_fraction", 0.005, 0.25), ("variable_length_fragmentation", 0.02, 1.0),
                 ("recompute_working_layers", 0.5, 4.0)]
SPEED_PARAMS = [("method_mfu.full", 0.2, 0.9), ("method_mfu.lora", 0.2, 0.9), ("method_mfu.qlora", 0.2, 0.9),
                ("step_overhead_s.full", 0.002, 0.4), ("step_overhead_s.lora", 0.002, 0.4),
                ("step_overhead_s.qlora", 0.002, 0.4), ("elementwise_passes.hf", 0.0, 40.0),
                ("elementwise_passes.fused", 0.0, 40.0), ("dequant_bandwidth_efficiency", 0.02, 1.0),
                ("gather_bandwidth_efficiency", 0.02, 1.0), ("scaling_per_doubling", 0.7, 1.0),
                ("fp8_efficiency", 0.2, 1.0), ("power_pj_per_flop", 0.0, 2.0)]
REFERENCE_CLASS = "ampere-datacenter"  # method ceilings are per method on this class; others are relative to it
OOM_PENALTY = 0.005  # per [OOM] row predicted to fit
MIN_BAND_ROWS = 8  # fewer LOSO residuals than this: the group borrows a wider band (estimate/bands.py)


def get(coef: Coefficients, path: str) -> float:
    field, _, key = path.partition(".")
    value = getattr(coef, field)
    return value.get(key, 1.0) if key else value


def put(coef: Coefficients, path: str, value: float) -> Coefficients:
    field, _, key = path.partition(".")
    if key:
        return replace(coef, **{field: {**getattr(coef, field), key: value}})
    return replace(coef, **{field: value})


class Evaluator:
    """Fast per-case memory and speed for many coefficient trials (the stack and precision resolved once)."""

    def __init__(self, cases):
        self.rows = []
        for c in cases:
            if c.skip:
                continue
            job = c.job.with_(num_gpus=c.hw.num_gpus)
            stack = resolve_stack(job)
            precision = sharded_precision(job, effective_precision(c.job.precision, c.hw.gpu, []), stack)
            state = peak.memory_breakdown(job, precision, Coefficients(), stack)
            self.rows.append((c, job, precision, stack, state))

    def memory_errors(self, coef: Coefficients) -> tuple[dict, int]:
        groups, wrong_oom = {}, 0
        for c, job, precision, stack, _state in self.rows:
            m = peak.memory_breakdown(job, precision, coef, stack)
            if c.tag == "OOM":
                wrong_oom += m.peak <= c.hw.gpu.memory_gb * 1e9
                continue
            if c.mem_gb:
                got = {"allocated": m.allocated, "reserved": m.reserved}.get(c.mem_kind, m.peak) / 1e9
                groups.setdefault((c.source, c.method), []).append(abs(math.log(c.mem_gb / got)))
        return groups, wrong_oom

    def speed_errors(self, coef: Coefficients) -> dict:
        groups = {}
        for c, job, precision, stack, state in self.rows:
            if c.tag == "OOM" or not c.tokens_per_s:
                continue
            tp = _throughput(job, c.hw, precision, stack, state, coef)
            got = tp.tokens_per_sec_per_gpu * c.tokens_ratio
            groups.setdefault((c.source, c.method), []).append(abs(math.log(c.tokens_per_s / got)))
        return groups


def balanced(groups: dict) -> float:
    """Mean over (source, method) groups of median + p80/2 of |ln error|, each group weighted by sqrt(rows): a
    large source counts more than a one-row one, but not in proportion to its size."""
    if not groups:
        return 0.0
    weights = {k: math.sqrt(len(v)) for k, v in groups.items()}
    total = sum(weights.values())
    return sum(weights[k] * (statistics.median(v) + 0.5 * percentile(v, 0.8)) for k, v in groups.items()) / total


def objective(ev: Evaluator, coef: Coefficients, kind: str) -> float:
    if kind == "memory":
        groups, wrong = ev.memory_errors(coef)
        return balanced(groups) + OOM_PENALTY * wrong
    return balanced(ev.speed_errors(coef))


def grid(lo: float, hi: float, steps: int) -> list[float]:
    if lo <= 0:
        return [0.0] + [hi / 64 * 64 ** (i / (steps - 2)) for i in range(steps - 1)]
    return [lo * (hi / lo) ** (i / (steps - 1)) for i in range(steps)]


def coordinate_descent(ev: Evaluator, coef: Coefficients, params, kind: str, sweeps: int, steps: int = 13):
    best = objective(ev, coef, kind)
    for _ in range(sweeps):
        for path, lo, hi in params:
            for value in grid(lo, hi, steps):
                trial = put(coef, path, value)
                val = objective(ev, trial, kind)
                if val < best - 1e-9:
                    best, coef = val, trial
    return coef, best


def speed_params(cases) -> list:
    """The speed parameters, plus one MFU factor per GPU class that has tokens/s measurements in `cases`."""
    classes = sorted({gpu_class(c.hw.gpu) for c in cases if not c.skip and c.tokens_per_s} - {REFERENCE_CLASS})
    return SPEED_PARAMS + [(f"class_factor.{cls}", 0.3, 1.5) for cls in classes]


def fit(cases, sweeps: int = 2) -> tuple[Coefficients, float, float]:
    ev = Evaluator(cases)
    start = Coefficients(class_factor={REFERENCE_CLASS: 1.0})
    coef, mem_obj = coordinate_descent(ev, start, MEMORY_PARAMS, "memory", sweeps)
    coef, speed_obj = coordinate_descent(ev, coef, speed_params(cases), "tokens/s", sweeps)
    return coef, mem_obj, speed_obj


def leave_one_source_out(cases, sweeps: int) -> list[dict]:
    """Residuals of every source, each scored with coefficients fit without it."""
    sources = sorted({c.source for c in cases if not c.skip})
    out = []
    for source in sources:
        train = [c for c in cases if c.source != source]
        coef, _, _ = fit(train, sweeps)
        held = residuals([c for c in cases if c.source == source], coef)
        out += held
        print(f"  LOSO {source[:48]:48} rows {len(held):4d}", flush=True)
    return out


def bands_from(loso: list[dict]) -> dict:
    """Per metric: 10th/90th percentiles of LOSO residuals by method x GPU class, by method, and overall."""
    out = {"borrow_widen": 1.5, "min_rows": MIN_BAND_ROWS}
    for metric, name in (("memory", "memory"), ("tokens/s", "tokens_per_s")):
        rows = [x for x in loso if x["metric"] == metric]
        keys: dict[str, list[float]] = {"*|*": [x["r"] for x in rows]}
        for x in rows:
            keys.setdefault(f"{x['method']}|{x['cls']}", []).append(x["r"])
            keys.setdefault(f"{x['method']}|*", []).append(x["r"])
        out[name] = {k: [round(percentile(v, 0.1), 4), round(percentile(v, 0.9), 4), len(v)]
                     for k, v in sorted(keys.items()) if len(v) >= MIN_BAND_ROWS}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="fit and print, write nothing")
    parser.add_argument("--no-loso", action="store_true", help="skip leave-one-source-out (and the bands)")
    parser.add_argument("--sweeps", type=int, default=2)
    args = parser.parse_args()
    catalog = load_catalog()
    sets = all_cases(catalog)
    fit_cases = [c for c in sets["fit"] if not c.skip]
    coef, mem_obj, speed_obj = fit(fit_cases, args.sweeps)
    provenance = {"date": date.today().isoformat(), "script": "bench/fit_calibration.py",
                  "data": "bench/data/measurements_reference.csv + measurements_fit.csv",
                  "rows_used": len(fit_cases), "objective_memory": round(mem_obj, 4),
                  "objective_tokens_per_s": round(speed_obj, 4)}
    out = asdict(replace(coef, fit=provenance))
    print(json.dumps(out, indent=2))
    if not args.dry_run:
        Path(CALIBRATION_FILE).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {CALIBRATION_FILE}")
    print("\n".join(table(residuals(fit_cases, coef), "IN-SAMPLE (fit rows, final coefficients)")))
    if args.no_loso:
        return
    loso = leave_one_source_out(fit_cases, args.sweeps)
    bands = bands_from(loso)
    bands["fit"] = {"date": date.today().isoformat(), "script": "bench/fit_calibration.py",
                    "residuals": "ln(measured / estimated), leave-one-source-out", "rows": len(loso)}
    if not args.dry_run:
        Path(BANDS_FILE).write_text(json.dumps(bands, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {BANDS_FILE}")
    print("\n".join(table(loso, "LEAVE-ONE-SOURCE-OUT (each source scored by a fit without it)")))


if __name__ == "__main__":
    main()
