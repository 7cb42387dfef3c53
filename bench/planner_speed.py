"""Planner speed: `compare` over the full shipped catalog (every offer, 1-8 GPUs, on-demand and spot) for a 7B LoRA
job, with spot candidates priced by the interruption model (analytic expectation + 2000-trial Monte Carlo each).

Prints the catalog load time, then for each repetition of compare: enumerated candidates, estimated candidates,
wall time and candidates/s; then the median. Bar (issue 4): compare completes in < 1 s on this machine's CPU.

    python bench/planner_speed.py [--repeat 5] [--model llama-2-7b] [--method lora]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--model", default="llama-2-7b")
    ap.add_argument("--method", default="lora")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    from frugaltune.api import build_job, get_catalog
    from frugaltune.plan.search import Filters, compare_job, enumerate_candidates

    catalog = get_catalog()
    job = build_job(args.model, catalog, method=args.method, dataset_size=10_000, tokens_per_sample=500, epochs=3)
    load_s = time.perf_counter() - t0
    flt = Filters(max_gpus=8, pricings=("on-demand", "spot"))
    cands, unpriced = enumerate_candidates(list(catalog.offers), flt)
    n_total = len(cands) + len(unpriced)
    print(f"catalog: {len(catalog.offers)} offers, {len(catalog.gpus)} GPUs; import + load + job: {load_s:.3f} s")
    print(f"job: {args.model} {args.method}, 1-8 GPUs, on-demand + spot -> {n_total} candidates "
          f"({len(cands)} priced and estimated, {len(unpriced)} rejected unpriced)")
    walls = []
    for i in range(args.repeat):
        t = time.perf_counter()
        cmp = compare_job(job, catalog, flt)
        wall = time.perf_counter() - t
        walls.append(wall)
        spot_rows = sum(c.pricing == "spot" for c, _e in cmp.ranked)
        print(f"run {i + 1}: {wall:.3f} s, {n_total / wall:,.0f} candidates/s "
              f"({len(cmp.ranked)} ranked, {spot_rows} spot with Monte Carlo, {len(cmp.rejected)} rejected)")
    med = statistics.median(walls)
    first = walls[0]
    print(f"median: {med:.3f} s, {n_total / med:,.0f} candidates/s; first (cold caches): {first:.3f} s")
    ok = max(walls) < 1.0
    print(f"bar < 1 s: {'PASS' if ok else 'FAIL'} (slowest run {max(walls):.3f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
