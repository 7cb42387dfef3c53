"""The run's running totals: fed one ledger event at a time, each in constant time, so writing summary.json costs the
same at step 10 and at step 100,000 (the ledger never re-reads metrics.jsonl to summarise it).

`RunTally.add(event)` folds an event in; `summary()` returns the figures (ledger.summarize documents them);
`to_json()`/`from_json()` carry the totals inside a checkpoint, so a run restored from the mirror on a new machine
keeps the billing and attempts of the machines that are gone (a `history` event in the new ledger).
"""

from __future__ import annotations

from typing import Any

SUMMARY_VERSION = 1
ENDINGS = ("interrupted", "finished", "failed", "diverged")
"""Events that end an attempt with a last word. An attempt without one vanished (SIGKILL, machine lost)."""
PROGRESS_EVENTS = ("step", "checkpoint", "interrupted", "finished", "failed", "diverged", "eval")
"""Events whose `step` says how far their attempt got."""


def _new_attempt(number: int, time: float) -> dict:
    return {"attempt": number, "start": time, "end": time, "ended": None, "tokens": 0, "train_seconds": 0.0,
            "last_step": None, "start_step": None, "why": None}


class RunTally:
    """Everything the summary needs, updated per event: per attempt (start, end, how it ended, tokens, active
    seconds, first and last step) and run-wide counters. Memory grows with attempts, not with steps."""

    def __init__(self) -> None:
        self.attempts: dict[int, dict] = {}
        self.last_step: dict | None = None  # the last `step` event (the final loss)
        self.progress_at: dict | None = None  # step and tokens of the final trajectory, from the last event with them
        self.finished_attempt: int | None = None
        self.peak_gb: float | None = None
        self.peak_source: str | None = None
        self.checkpoints, self.checkpoint_seconds = 0, 0.0
        self.resumes, self.resume_seconds = 0, 0.0
        self.last_eval: dict | None = None
        self.eval_before: dict | None = None

    # ---- folding events in ------------------------------------------------------------------------------------

    def add(self, e: dict) -> None:
        """Fold one event in (constant time)."""
        kind = e.get("event")
        if kind == "history":
            return self.merge(RunTally.from_json(e.get("tally") or {}))
        a = self.attempts.get(e["attempt"])
        if a is None:
            a = self.attempts[e["attempt"]] = _new_attempt(e["attempt"], e["time"])
        a["end"] = max(a["end"], e["time"])
        if kind == "attempt_start":
            a["start"] = min(e.get("started") or e["time"], e["time"])  # process start when known (imports)
        elif kind == "train_start":
            a["start_step"] = e.get("step", 0)
        elif kind == "resume":
            a["start_step"] = e.get("from_step", 0)
            self.resumes += 1
            self.resume_seconds += e.get("seconds") or 0.0
        elif kind == "checkpoint":
            self.checkpoints += 1
            self.checkpoint_seconds += e.get("seconds") or 0.0
        elif kind == "step":
            self._step(a, e)
        elif kind == "eval":
            self.last_eval = e
            if e.get("step") == 0 and self.eval_before is None:
                self.eval_before = e
        if kind in ENDINGS:
            a["ended"] = kind
            a["why"] = e.get("error") or e.get("signal")
            if kind == "finished":
                self.finished_attempt = e["attempt"]
        if kind in PROGRESS_EVENTS and e.get("step") is not None:
            a["last_step"] = max(a["last_step"] or 0, e["step"])
        self._counters(a, e)

    def _counters(self, a: dict, e: dict) -> None:
        """Totals carried by step, checkpoint, resume and ending events (a run may stop between two log lines)."""
        if "attempt_tokens" in e:
            a["tokens"] = e["attempt_tokens"]
            a["train_seconds"] = e.get("attempt_train_seconds", a["train_seconds"])
        if "tokens_processed" in e:
            self.progress_at = {"step": e.get("step", e.get("from_step", 0)), "tokens_processed": e["tokens_processed"],
                                "trainable_tokens": e.get("trainable_tokens", 0)}

    def _step(self, a: dict, e: dict) -> None:
        self.last_step = e
        if e.get("peak_memory_gb") is not None:
            self.peak_gb = max(self.peak_gb or 0.0, e["peak_memory_gb"])
            self.peak_source = e.get("peak_memory_source")

    def merge(self, earlier: RunTally) -> None:
        """Put `earlier` (a run's history from a checkpoint) before what this tally holds."""
        self.attempts = {**earlier.attempts, **self.attempts}
        self.last_step = self.last_step or earlier.last_step
        self.progress_at = self.progress_at or earlier.progress_at
        self.finished_attempt = self.finished_attempt or earlier.finished_attempt
        peaks = [p for p in (self.peak_gb, earlier.peak_gb) if p is not None]
        self.peak_gb = max(peaks) if peaks else None
        self.peak_source = self.peak_source or earlier.peak_source
        self.checkpoints += earlier.checkpoints
        self.checkpoint_seconds += earlier.checkpoint_seconds
        self.resumes += earlier.resumes
        self.resume_seconds += earlier.resume_seconds
        self.last_eval = self.last_eval or earlier.last_eval
        self.eval_before = earlier.eval_before or self.eval_before

    # ---- carrying it in a checkpoint ---------------------------------------------------------------------------

    def to_json(self) -> dict:
        return {"attempts": list(self.attempts.values()), "last_step": self.last_step, "progress_at": self.progress_at,
                "finished_attempt": self.finished_attempt, "peak_gb": self.peak_gb, "peak_source": self.peak_source,
                "checkpoints": self.checkpoints, "checkpoint_seconds": self.checkpoint_seconds,
                "resumes": self.resumes, "resume_seconds": self.resume_seconds, "last_eval": self.last_eval,
                "eval_before": self.eval_before}

    @classmethod
    def from_json(cls, data: dict) -> RunTally:
        t = cls()
        t.attempts = {int(a["attempt"]): {**_new_attempt(int(a["attempt"]), a["start"]), **a}
                      for a in data.get("attempts") or []}
        for key in ("last_step", "progress_at", "finished_attempt", "peak_gb", "peak_source", "checkpoints",
                    "checkpoint_seconds", "resumes", "resume_seconds", "last_eval", "eval_before"):
            if data.get(key) is not None:
                setattr(t, key, data[key])
        return t

    @property
    def last_attempt(self) -> int:
        return max(self.attempts, default=0)

    # ---- the figures --------------------------------------------------------------------------------------------

    def summary(self, usd_per_hour: float | None = None, extra: dict | None = None) -> dict[str, Any]:
        """The summary figures (see ledger.summarize); cost grows with the number of attempts only."""
        attempts = [self.attempts[k] for k in sorted(self.attempts)]
        out = {"summary_version": SUMMARY_VERSION, **self._progress(attempts), **_time_figures(attempts, usd_per_hour),
               **self._quality()}
        out.update(extra or {})
        return out

    def _progress(self, attempts: list[dict]) -> dict:
        step, last = self.progress_at or self.last_step, attempts[-1] if attempts else None
        finished = last is not None and self.finished_attempt == last["attempt"]
        return {
            "status": "finished" if finished else ((last or {}).get("ended") or "incomplete"),
            "stop_reason": None if finished or last is None else last.get("why"),
            "steps": step["step"] if step else 0,
            "tokens_processed": step.get("tokens_processed", 0) if step else 0,
            "trainable_tokens": step.get("trainable_tokens", 0) if step else 0,
            "peak_memory_gb": self.peak_gb,
            "peak_memory_source": self.peak_source,
            "attempts": len(attempts),
            # SIGTERM/SIGINT stops, plus attempts that vanished without a last word (SIGKILL, machine lost) and were
            # followed by another attempt
            "interruptions": sum(1 for a in attempts if a["ended"] == "interrupted")
                             + sum(1 for a in attempts[:-1] if a["ended"] is None),
            "failures": sum(1 for a in attempts if a["ended"] in ("failed", "diverged")),
            "steps_redone": steps_redone(attempts),
            "checkpoints_saved": self.checkpoints,
            "checkpoint_save_seconds_mean": self.checkpoint_seconds / self.checkpoints if self.checkpoints else None,
            "resume_seconds_mean": self.resume_seconds / self.resumes if self.resumes else None,
        }

    def _quality(self) -> dict:
        step, ev, before = self.last_step, self.last_eval, self.eval_before
        return {
            "final_train_loss": step.get("loss") if step else None,
            "final_eval_loss": ev.get("eval_loss") if ev else None,
            "eval_accuracy": ev.get("eval_accuracy") if ev else None,
            "eval_loss_before": before.get("eval_loss") if before else None,
            "eval_accuracy_before": before.get("eval_accuracy") if before else None,
        }


def _time_figures(attempts: list[dict], usd_per_hour: float | None) -> dict:
    train_s = sum(a["train_seconds"] for a in attempts)
    tokens_all = sum(a["tokens"] for a in attempts)
    billed_h = sum(a["end"] - a["start"] for a in attempts) / 3600
    return {
        "tokens_processed_all_attempts": tokens_all,
        "train_seconds": train_s,
        "train_hours": train_s / 3600,
        "tokens_per_sec": tokens_all / train_s if train_s > 0 else None,
        "wall_hours": (attempts[-1]["end"] - attempts[0]["start"]) / 3600 if attempts else 0.0,
        "billed_hours": billed_h,
        "usd_per_hour": usd_per_hour,
        "cost_usd": billed_h * usd_per_hour if usd_per_hour is not None else None,
    }


def steps_redone(attempts: list[dict]) -> int:
    """Steps an attempt did beyond where the run next resumed training (work lost to a kill).

    The run resumes where the next attempt that got as far as resuming (`resume`) or starting its loop
    (`train_start`) started; attempts killed before that (while loading) resumed nothing and are skipped, so a restart killed before it
    resumes does not count the whole run as redone."""
    redone = 0
    for i, a in enumerate(attempts):
        if a["last_step"] is None:
            continue
        resumed_at = next((b["start_step"] for b in attempts[i + 1:] if b["start_step"] is not None), None)
        if resumed_at is not None:
            redone += max(0, a["last_step"] - resumed_at)
    return redone
