"""SIGTERM / SIGINT (a spot reclaim notice, `kill`, Ctrl-C) set a flag; the loop saves at the next step boundary
and the process exits with EXIT_INTERRUPTED so a supervisor restarts it (SkyPilot `recover_on_exit_codes: [75]`,
or `until frugaltune train run.yaml; [ $? -ne 75 ] && break; done`).

A second Ctrl-C while the save is pending raises KeyboardInterrupt at once; the half-written staging directory
is ignored by the next run (see checkpoint.py). Inside `StopSignals.interruptible()` (a one-process run loading its
model: work that only reads, with nothing to save) a signal raises `Interrupted` at once instead: a spot notice gives
30 s to 2 min, less than a large model takes to load.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_INTERRUPTED = 75
"""os.EX_TEMPFAIL: 'try again later'. Interrupted, checkpoint saved, restart to continue."""

HANDLED = (signal.SIGTERM, signal.SIGINT)


class Interrupted(BaseException):  # like KeyboardInterrupt: library code's `except Exception` does not swallow it
    """A stop signal inside `StopSignals.interruptible()`: the work in progress is abandoned at once."""


class StopSignals:
    """Context manager that turns SIGTERM/SIGINT into a flag (`requested`, `signal_name`) while it is active."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.deaf_after_exit = False  # keep ignoring SIGTERM after exit: set by a real signal, or a peer's stop
        self._previous: dict[int, object] = {}
        self._raise = False  # inside interruptible(): a signal raises Interrupted

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def signal_name(self) -> str | None:
        return signal.Signals(self.signum).name if self.signum is not None else None

    def request(self, signum: int = signal.SIGTERM) -> None:
        """Ask for a stop as if `signum` had arrived (tests, a spot-notice poller thread)."""
        if self.signum is None:
            self.signum = signum

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT and self.signum == signal.SIGINT:
            raise KeyboardInterrupt  # second Ctrl-C: the user does not want to wait for the save
        self.deaf_after_exit = True
        self.request(signum)
        if self._raise:
            self._raise = False  # once: the stop that follows is not interrupted again
            raise Interrupted(self.signal_name)

    @contextmanager
    def interruptible(self, enabled: bool = True) -> Iterator[None]:
        """While active (and `enabled`), a stop signal raises Interrupted instead of waiting for the next step
        boundary; one that came before raises it on entry. Only for work that writes nothing a stop must finish."""
        if not enabled:
            yield
            return
        if self.requested:
            raise Interrupted(self.signal_name)
        self._raise = True
        try:
            yield
        finally:
            self._raise = False

    def __enter__(self) -> StopSignals:  # noqa: PYI034
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread only
            for sig in HANDLED:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            # After a SIGTERM was acted on (saved), the process is on its way out: a launcher that passes the notice
            # on again (torch's agent SIGTERMs the ranks still running) must not kill it before it exits 75.
            signal.signal(sig, signal.SIG_IGN if sig == signal.SIGTERM and self.deaf_after_exit else handler)
        self._previous.clear()
