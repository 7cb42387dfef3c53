"""`frugaltune` entry point: a small declarative layer over our own parser (no Typer, no argparse).

cli/commands.py maps each command to the module serving it; cli/options.py declares options as `Opt` records;
cli/parse.py parses argv against them; cli/help.py writes --help from the same tables; cli/app.py dispatches and turns
errors into one line and an exit code. Every command starts in a few tens of ms (bench/cli_startup.py).
How to add a command or a flag: docs/cli.md.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    from frugaltune.cli.app import run

    code = run(list(sys.argv[1:] if argv is None else argv))
    if argv is None:  # this process exits next: see _skip_exit_collection
        _skip_exit_collection()
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader of a pipe left early: silence the flush at exit too
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if argv is None and _is_distributed_worker():
        _exit_before_finalization(code)
    sys.exit(code)


def _is_distributed_worker() -> bool:
    """A process that torchrun (or another launcher) started as one of several ranks."""
    import os

    return os.environ.get("WORLD_SIZE", "1").strip() not in ("", "0", "1")


def _exit_before_finalization(code: int) -> None:
    """Exit a worker of a multi-process run without the interpreter's finalisation. gloo completes its last
    collective's work object on its own thread; when that object is freed while the interpreter finalises, freeing
    its tensors needs the GIL, the thread is ended inside a C++ destructor and the process aborts ("terminate called
    without an active exception", SIGABRT, exit -6 after a finished run: 1-4 of 8 two-process CPU runs here).
    Everything the run owns is closed by then (checkpoints, ledger, sinks); atexit handlers still run, then the
    process ends with `code`."""
    import atexit
    import logging
    import os

    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or a vanished pipe: nothing left to say
            pass
    os._exit(code if isinstance(code, int) else 1)


def _skip_exit_collection() -> None:
    """Move every live object into the garbage collector's permanent generation, so the interpreter's shutdown does
    not traverse the millions of objects torch, transformers and peft leave behind (a `frugaltune train` process
    spent 4-5 s exiting on 2 CPU cores; bench/exit_time.py measures it). Only at exit: frozen cycles are never freed.
    Objects are still finalised by reference counting and atexit handlers still run, so files and logs close."""
    import gc

    gc.freeze()
