"""How right the estimator is, in and out of sample, on published measurements (bench/data, README there).

Prints median and 80th-percentile absolute % error of peak memory per GPU and tokens/s per GPU, overall, per
method, per GPU class and per source, and the share of measurements inside the estimate's 80 % band:
- held-out: bench/data/measurements_heldout.csv (+ out_of_sample.csv rows of sources not in it): whole sources the
  coefficients were never fit on, scored with the shipped coefficients and bands. The number to believe.
- in-sample: the fit rows (measurements_reference.csv + measurements_fit.csv) with the shipped coefficients.
- --loso: leave-one-source-out on the fit rows (refits once per source; minutes), and the bands' out-of-sample
  coverage: bands built without a project, scored on that project (nested). bench/fit_calibration.py prints the
  same when it writes the coefficients.
Run: .venv/bin/python bench/estimator_accuracy.py [--loso] [--rows]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scoring import abs_pct, all_cases, residuals, table  # noqa: E402

from frugaltune.catalog.load import load_catalog  # noqa: E402


def print_rows(res: list[dict]) -> None:
    print(f"\n{'source':26} {'model':16} {'method':6} {'gpu':10} {'metric':8} {'measured':>9} {'estimate':>9} "
          f"{'err %':>6} band")
    for x in sorted(res, key=lambda x: (x["source"], x["metric"])):
        if x["metric"] == "oom":
            continue
        c, band = x["case"], x.get("band")
        inside = "" if not band else ("in" if band[0] <= x["measured"] <= band[1] else "OUT")
        print(f"{x['source'][:26]:26} {c.job.model.name[:16]:16} {c.method:6} {c.hw.gpu.name[:10]:10} "
              f"{x['metric']:8} {x['measured']:9.1f} {x['estimated']:9.1f} {abs_pct(x['r']):6.1f} {inside}")


def skipped(cases) -> list[str]:
    counts = Counter(c.skip for c in cases if c.skip)
    return [f"  {n:3d}  {reason}" for reason, n in counts.most_common()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loso", action="store_true", help="also leave-one-source-out (refits; minutes)")
    parser.add_argument("--rows", action="store_true", help="print every held-out row")
    args = parser.parse_args()
    sets = all_cases(load_catalog())
    held = residuals(sets["heldout"])
    print("\n".join(table(held, "HELD-OUT (sources never fit on; shipped coefficients and bands)")))
    print("\n".join(["held-out rows not scored:"] + skipped(sets["heldout"])))
    fit_rows = [c for c in sets["fit"] if not c.skip]
    print()
    print("\n".join(table(residuals(fit_rows), "IN-SAMPLE (the rows the coefficients were fit on)")))
    print("\n".join(["fit rows not scored:"] + skipped(sets["fit"])))
    if args.loso:
        from fit_calibration import leave_one_source_out, nested_coverage

        from frugaltune.estimate.bands import load_bands

        loso = leave_one_source_out(fit_rows, 3)
        for x in loso:  # the shipped bands are built from these residuals: their coverage here says nothing
            x["band"] = None
        print()
        print("\n".join(table(loso, "LEAVE-ONE-SOURCE-OUT (fit rows)")))
        bands = load_bands()
        for metric, name in (("memory", "memory"), ("tokens/s", "tokens_per_s")):
            widen = bands.get("borrow_widen", 1.25)
            widen = widen.get(name, 1.25) if isinstance(widen, dict) else widen
            share = nested_coverage(loso, bands["width_factor"][name], metric, widen)
            print(f"{metric}: bands built without a project cover {share:.0%} of its measurements (mean over projects)")
    if args.rows:
        print_rows(held)


if __name__ == "__main__":
    main()
