"""Wall time of every frugaltune command, to its last output, as a ratio to a bare `python -c pass`.

Targets: `estimate --json` <= 4x; every other command (compare, plan, recommend, impact, budget, buy-vs-rent,
afford, catalog, calibration, schema) and every `--help` <= 10x. All run from this venv's interpreter, interleaved
(the order alternates each round) after warm-up runs, so disk cache and machine load hit them alike; medians and ratios are
printed. `--profile` then shows where `estimate --json`'s time goes (or `--profile-command NAME`'s): stage costs,
`python -X importtime` (slowest imports, self and cumulative) and cProfile of the whole command in-process.
Run: nice .venv/bin/python bench/cli_startup.py [--runs 15] [--only estimate,plan] [--profile] [--strict]
     [--against OLD_CHECKOUT/src] (each command on both versions of the code, interleaved: before -> after)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = Path(sys.executable)
FRUGALTUNE = PYTHON.with_name("frugaltune")
ROOT = Path(__file__).resolve().parents[1]
ARGS = ["estimate", "--model", "llama-2-7b", "--gpu", "a10", "--platform", "lambda", "--json"]
TARGET_RATIO = 4.0  # estimate --json
COMMAND_TARGET_RATIO = 10.0  # every other command and --help
# (label, argv, target ratio); the first is the bar of TARGET_RATIO. Tables print to a pipe at 80 columns.
COMMANDS = [
    ("estimate --json", ARGS, TARGET_RATIO),
    ("estimate --pricing spot --json", ["estimate", "--model", "llama-2-7b", "--gpu", "a10g", "--platform", "aws",
                                        "--pricing", "spot", "--json"], COMMAND_TARGET_RATIO),
    ("estimate (table)", ARGS[:-1], COMMAND_TARGET_RATIO),
    ("--help", ["--help"], COMMAND_TARGET_RATIO),
    ("estimate --help", ["estimate", "--help"], COMMAND_TARGET_RATIO),
    ("plan --help", ["plan", "--help"], COMMAND_TARGET_RATIO),
    ("train --help", ["train", "--help"], COMMAND_TARGET_RATIO),
    ("compare", ["compare", "--model", "llama-2-7b", "--method", "lora"], COMMAND_TARGET_RATIO),
    ("compare --json", ["compare", "--model", "llama-2-7b", "--method", "lora", "--json"], COMMAND_TARGET_RATIO),
    ("impact", ["impact", "--model", "llama-2-7b", "--gpu", "t4"], COMMAND_TARGET_RATIO),
    ("recommend", ["recommend", "--model", "llama-2-7b", "--budget-usd", "20"], COMMAND_TARGET_RATIO),
    ("plan", ["plan", "--model", "llama-2-7b", "--gpu", "a10"], COMMAND_TARGET_RATIO),
    ("budget", ["budget", str(ROOT / "examples" / "budget.yaml")], COMMAND_TARGET_RATIO),
    ("buy-vs-rent", ["buy-vs-rent", "--gpu", "rtx 4090", "--purchase-usd", "1800", "--usd-per-kwh", "0.3"],
     COMMAND_TARGET_RATIO),
    ("afford", ["afford", "--budget-usd", "50"], COMMAND_TARGET_RATIO),
    ("launch --help", ["launch", "--help"], COMMAND_TARGET_RATIO),
    ("report --help", ["report", "--help"], COMMAND_TARGET_RATIO),
    ("calibration list", ["calibration", "list"], COMMAND_TARGET_RATIO),
    ("catalog gpus", ["catalog", "gpus"], COMMAND_TARGET_RATIO),
    ("catalog prices --json", ["catalog", "prices", "--json"], COMMAND_TARGET_RATIO),
    ("schema", ["schema"], COMMAND_TARGET_RATIO),
]
# An empty user config (no user catalog, no measurements of past runs): the product as installed. The data cache
# ($XDG_CACHE_HOME) is the user's, warmed by the warm-up runs.
# Bytecode is written and used, as in an installed package (pip compiles it): without that every edited module would
# be recompiled on each run (PYTHONDONTWRITEBYTECODE=1 in a developer's shell).
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "HF_HUB_OFFLINE": "1", "COLUMNS": "80",
       "XDG_CONFIG_HOME": os.path.join(tempfile.gettempdir(), "frugaltune-bench-empty-config")}


def timed_run(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + sys) of one run of `cmd`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env or ENV, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(runs: int, commands: list, warmup: int = 2, against: str = "") -> dict[str, list[tuple[float, float]]]:
    """Timed runs of every command, interleaved; with `against` (a checkout's src/ directory) each command is also
    run on that code (its label prefixed "before: "), in the same rounds."""
    cmds = {"python -c pass": ([str(PYTHON), "-c", "pass"], ENV)}
    before_env = {**ENV, "PYTHONPATH": against} if against else None
    for label, argv, _ in commands:
        if against:
            cmds["before: " + label] = ([str(FRUGALTUNE), *argv], before_env)
        cmds[label] = ([str(FRUGALTUNE), *argv], ENV)
    for _ in range(warmup):
        for cmd, env in cmds.values():
            timed_run(cmd, env)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in cmds}
    order = list(cmds)
    for i in range(runs):
        for name in order if i % 2 == 0 else order[::-1]:
            times[name].append(timed_run(*cmds[name]))
    return times


def report(times: dict[str, list[tuple[float, float]]], commands: list) -> int:
    """Print wall and CPU medians and each command's ratios to the bare interpreter; return how many are over their
    target. CPU time is less sensitive to a busy machine than wall time."""
    medians = {name: (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
               for name, values in times.items()}
    base_wall, base_cpu = medians["python -c pass"]
    print(f"{'command':32s} {'wall ms':>8s} {'CPU ms':>7s} {'wall x':>7s} {'CPU x':>6s}  target")
    print(f"{'python -c pass':32s} {base_wall * 1e3:8.1f} {base_cpu * 1e3:7.1f} {1:7.2f} {1:6.2f}")
    over = 0
    for label, _, target in commands:
        if "before: " + label in medians:
            wall, cpu = medians["before: " + label]
            print(f"{'  before: ' + label:32s} {wall * 1e3:8.1f} {cpu * 1e3:7.1f} {wall / base_wall:7.2f} "
                  f"{cpu / base_cpu:6.2f}")
        wall, cpu = medians[label]
        ratio = wall / base_wall
        over += ratio > target
        print(f"{label:32s} {wall * 1e3:8.1f} {cpu * 1e3:7.1f} {ratio:7.2f} {cpu / base_cpu:6.2f}  <= {target:g}x "
              f"{'OK' if ratio <= target else 'OVER'}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(medians of {len(times['python -c pass'])} interleaved runs; 1-min load average {load:.1f} on "
          f"{os.cpu_count()} CPUs: on a busy machine the wall ratios are inflated)")
    return over


def _importtime_once(args: list[str]) -> dict[str, tuple[int, int]]:
    code = f"import sys; from frugaltune.cli import main; sys.argv = ['frugaltune', *{args!r}]; main()"
    proc = subprocess.run([str(PYTHON), "-X", "importtime", "-c", code], capture_output=True, text=True, env=ENV,
                          check=False)
    rows = {}
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:"):].split("|")
        rows[name.rstrip()] = (int(self_us), int(cumulative_us))
    return rows


def importtime(args: list[str], top: int, repeats: int = 7) -> None:
    """The slowest imports of the command (python -X importtime), by self time and by top-level cumulative time;
    each module's minimum over `repeats` runs, which filters out a busy machine's noise."""
    runs = [_importtime_once(args) for _ in range(repeats)]
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
        "; import frugaltune.cli.app, frugaltune.cli.estimate, frugaltune.estimate.build, "
        "frugaltune.estimate.estimator, frugaltune.estimate.pricing, "
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


def cprofile(args: list[str], top: int) -> None:
    """cProfile of imports + the command's work + its output, in one fresh interpreter."""
    proc = subprocess.run([str(PYTHON), "-c", PROFILE.format(args=args, top=top)], capture_output=True, text=True,
                          env=ENV, check=False)
    print("\ncProfile (fresh interpreter; profiling inflates call-heavy code):")
    keep = [line for line in proc.stdout.splitlines() if line.strip() and "Ordered by" not in line]
    print("\n".join(keep))
    if proc.returncode:
        print(proc.stderr[-2000:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="timed runs of each command (default 15)")
    parser.add_argument("--only", default="", help="comma-separated labels (prefixes) of the commands to time")
    parser.add_argument("--profile", action="store_true", help="also show -X importtime and cProfile breakdowns")
    parser.add_argument("--profile-command", default="estimate --json", help="the label of the command to profile")
    parser.add_argument("--top", type=int, default=20, help="rows per profile table")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a command is over its target")
    parser.add_argument("--against", default="", help="also time every command on another checkout's code (its "
                        "src/ directory, e.g. from `git archive main`), interleaved: before -> after in one run")
    args = parser.parse_args()
    if not FRUGALTUNE.exists():
        raise SystemExit(f"{FRUGALTUNE} not found: run `pip install -e .` in this venv first")
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    commands = [c for c in COMMANDS if not wanted or any(c[0].startswith(w) for w in wanted)]
    print(f"{FRUGALTUNE} COMMAND  vs  {PYTHON} -c pass")
    over = report(measure(args.runs, commands, against=os.path.abspath(args.against) if args.against else ""),
                  commands)
    if args.profile:
        [profiled] = [argv for label, argv, _ in COMMANDS if label == args.profile_command]
        if profiled == ARGS:
            stage_costs(args.runs)
        importtime(profiled, args.top)
        cprofile(profiled, args.top)
    return 1 if args.strict and over else 0


if __name__ == "__main__":
    sys.exit(main())
