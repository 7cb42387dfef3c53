"""Estimator accuracy on the published measurements (shared/reference/measurements_calibration.csv).

Prints, per method and per source: n, median and 80th-percentile absolute % error of peak memory per GPU and of
tokens/s/GPU, and how many [OOM] rows are correctly predicted not to fit. Row mapping: bench/calibration_rows.py.
Run: .venv/bin/python bench/estimator_accuracy.py [--rows]  (--rows prints every scored row)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibration_rows import load_cases  # noqa: E402

from frugaltune.catalog.load import load_catalog  # noqa: E402
from frugaltune.estimate.calibration import Coefficients, load_coefficients  # noqa: E402
from frugaltune.estimate.estimator import estimate  # noqa: E402


def pct_error(estimated: float, measured: float) -> float:
    return abs(estimated - measured) / measured * 100.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def score(cases, coef: Coefficients) -> dict:
    """Errors per (kind, group) for every usable case; OOM outcomes."""
    errors: dict[tuple[str, str], list[float]] = defaultdict(list)
    ooms, rows = [], []
    for c in cases:
        if c.skip:
            continue
        est = estimate(c.job, c.hw, coef=coef).to_json()
        peak, tps = est["memory"]["peak_gb_per_gpu"], est["throughput"]["tokens_per_sec_per_gpu"]
        if c.tag == "OOM":
            ooms.append((c, not est["memory"]["fits"], peak))
            continue
        for kind, measured, got in (("memory", c.mem_gb, peak), ("tokens/s", c.tokens_per_s, tps)):
            if measured:
                err = pct_error(got, measured)
                for group in ("all", c.method, c.source.split(" (")[0]):
                    errors[(kind, group)].append(err)
                rows.append((c, kind, measured, got, err))
    return {"errors": errors, "ooms": ooms, "rows": rows}


def print_report(result: dict, cases, show_rows: bool) -> None:
    print(f"{'metric':10} {'group':42} {'n':>4} {'median %':>9} {'p80 %':>8}")
    for (kind, group), errs in sorted(result["errors"].items(), key=lambda kv: (kv[0][0], kv[0][1] != "all")):
        print(f"{kind:10} {group[:42]:42} {len(errs):4d} {statistics.median(errs):9.1f} {percentile(errs, 0.8):8.1f}")
    ooms = result["ooms"]
    print(f"\nOOM rows predicted not to fit: {sum(ok for _, ok, _ in ooms)}/{len(ooms)}")
    for c, ok, peak in ooms:
        print(f"  line {c.line}: {c.row['model']} {c.method} on {c.row['gpu']}: est {peak:.1f} GB -> "
              f"{'does not fit (correct)' if ok else 'FITS (wrong)'}")
    skipped = Counter(c.skip for c in cases if c.skip)
    print(f"\nrows not scored ({sum(skipped.values())} of {len(cases)}):")
    for reason, n in skipped.most_common():
        print(f"  {n:3d}  {reason}")
    if show_rows:
        print("\nline  source                 model            method kind      measured  estimated  err%")
        for c, kind, measured, got, err in result["rows"]:
            print(f"{c.line:4d}  {c.source[:22]:22} {c.row['model'][:16]:16} {c.method:6} {kind:9} {measured:9.1f} "
                  f"{got:10.1f} {err:5.1f}  s={c.job.seq_len} b={c.job.micro_batch} g={c.job.num_gpus}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", action="store_true", help="print every scored row")
    args = parser.parse_args()
    cases = load_cases(load_catalog())
    print_report(score(cases, load_coefficients()), cases, args.rows)


if __name__ == "__main__":
    main()
