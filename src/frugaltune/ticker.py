"""Progress with an ETA on stderr, for work that turns out to take more than a second (reading a large dataset).

Nothing is shown for quick work, nothing goes to stdout (so `--json` output stays clean), and on a pipe or a log file
nothing is printed unless FRUGALTUNE_PROGRESS=1 asks for it (one line per update, no carriage returns).
"""

from __future__ import annotations

import os
import sys
import time

SHOW_AFTER_S = 1.0
EVERY_S = 0.25


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} GB"


class Ticker:
    """`update(done, rows)` as work proceeds (cheap: it looks at the clock only); `close()` at the end.

    `total` and `done` are in the same unit (bytes of a file read so far); the ETA assumes the rate so far holds.
    """

    def __init__(self, label: str, total: float, stream=None, clock=time.monotonic, show_after_s: float = SHOW_AFTER_S):
        self.label, self.total, self.clock = label, max(float(total), 1.0), clock
        self.stream = stream or sys.stderr
        self.start = clock()
        self.show_at = self.start + show_after_s
        self.shown = False
        forced = os.environ.get("FRUGALTUNE_PROGRESS") == "1"
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty()) and not forced
        self.enabled = forced or self.tty

    def update(self, done: float, rows: int) -> None:
        now = self.clock()
        if not self.enabled or now < self.show_at:
            return
        self.show_at = now + EVERY_S
        elapsed = now - self.start
        frac = min(done / self.total, 1.0)
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("inf")
        line = (f"{self.label}: {frac:.0%} · {_bytes(done)} of {_bytes(self.total)} · {rows:,} rows · "
                f"ETA {eta:.0f} s" if eta != float("inf") else f"{self.label}: {rows:,} rows")
        self._write(line)

    def _write(self, line: str) -> None:
        self.shown = True
        self.stream.write(f"\r{line}\x1b[K" if self.tty else line + "\n")
        self.stream.flush()

    def close(self, rows: int) -> None:
        """A last line with the total time, when progress was shown."""
        if self.shown:
            self._write(f"{self.label}: {rows:,} rows in {self.clock() - self.start:.1f} s")
            if self.tty:
                self.stream.write("\n")
