"""Progress output: a rich bar with loss, tokens/s and ETA on a terminal; one plain line per log step otherwise
(CI logs, `nohup`, a supervisor's log file)."""

from __future__ import annotations

import sys
import time


def _hms(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class StepProgress:
    """Shows steps done of `total`, the latest loss, tokens/s of the recent window and the ETA."""

    def __init__(self, total: int, start: int, *, log_every: int, enabled: bool = True, stream=None):
        self.total, self.start, self.log_every = total, start, log_every
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self._bar = None
        if enabled and self.stream.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeRemainingColumn(), transient=False)
            self._task = self._bar.add_task("train", total=total, completed=start, info="")
            self._bar.start()

    def update(self, step: int, loss: float, tokens_per_s: float | None, train_seconds: float | None = None) -> None:
        """`train_seconds`: this attempt's time in training steps so far; the ETA extrapolates it (evaluations
        and saves excluded), else wall time since the bar started."""
        rate = f"{tokens_per_s:,.0f} tok/s" if tokens_per_s else "- tok/s"
        if self._bar is not None:
            self._bar.update(self._task, completed=step, info=f"loss {loss:.4f}  {rate}")
            return
        if self.enabled and (step % self.log_every == 0 or step == self.total):
            elapsed = train_seconds if train_seconds is not None else time.perf_counter() - self.t0
            done = step - self.start
            eta = elapsed / done * (self.total - step) if done else 0.0
            print(f"step {step}/{self.total}  loss {loss:.4f}  {rate}  eta {_hms(eta)}", file=self.stream, flush=True)

    def phase(self, label: str, total: int) -> PhaseProgress:
        """Progress of a phase inside training (an evaluation): a task on this live bar, or its own lines."""
        return PhaseProgress(label, total, enabled=self.enabled, stream=self.stream, live=self._bar)

    def note(self, message: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.console.print(message)
        else:
            print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


class PhaseProgress:
    """Progress of a phase of known size that is not a training step (evaluation, tokenisation): a transient bar
    with the ETA on a terminal; elsewhere one line every `every_s` seconds ("eval 40/120 (33%), eta 0:01:10"), so
    a phase that ends within `every_s` prints nothing and a long one is never silent in a log."""

    def __init__(self, label: str, total: int, *, enabled: bool = True, stream=None, every_s: float = 10.0,
                 clock=time.perf_counter, live=None):
        self.label, self.total, self.done = label, max(int(total), 0), 0
        self.stream = stream or sys.stderr
        self.enabled, self.every_s, self.clock = enabled and self.total > 0, every_s, clock
        self.t0 = self.last = clock()
        self._bar, self._live = None, live
        if self.enabled and live is not None:  # a task on the training bar already on screen
            self._task = live.add_task(label, total=self.total, info="")
        elif self.enabled and self.stream.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), transient=True)
            self._task = self._bar.add_task(label, total=self.total)
            self._bar.start()

    def advance(self, n: int = 1) -> None:
        self.done = min(self.done + n, self.total)
        if not self.enabled:
            return
        if self._bar is not None or self._live is not None:
            (self._bar or self._live).update(self._task, completed=self.done)
            return
        now = self.clock()
        if now - self.last >= self.every_s and self.done < self.total:
            self.last = now
            eta = (now - self.t0) / self.done * (self.total - self.done) if self.done else 0.0
            print(f"{self.label} {self.done:,}/{self.total:,} ({self.done / self.total:.0%}), eta {_hms(eta)}",
                  file=self.stream, flush=True)

    def close(self) -> None:
        if self._live is not None and self.enabled:
            self._live.remove_task(self._task)
            self._live = None
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> PhaseProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
