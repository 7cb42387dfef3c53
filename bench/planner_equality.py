"""The planners' answers, byte for byte, for a grid of inputs: a speed-up of afford/compare/plan/recommend must not
change one of them. Record the JSON of every command on one version of the code, then check another against it.

    nice .venv/bin/python bench/planner_equality.py --write /tmp/before.json            # on the old code
    nice .venv/bin/python bench/planner_equality.py --check /tmp/before.json            # on the new code
    PYTHONPATH=/tmp/base/src .venv/bin/python bench/planner_equality.py --write ...     # an old checkout's src/

Both runs must see the same physics (the same commit of estimate/ and its coefficients): this compares search and
caching, not estimator versions. Runs in-process, one command after another, so caches carry over between commands
as they do for an API user (tests/plan/test_planner_memo.py checks the cached answers against uncached ones).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile

AFFORD = [
    ["--budget-usd", "50"],
    ["--budget-usd", "5"],
    ["--budget-usd", "500"],
    ["--budget-usd", "2000", "--per", "month"],
    ["--budget-usd", "50", "--spot"],
    ["--budget-usd", "50", "--no-spot", "--max-gpus", "2"],
    ["--budget-usd", "5000", "--per", "month", "--gpu", "rtx 4090", "--max-gpus", "1"],
    ["--budget-usd", "0.01", "--platform", "coreweave", "--model", "qwen2.5-0.5b"],
    ["--budget-usd", "100", "--platform", "lambda,runpod", "--seq-len", "4096"],
    ["--budget-usd", "100", "--precision", "fp16", "--lora-r", "64", "--model", "llama-3.1-8b,qwen2.5-14b"],
    ["--budget-usd", "100", "--interruptions-per-hour", "0.5", "--spot", "--model", "llama-3.1-70b"],
]
COMPARE = [
    ["--model", "llama-2-7b", "--method", "lora"],
    ["--model", "llama-3.1-8b", "--method", "full", "--max-gpus", "8"],
    ["--model", "qwen2.5-14b", "--method", "qlora", "--spot"],
    ["--model", "llama-3.1-70b", "--method", "lora", "--sort", "time", "--budget-usd", "500"],
    ["--model", "llama-2-7b", "--method", "full", "--strict-precision", "--max-hours", "10"],
]
PLAN = [
    ["--model", "llama-2-7b", "--gpu", "a10"],
    ["--model", "llama-3.1-8b", "--gpu", "a100-80gb", "--num-gpus", "2"],
    ["--model", "qwen2.5-14b", "--rent", "--budget-usd", "100"],
    ["--model", "llama-3.1-70b", "--rent", "--max-gpus", "8"],
]
RECOMMEND = [
    ["--model", "llama-2-7b", "--budget-usd", "20"],
    ["--model", "llama-3.1-8b", "--gpu", "rtx 4090"],
    ["--model", "qwen2.5-32b", "--rent", "--spot"],
    ["--model", "qwen2.5-0.5b", "--rent", "--domain-shift", "large"],
]
GRID = ([("afford", a) for a in AFFORD] + [("compare", a) for a in COMPARE] + [("plan", a) for a in PLAN]
        + [("recommend", a) for a in RECOMMEND])


def answers(grid=GRID) -> dict[str, dict]:
    """{command line: {"code": exit code, "out": parsed JSON on stdout (or its text)}} for every grid entry."""
    from frugaltune.cli.app import run

    out = {}
    for command, args in grid:
        argv = [command, *args, "--json"]
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
            code = run(argv)
        text = buf.getvalue()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        out[" ".join(argv)] = {"code": code, "out": parsed}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", help="record the answers in this file")
    group.add_argument("--check", help="compare the answers with those recorded in this file")
    args = parser.parse_args()
    os.environ.setdefault("XDG_CONFIG_HOME", os.path.join(tempfile.gettempdir(), "frugaltune-bench-empty-config"))
    got = answers()
    if args.write:
        with open(args.write, "w", encoding="utf-8") as fh:
            json.dump(got, fh, indent=1, sort_keys=True)
        print(f"{len(got)} answers written to {args.write}")
        return 0
    with open(args.check, encoding="utf-8") as fh:
        want = json.load(fh)
    got = json.loads(json.dumps(got))  # the same float and key round trip as the recorded file
    differ = [k for k in want if got.get(k) != want[k]] + [k for k in got if k not in want]
    for k in differ:
        print(f"DIFFERS: {k}")
    print(f"{len(want) - len(differ)} of {len(want)} answers identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
