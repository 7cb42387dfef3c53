"""The checkpoint mirror's background uploads: one daemon thread, jobs in order, failures retried with exponential
backoff, and an outage reported when it starts (not at the end of training).

Why a daemon thread and not a ThreadPoolExecutor: Python joins executor threads at interpreter exit, so an upload
blocked on an unreachable store kept a finished run from exiting for minutes. Here the process exits when training
is done; an upload cut short leaves no manifest on the store, so it is never listed (mirror.py), and its local
snapshot is removed by the next start (mirror_local.clean_local_leftovers).

During an outage only the newest checkpoint is worth uploading: older ones waiting are dropped (their futures
resolve to None), and a job in backoff gives way as soon as a newer one arrives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from frugaltune.errors import CheckpointError

RETRY_DELAYS_S = (2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0)
"""A training run's schedule: about four minutes of retries per checkpoint; the next save starts a new series."""


class Job:
    """One upload: `run()` does it (raising on failure), `discard()` frees what it holds (a local snapshot).
    `kind` "checkpoint" jobs can be superseded by newer ones during an outage; "log" jobs merge."""

    def __init__(self, kind: str, name: str, run: Callable[[], object], discard: Callable[[], None] = lambda: None):
        self.kind, self.name, self.run, self.discard = kind, name, run, discard
        self.future: Future = Future()


class UploadQueue:
    """Runs Jobs one at a time on a daemon thread; see the module docstring."""

    def __init__(self, url: str, retry_delays_s: tuple[float, ...] = ()):
        self.url = url
        self.retry_delays_s = tuple(retry_delays_s)
        self.outage_since: float | None = None  # unix time, for messages
        self._outage_t: float | None = None  # the same instant on the monotonic clock, for waiting
        self.last_error: str | None = None
        self.failures = 0
        self._cond = threading.Condition()
        self._pending: list[Job] = []
        self._running: Job | None = None
        self._errors: list[BaseException] = []
        self._news: list[str] = []
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="frugaltune-mirror")
        self._thread.start()

    # ---- the caller's side ------------------------------------------------------------------------------------

    def submit(self, job: Job) -> Future:
        with self._cond:
            if job.kind == "log":  # one pending log upload covers every later byte: keep the newest only
                for old in [j for j in self._pending if j.kind == "log"]:
                    self._pending.remove(old)
                    old.future.set_result(None)
            self._pending.append(job)
            self._cond.notify_all()
        return job.future

    def news(self) -> list[str]:
        """Messages about the mirror's health since the last call (an outage began, it ended)."""
        with self._cond:
            out, self._news = self._news, []
        return out

    def busy(self) -> int:
        """Uploads waiting or running."""
        with self._cond:
            return len(self._pending) + (self._running is not None)

    def wait(self, timeout: float | None = None, outage_grace_s: float | None = None) -> None:
        """Block until every upload is done; re-raise a failure that exhausted its retries (once).

        Args:
            timeout: give up after this many seconds (None: no limit).
            outage_grace_s: while the store is unreachable, give up after this many seconds of it, so the end of a
                run does not wait out a backoff schedule (None: wait for the retries too).

        Raises:
            CheckpointError: a failed upload, or uploads still going when a limit ran out.
        """
        start = time.monotonic()
        with self._cond:
            while self._pending or self._running is not None:
                now = time.monotonic()
                if timeout is not None and now - start >= timeout:
                    break
                if outage_grace_s is not None and self._outage_t is not None and \
                        now - max(start, self._outage_t) >= outage_grace_s:
                    break
                self._cond.wait(0.05)
            errors, self._errors = self._errors, []
            still = len(self._pending) + (self._running is not None)
        if errors:
            raise errors[0]
        if still and self.outage_since is not None:
            raise CheckpointError(f"checkpoint mirror {self.url}: unreachable for {time.time() - self.outage_since:.0f}"
                                  f" s ({self.last_error}); {still} upload(s) not done.",
                                  fix="the local checkpoints are complete; when the storage is reachable again, run "
                                  "the same command to upload the newest one.")
        if still:
            raise CheckpointError(f"checkpoint mirror {self.url}: {still} upload(s) still running after {timeout}s.",
                                  fix="wait longer, or check the upload bandwidth to the mirror.")

    def close(self, timeout: float | None = None, outage_grace_s: float | None = None) -> None:
        """wait(...), then stop taking jobs (what is still queued is dropped; the thread never blocks exit)."""
        try:
            self.wait(timeout, outage_grace_s)
        finally:
            with self._cond:
                self._closed = True
                dropped, self._pending = self._pending, []
                self._cond.notify_all()
            for job in dropped:
                job.discard()
                job.future.cancel()

    # ---- the worker's side ------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._take()
                self._running = job
            try:
                self._attempt(job)
            finally:
                job.discard()
                with self._cond:
                    self._running = None
                    self._cond.notify_all()

    def _take(self) -> Job:
        """The next job: the oldest, or during an outage the newest checkpoint (older ones are dropped)."""
        if self.outage_since is not None:
            newest = [j for j in self._pending if j.kind == "checkpoint"][-1:]
            for old in [j for j in self._pending if j.kind == "checkpoint" and j not in newest]:
                self._pending.remove(old)
                old.discard()
                old.future.set_result(None)
        return self._pending.pop(0)

    def _attempt(self, job: Job) -> None:
        for tries in range(len(self.retry_delays_s) + 1):
            try:
                result = job.run()
            except BaseException as err:  # noqa: BLE001 -- reported through the future and wait()
                self._failed(job, err, tries)
                if tries == len(self.retry_delays_s) or not self._back_off(job, self.retry_delays_s[tries]):
                    return self._give_up(job, err)
                continue
            self._recovered()
            job.future.set_result(result)
            return None
        return None

    def _back_off(self, job: Job, delay_s: float) -> bool:
        """Sleep `delay_s` unless closed or (for a checkpoint) a newer one arrives; True to retry this job."""
        with self._cond:
            newer = lambda: any(j.kind == job.kind for j in self._pending)  # noqa: E731
            self._cond.wait_for(lambda: self._closed or newer(), timeout=delay_s)
            if self._closed:
                return False
            if newer():
                job.future.set_result(None)  # superseded: the newer upload carries this one's progress
                return False
        return True

    def _give_up(self, job: Job, err: BaseException) -> None:
        if job.future.done():
            return
        job.future.set_exception(err)
        with self._cond:
            self._errors.append(err)

    def _failed(self, job: Job, err: BaseException, tries: int) -> None:
        with self._cond:
            self.failures += 1
            self.last_error = str(getattr(err, "message", None) or err).splitlines()[0][:300]
            if self.outage_since is None:
                self.outage_since, self._outage_t = time.time(), time.monotonic()
                retry = f"retrying in {self.retry_delays_s[0]:g} s with backoff" if self.retry_delays_s else "not retried"
                self._news.append(f"checkpoint mirror {self.url} is failing ({self.last_error}); {retry}; training "
                                  "continues with local checkpoints.")

    def _recovered(self) -> None:
        with self._cond:
            if self.outage_since is not None:
                self._news.append(f"checkpoint mirror {self.url} is back after {time.time() - self.outage_since:.0f} s; "
                                  "uploads resumed.")
                self.outage_since = self._outage_t = None
