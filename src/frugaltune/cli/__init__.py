"""`frugaltune` entry point.

`frugaltune estimate ... --json` must start in well under a second, so it is served by a stdlib-only
argparse fast path (cli/fast.py) built from the same option table as the Typer command; everything
else goes through the Typer app (cli/app.py), which imports its heavier dependencies lazily.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    from frugaltune.cli import fast

    if fast.handles(argv):
        sys.exit(fast.run(argv))
    from frugaltune.cli.app import run

    sys.exit(run(argv))
