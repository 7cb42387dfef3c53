"""Start-up time of `frugaltune estimate --json` as a ratio to a bare `python -c pass` (target: <= 4x).

Both run from this venv's interpreter, interleaved (alternating which goes first) after warm-up runs, so disk cache
and machine load hit both alike; the medians and their ratio are printed. `--profile` then shows where the time goes:
`python -X importtime` (slowest imports, self and cumulative) and cProfile of the whole command in-process.
Run: .venv/bin/python bench/cli_startup.py [--runs 15] [--profile] [--strict]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

PYTHON = Path(sys.executable)
FRUGALTUNE = PYTHON.with_name("frugaltune")
ARGS = ["estimate", "--model", "llama-2-7b", "--gpu", "a10", "--platform", "lambda", "--json"]
# Not the bar, shown beside it: spot pricing adds the interruption model and its seeded Monte Carlo.
SPOT_ARGS = ["estimate", "--model", "llama-2-7b", "--gpu", "a10g", "--platform", "aws", "--pricing", "spot", "--json"]
TARGET_RATIO = 4.0
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


def timed_run(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + sys) of one run of `cmd`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(runs: int, warmup: int = 2) -> dict[str, list[tuple[float, float]]]:
    cmds = {"python -c pass": [str(PYTHON), "-c", "pass"], "frugaltune estimate --json": [str(FRUGALTUNE), *ARGS],
            "  same, --pricing spot": [str(FRUGALTUNE), *SPOT_ARGS]}
    for _ in range(warmup):
        for cmd in cmds.values():
            timed_run(cmd)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    order = list(cmds)
    for i in range(runs):
        for name in order if i % 2 == 0 else order[::-1]:
            times[name].append(timed_run(cmds[name]))
    return times


def report(times: dict[str, list[tuple[float, float]]]) -> float:
    """Print wall and CPU medians; return the wall-time ratio (the bar). CPU time is less sensitive to a busy machine."""
    medians = {}
    for name, values in times.items():
        wall, cpu = [v[0] for v in values], [v[1] for v in values]
        medians[name] = statistics.median(wall), statistics.median(cpu)
        print(f"{name:28s} wall median {medians[name][0] * 1e3:7.1f} ms (min {min(wall) * 1e3:6.1f}, max "
              f"{max(wall) * 1e3:6.1f})   CPU median {medians[name][1] * 1e3:7.1f} ms   (n={len(values)})")
    (base_wall, base_cpu), (cli_wall, cli_cpu), (spot_wall, _) = medians.values()
    ratio = cli_wall / base_wall
    verdict = "OK" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"ratio {ratio:.2f}x wall (target <= {TARGET_RATIO:g}x): {verdict}; CPU-time ratio {cli_cpu / base_cpu:.2f}x; "
          f"the CLI costs {(cli_wall - base_wall) * 1e3:.1f} ms wall over the bare interpreter")
    print(f"with --pricing spot: {spot_wall / base_wall:.2f}x wall")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(1-min load average {load:.1f} on {os.cpu_count()} CPUs: on a busy machine the wall ratio is inflated)")
    return ratio


def _importtime_once() -> dict[str, tuple[int, int]]:
    code = f"import sys; from frugaltune.cli import main; sys.argv = ['frugaltune', *{ARGS!r}]; main()"
    proc = subprocess.run([str(PYTHON), "-X", "importtime", "-c", code], capture_output=True, text=True, env=ENV,
                          check=False)
    rows = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:"):].split("|")
        rows[name.rstrip()] = (int(self_us), int(cumulative_us))
    return rows


def importtime(top: int, repeats: int = 7) -> None:
    """The slowest imports of the command (python -X importtime), by self time and by top-level cumulative time;
    each module's minimum over `repeats` runs, which filters out a busy machine's noise."""
    runs = [_importtime_once() for _ in range(repeats)]
    rows = [(min(r[name][0] for r in runs if name in r), min(r[name][1] for r in runs if name in r), name)
            for name in runs[0]]
    total = sum(r[0] for r in rows)
    print(f"\n-X importtime (min of {repeats} runs): {len(rows)} modules, {total / 1e3:.1f} ms in imports "
          "(self times summed)")
    print(f"  slowest by self time (top {top}):")
    for self_us, cumulative_us, name in sorted(rows, reverse=True)[:top]:
        print(f"    {self_us / 1e3:6.2f} ms self {cumulative_us / 1e3:7.2f} ms cumul  {name.strip()}")
    print("  top-level imports by cumulative time:")
    top_level = [r for r in rows if not r[2].startswith("  ")]
    for self_us, cumulative_us, name in sorted(top_level, key=lambda r: -r[1])[:top]:
        print(f"    {cumulative_us / 1e3:7.2f} ms  {name.strip()}")


# Cumulative stages of the fast path, each run in a fresh interpreter: the difference between consecutive stages is
# what that stage costs. The stdlib stage imports what the fast path's own modules import beyond the interpreter's
# start-up: only datetime and math. (It avoids re/enum, json, csv, pickle, pathlib, dataclasses/inspect, typing,
# argparse and functools, which together cost ~45 ms here: see frugaltune/record.py, datacache.py, jsonout.py.)
STDLIB = "import datetime, math, marshal"
STAGES = [
    ("interpreter (python -c pass)", "pass"),
    ("+ stdlib modules the path imports", STDLIB),
    ("+ frugaltune modules (record classes)", STDLIB + (
        "; import frugaltune.cli.app, frugaltune.cli.estimate, frugaltune.estimate.build, frugaltune.estimate.estimator, frugaltune.estimate.pricing, "
        "frugaltune.estimate.measured, frugaltune.catalog.load, frugaltune.catalog.staleness, frugaltune.jsonout")),
    ("+ load_catalog() (cached rows -> records, indexes)", "STAGE2; frugaltune.catalog.load.load_catalog()"),
    ("+ parse flags, estimate, JSON (the command)", (
        "STAGE3; import os, sys; sys.stdout = open(os.devnull, 'w'); "
        "frugaltune.cli.app.run({args!r})")),
]


def stage_costs(runs: int) -> None:
    """Median CPU time of each cumulative stage in fresh interpreters, and what each stage adds."""
    codes: list[str] = []
    for _name, code in STAGES:
        for i, previous in enumerate(codes):
            code = code.replace(f"STAGE{i}", previous)
        codes.append(code.format(args=ARGS))
    cpu: list[list[float]] = [[] for _ in STAGES]
    for _ in range(runs):
        for i, code in enumerate(codes):
            cpu[i].append(timed_run([str(PYTHON), "-c", code])[1])
    print(f"\nStage costs (CPU ms, median of {runs} fresh interpreters each; cumulative, then the stage's share):")
    previous = 0.0
    for (name, _), values in zip(STAGES, cpu):
        median = statistics.median(values) * 1e3
        print(f"  {median:7.1f} ms  {median - previous:+7.1f} ms  {name}")
        previous = median


PROFILE = """
import cProfile, contextlib, io, pstats, sys
profile = cProfile.Profile()
profile.enable()
from frugaltune.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        main({args!r})
    except SystemExit:
        pass
profile.disable()
stats = pstats.Stats(profile, stream=sys.stdout).strip_dirs()
for key in ("cumulative", "tottime"):
    print(f"--- by {{key}} ---")
    stats.sort_stats(key).print_stats({top})
"""


def cprofile(top: int) -> None:
    """cProfile of imports + catalog load + estimate + JSON output, in one fresh interpreter."""
    proc = subprocess.run([str(PYTHON), "-c", PROFILE.format(args=ARGS, top=top)], capture_output=True, text=True,
                          env=ENV, check=False)
    print("\ncProfile (fresh interpreter; profiling inflates call-heavy code):")
    keep = [line for line in proc.stdout.splitlines() if line.strip() and "Ordered by" not in line]
    print("\n".join(keep))
    if proc.returncode:
        print(proc.stderr[-2000:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each command (default 15)")
    parser.add_argument("--profile", action="store_true", help="also show -X importtime and cProfile breakdowns")
    parser.add_argument("--top", type=int, default=20, help="rows per profile table")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the ratio is over the target")
    args = parser.parse_args()
    if not FRUGALTUNE.exists():
        raise SystemExit(f"{FRUGALTUNE} not found: run `pip install -e .` in this venv first")
    print(f"{FRUGALTUNE.name} {' '.join(ARGS)}  vs  {PYTHON} -c pass")
    ratio = report(measure(args.runs))
    if args.profile:
        stage_costs(args.runs)
        importtime(args.top)
        cprofile(args.top)
    return 1 if args.strict and ratio > TARGET_RATIO else 0


if __name__ == "__main__":
    sys.exit(main())
