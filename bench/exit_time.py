"""How long a process that imported the training stack takes to exit, with and without `gc.freeze()` first (what
`frugaltune.cli.main` does before a command's process exits: cli/__init__.py `_skip_exit_collection`).

Each round runs both variants (order alternating) of `python -c "import <stack>; t = time; [gc.freeze()]"` and
takes the wall time from the end of the imports to the process being gone; medians and their ratio are printed.
Every `frugaltune train` process (the launcher and each rank) pays this once; a 2-process run pays it serially
(ranks, then the launcher).
Run: nice .venv/bin/python bench/exit_time.py [--rounds 5] [--modules torch,transformers,peft,deepspeed]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CHILD = """
import sys, time
import {modules}
print("imported", time.time(), flush=True)
if {freeze}:
    import gc
    gc.freeze()
"""


def exit_seconds(modules: str, freeze: bool) -> float:
    """Seconds from the child's last import to its exit (as this process sees it)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD.format(modules=modules, freeze=freeze)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = ""
    while not line.startswith("imported "):  # deepspeed prints a warning line on import
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise SystemExit(f"the child failed to import {modules} (exit {proc.returncode})")
    imported = float(line.split()[1])
    proc.stdout.read()
    proc.wait()
    return time.time() - imported


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--modules", default="torch,transformers,peft,deepspeed")
    args = ap.parse_args()
    modules = ", ".join(args.modules.split(","))
    times: dict[bool, list[float]] = {False: [], True: []}
    for i in range(args.rounds):
        for freeze in ((False, True) if i % 2 == 0 else (True, False)):
            times[freeze].append(exit_seconds(modules, freeze))
    plain, frozen = (statistics.median(times[f]) for f in (False, True))
    print(f"exit after importing {modules} ({args.rounds} rounds, medians)")
    print(f"  plain exit        {plain:6.2f} s")
    print(f"  gc.freeze() first {frozen:6.2f} s")
    print(f"  ratio             {plain / frozen:6.1f}x  (saved {plain - frozen:.2f} s per process)")


if __name__ == "__main__":
    main()
