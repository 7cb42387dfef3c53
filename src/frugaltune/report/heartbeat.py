"""When a killed attempt was last alive. A run rewrites `heartbeat.json` ({"attempt", "time"}) every HEARTBEAT_S
while it runs, model loading included; the next attempt bills a vanished one (SIGKILL, machine lost: no last word in
the log) up to that heartbeat instead of up to its last event, which can be minutes earlier when the kill lands while
a large model loads or between two log lines. The time is the file's content, not its mtime: copying a run directory
does not move it.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

HEARTBEAT = "heartbeat.json"
HEARTBEAT_S = 15.0
"""How often a running attempt says it is alive (a vanished attempt is billed to within this of its death)."""


def write(run_dir: Path, attempt: int) -> None:
    """Atomically replace the heartbeat with (attempt, now); a failing disk is not this file's problem to report."""
    tmp = run_dir / f".{HEARTBEAT}.tmp-{os.getpid()}"
    try:
        tmp.write_text(json.dumps({"attempt": attempt, "time": time.time()}))
        os.replace(tmp, run_dir / HEARTBEAT)
    except OSError:
        pass


def read(run_dir: Path) -> dict | None:
    """The last heartbeat ({"attempt": int, "time": float}), or None when there is none or it is damaged."""
    try:
        beat = json.loads((run_dir / HEARTBEAT).read_bytes().decode("utf-8", errors="replace"))
    except (OSError, ValueError):
        return None
    ok = isinstance(beat, dict) and isinstance(beat.get("attempt"), int) and isinstance(beat.get("time"), float)
    return beat if ok and beat["time"] == beat["time"] else None


class Heartbeat:
    """A daemon thread writing the heartbeat every `interval_s` until stop(). `attempt()` is asked each time: a run
    restored on a new machine renumbers its attempt after the history it adopts."""

    def __init__(self, run_dir: Path, attempt: Callable[[], int], interval_s: float | None = None):
        self.run_dir, self.attempt, self.interval_s = run_dir, attempt, interval_s or HEARTBEAT_S
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="frugaltune-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        write(self.run_dir, self.attempt())
        self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            write(self.run_dir, self.attempt())

    def stop(self) -> None:
        self._stop.set()
