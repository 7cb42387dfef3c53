"""Fit the estimator's physical coefficients (estimate/calibration.py) on the published measurements and write
src/frugaltune/catalog/data/estimator_calibration.json.

Objective, per metric (memory, tokens/s): for each method (full, lora, qlora) the median absolute % error plus half
the 80th percentile (so the tail counts too), summed. Coordinate descent over bounded log-spaced grids.
No per-source constant exists in the model: every coefficient is a property of the method, the GPU class or the
software stack (activation bytes, logits copies, allocator overhead, MFU ceilings, per-step overheads, bandwidth
efficiencies, multi-GPU scaling).
Run: .venv/bin/python bench/fit_calibration.py [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import date
from pathlib import Path

from frugaltune.record import asdict, replace

sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibration_rows import load_cases  # noqa: E402
from estimator_accuracy import percentile, score  # noqa: E402

from frugaltune.catalog.load import load_catalog  # noqa: E402
from frugaltune.estimate.calibration import CALIBRATION_FILE, Coefficients  # noqa: E402

# (path, low, high): path is "field" or "field.key" for dict fields.
MEMORY_PARAMS = [("activation_scale", 0.5, 1.5), ("logits_bytes_per_element", 4.0, 18.0),
                 ("overhead_fixed_bytes", 0.2e9, 1.5e9), ("overhead_fraction", 0.005, 0.15)]
SPEED_PARAMS = [("method_mfu.full", 0.2, 0.8), ("method_mfu.lora", 0.2, 0.8), ("method_mfu.qlora", 0.2, 0.8),
                ("class_factor.hopper", 0.4, 1.3), ("step_overhead_s.full", 0.002, 0.4),
                ("step_overhead_s.lora", 0.002, 0.4), ("step_overhead_s.qlora", 0.002, 0.4),
                ("dequant_bandwidth_efficiency", 0.02, 1.0), ("gather_bandwidth_efficiency", 0.02, 1.0),
                ("scaling_per_doubling", 0.7, 1.0)]
METHODS = ("full", "lora", "qlora")


def get(coef: Coefficients, path: str) -> float:
    field, _, key = path.partition(".")
    value = getattr(coef, field)
    return value[key] if key else value


def put(coef: Coefficients, path: str, value: float) -> Coefficients:
    field, _, key = path.partition(".")
    if key:
        return replace(coef, **{field: {**getattr(coef, field), key: value}})
    return replace(coef, **{field: value})


def objective(cases, coef: Coefficients, kind: str) -> float:
    errors = score(cases, coef)["errors"]
    total = 0.0
    for method in METHODS:
        errs = errors.get((kind, method), [])
        if errs:
            total += statistics.median(errs) + 0.5 * percentile(errs, 0.8)
    return total


def coordinate_descent(cases, coef: Coefficients, params, kind: str, sweeps: int = 3, steps: int = 17):
    best = objective(cases, coef, kind)
    for _ in range(sweeps):
        for path, lo, hi in params:
            for i in range(steps):
                value = lo * (hi / lo) ** (i / (steps - 1))
                trial = put(coef, path, value)
                val = objective(cases, trial, kind)
                if val < best - 1e-9:
                    best, coef = val, trial
        print(f"  {kind}: objective {best:.2f}", flush=True)
    return coef, best


def fit(cases) -> tuple[Coefficients, float, float]:
    coef, mem_obj = coordinate_descent(cases, Coefficients(), MEMORY_PARAMS, "memory")
    coef, speed_obj = coordinate_descent(cases, coef, SPEED_PARAMS, "tokens/s")
    return coef, mem_obj, speed_obj


def leave_one_source_out(cases) -> None:
    """Generalisation check: fit without each source, score on that source only (out-of-sample)."""
    sources = sorted({c.source for c in cases})
    print("\nleave-one-source-out (fit on the other sources, score the held-out one):")
    for source in sources:
        train = [c for c in cases if c.source != source]
        test = [c for c in cases if c.source == source]
        coef, _, _ = fit(train)
        errors = score(test, coef)["errors"]
        for kind in ("memory", "tokens/s"):
            errs = errors.get((kind, "all"), [])
            if errs:
                print(f"  held out {source[:40]:40} {kind:9} n={len(errs):3d} median {statistics.median(errs):5.1f} %"
                      f"  p80 {percentile(errs, 0.8):5.1f} %", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="fit and print, do not write the json")
    parser.add_argument("--loso", action="store_true", help="leave-one-source-out generalisation check only")
    args = parser.parse_args()
    cases = [c for c in load_cases(load_catalog()) if not c.skip]
    if args.loso:
        leave_one_source_out(cases)
        return
    coef, mem_obj, speed_obj = fit(cases)
    provenance = {"date": date.today().isoformat(), "script": "bench/fit_calibration.py",
           "data": "shared/reference/measurements_calibration.csv ([MEASURED] rows, mapping in bench/calibration_rows.py)",
           "rows_used": len(cases), "objective_memory": round(mem_obj, 2), "objective_tokens_per_s": round(speed_obj, 2)}
    out = asdict(replace(coef, fit=provenance))
    print(json.dumps(out, indent=2))
    if not args.dry_run:
        with open(CALIBRATION_FILE, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(out, indent=2) + "\n")
        print(f"wrote {CALIBRATION_FILE}")


if __name__ == "__main__":
    main()
