"""`estimate --dataset` statistics at 1k / 10k / 100k / 1M lines of JSONL: CPU time and peak memory as ratios to a
plain Python loop over the same file measured in the same run.

The plain baseline is what a script reading a JSONL file does: `for line in f: json.loads(line)`; beside it, a bare
line loop (`for line in f: pass`) shows what reading alone costs. Each measurement is a fresh interpreter (so peak
memory, max RSS, is that run's own), rounds alternate the order, medians are printed. The rows are chat rows of
varied length (two turns, 10-1,600 characters). `--sample` adds `--sample 1000` beside the full count.
Target (1M lines): peak memory under 150 MB and at most 2x the CPU time of the plain json loop.
Run: nice .venv/bin/python bench/dataset_scale.py [--sizes 1000,10000,100000,1000000] [--runs 3] [--sample]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile

TARGET_CPU, TARGET_MB = 2.0, 150.0
SETUP = ("import json\nfrom frugaltune.catalog.load import load_catalog\n"
         "from frugaltune.estimate import dataset_stats, dataset_scan, dataset_rows, dataset_hist\n"
         "arch = load_catalog().model('7B')")
CODE = {  # (setup, timed work)
    "bare line loop": ("", "f = open(PATH, 'rb')\nfor line in f: pass"),
    "plain json loop": ("import json", "f = open(PATH, 'rb')\nfor line in f: json.loads(line)"),
    "frugaltune stats": (SETUP, "dataset_stats.dataset_token_stats(PATH, arch, 2048, 4, progress=False)"),
    "  with --sample 1000": (SETUP, "dataset_stats.dataset_token_stats(PATH, arch, 2048, 4, progress=False, "
                                    "sample=1000)"),
}
# Times only the work after imports (a constant ~40 ms for frugaltune), so the curve shows how the work grows.
WRAP = """
import resource, sys, time
PATH = sys.argv[1]
{setup}
start = time.process_time()
{body}
cpu = time.process_time() - start
print(cpu, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def write_jsonl(path: str, lines: int) -> None:
    rng = random.Random(lines)
    with open(path, "w") as fh:
        for _ in range(lines):
            fh.write(json.dumps({"messages": [
                {"role": "user", "content": "word " * rng.randint(2, 60)},
                {"role": "assistant", "content": "reply " * rng.randint(2, 260)}]}) + "\n")


def run(body: tuple[str, str], path: str) -> tuple[float, float]:
    """(CPU seconds of the work, peak RSS MB of the process)."""
    setup, work = body
    out = subprocess.run([sys.executable, "-c", WRAP.format(setup=setup, body=work), path], capture_output=True,
                         text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sample", action="store_true", help="also time --sample 1000")
    args = parser.parse_args()
    names = [n for n in CODE if args.sample or "sample" not in n]
    print(f"{'lines':>9s} {'MB':>6s}  {'what':22s} {'CPU s':>7s} {'x json loop':>11s} {'peak MB':>8s}")
    verdict = []
    with tempfile.TemporaryDirectory() as tmp:
        for lines in (int(s) for s in args.sizes.split(",")):
            path = os.path.join(tmp, f"{lines}.jsonl")
            write_jsonl(path, lines)
            results: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
            for i in range(args.runs):
                for name in names if i % 2 == 0 else names[::-1]:
                    results[name].append(run(CODE[name], path))
            med = {n: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v))
                   for n, v in results.items()}
            base = med["plain json loop"][0]
            for name in names:
                cpu, mb = med[name]
                print(f"{lines:9,d} {os.path.getsize(path) / 1e6:6.1f}  {name:22s} {cpu:7.3f} {cpu / base:10.2f}x "
                      f"{mb:8.1f}")
            cpu, mb = med["frugaltune stats"]
            verdict.append((lines, cpu / base, mb))
            os.unlink(path)
    lines, ratio, mb = verdict[-1]
    ok = ratio <= TARGET_CPU and mb < TARGET_MB
    print(f"at {lines:,} lines: {ratio:.2f}x the plain json loop's CPU (target <= {TARGET_CPU:g}x), peak {mb:.0f} MB "
          f"(target < {TARGET_MB:g} MB): {'OK' if ok else 'OVER TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
