"""How catalog size affects the CLI: `estimate --json` and `compare --json` with a user catalog of 1x / 10x / 100x
the shipped offers, as ratios to the shipped catalog alone, measured side by side (interleaved rounds, medians).

The user offers are the shipped offers copied under new instance names (so each is a new row, not an override),
with prices varied by a few percent. The data cache is warm (each command runs twice before timing), as a user's
second command would find it. Also printed: peak memory (max RSS) and the size of `compare --json`.
Target: `estimate` with the 100x catalog within 2x of the shipped catalog's time.
Run: nice .venv/bin/python bench/catalog_scale.py [--runs 7] [--scales 1,10,100]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "frugaltune" / "catalog" / "data" / "offers.csv"
FRUGALTUNE = Path(sys.executable).with_name("frugaltune")
ESTIMATE = ["estimate", "--model", "llama-2-7b", "--gpu", "a10", "--platform", "lambda", "--json"]
COMPARE = ["compare", "--model", "llama-2-7b", "--gpu", "a10,l4,a100-80gb", "--max-gpus", "2", "--json"]
TARGET = 2.0


def write_user_catalog(directory: Path, scale: int) -> int:
    """offers.csv with `scale` copies of every shipped offer (new instance names); returns the row count."""
    with SHIPPED.open(newline="") as fh:
        reader = csv.DictReader(fh)
        columns, shipped = reader.fieldnames, list(reader)
    rng = random.Random(scale)
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "offers.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for copy in range(scale):
            for row in shipped:
                row = dict(row, instance=f"{row['instance']}-u{copy}")
                for col in ("on_demand_usd_per_gpu_hour", "spot_usd_per_gpu_hour"):
                    if row.get(col):
                        row[col] = f"{float(row[col]) * rng.uniform(0.97, 1.03):.4f}"
                writer.writerow(row)
    return scale * len(shipped)


def run_once(argv: list[str], env: dict) -> tuple[float, float, int, int]:
    """(wall s, CPU s, max RSS KiB of this child, stdout bytes)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed: {err.read().decode()[-400:]}")
        size = out.tell()
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, size


def measure(commands: dict[str, list[str]], env: dict, runs: int) -> dict[str, list[tuple]]:
    for argv in commands.values():  # warm the data cache (and the OS file cache) for every catalog
        run_once(argv, env), run_once(argv, env)
    times: dict[str, list[tuple]] = {name: [] for name in commands}
    names = list(commands)
    for i in range(runs):
        for name in names if i % 2 == 0 else names[::-1]:
            times[name].append(run_once(commands[name], env))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--scales", default="1,10,100")
    args = parser.parse_args()
    scales = [int(s) for s in args.scales.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},  # bytecode as installed
               "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": f"{tmp}/cache", "XDG_CONFIG_HOME": f"{tmp}/config"}
        rows = {s: write_user_catalog(Path(tmp) / f"x{s}", s) for s in scales}
        commands = {"python -c pass": [sys.executable, "-c", "pass"]}
        for what, argv in (("estimate", ESTIMATE), ("compare", COMPARE)):
            commands[f"{what} shipped"] = [str(FRUGALTUNE), *argv]
            for s in scales:
                commands[f"{what} +{s}x"] = [str(FRUGALTUNE), *argv, "--catalog", f"{tmp}/x{s}"]
        times = measure(commands, env, args.runs)
    med = {n: tuple(statistics.median(v[i] for v in vals) for i in range(4)) for n, vals in times.items()}
    print(f"user catalogs: " + ", ".join(f"{s}x = {rows[s]:,} offers" for s in scales) +
          f" (shipped: {rows[scales[0]] // scales[0]:,}); medians of {args.runs} interleaved runs")
    print(f"{'command':22s} {'wall ms':>8s} {'CPU ms':>7s} {'vs shipped':>10s} {'max RSS MB':>10s} {'stdout':>10s}")
    worst = 0.0
    for name, (wall, cpu, rss, out) in med.items():
        base = med[f"{name.split()[0]} shipped"] if name != "python -c pass" else med[name]
        ratio = wall / base[0]
        if name.startswith("estimate +"):
            worst = max(worst, ratio)
        print(f"{name:22s} {wall * 1e3:8.1f} {cpu * 1e3:7.1f} {ratio:9.2f}x {rss / 1024:10.1f} {out / 1024:8.1f} KiB")
    print(f"estimate: worst user-catalog ratio {worst:.2f}x (target <= {TARGET:g}x): "
          f"{'OK' if worst <= TARGET else 'OVER TARGET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
