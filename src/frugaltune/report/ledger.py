"""The run ledger: `metrics.jsonl` (one JSON event per line, appended by every attempt) and `summary.json`.

Events carry `event`, `attempt` (1, 2, ... one per process start) and `time` (unix seconds):
  attempt_start  a process started (`started`: the process's own start time when the CLI knows it, so
                 imports and model loading are billed)
  resume         continued from a checkpoint (from_step, source local|mirror|path, seconds)
  train_start    setup done, the loop begins (step, total_steps)
  step           every `log_every` steps: loss, lr, run-cumulative tokens, attempt-cumulative tokens and
                 active training seconds, peak memory
  eval           eval_loss, eval_accuracy (classification)
  checkpoint     a complete checkpoint (step, seconds, bytes, reason)
  interrupted    SIGTERM/SIGINT: saved and exiting with code 75
  finished       the last step is done
  failed         an exception ended the attempt (its message)
An attempt killed by SIGKILL simply stops writing; its billed time ends at its last event, and it counts as an
interruption once a later attempt starts. Summaries are recomputed from the events, so they stay correct
across any number of restarts.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
SUMMARY_VERSION = 1


class Ledger:
    """Appends events for one attempt of a run."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / METRICS
        self.attempt = 1 + sum(1 for e in read_events(self.path) if e.get("event") == "attempt_start")
        torn = self.path.is_file() and self.path.stat().st_size and not self.path.read_bytes().endswith(b"\n")
        self._file = self.path.open("a")
        if torn:  # the last attempt died mid-line: end that line so the next event is not glued onto it
            self._file.write("\n")

    def write(self, event: str, durable: bool = False, **fields: Any) -> dict:
        """Append one event; `durable` fsyncs it (checkpoints, interruptions: the records billing relies on)."""
        record = {"event": event, "attempt": self.attempt, "time": time.time(), **fields}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if durable:
            os.fsync(self._file.fileno())
        return record

    def adopt_history(self, earlier: list[dict]) -> None:
        """Put a run's earlier events (from a checkpoint restored on a new machine) before this attempt's own,
        renumbering this attempt after them, so billing and tokens/s cover the machines that are gone."""
        mine = [e for e in read_events(self.path) if e["attempt"] == self.attempt]
        self.attempt = 1 + max((e["attempt"] for e in earlier), default=0)
        self._file.close()
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text("".join(json.dumps(e) + "\n" for e in earlier + [{**e, "attempt": self.attempt}
                                                                           for e in mine]))
        os.replace(tmp, self.path)
        self._file = self.path.open("a")

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


class NullLedger(Ledger):
    """What non-zero ranks of a multi-process run hold: rank 0 keeps the run's ledger."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / METRICS
        self.attempt = 0

    def write(self, event: str, durable: bool = False, **fields: Any) -> dict:
        return {}

    def adopt_history(self, earlier: list[dict]) -> None:
        pass

    def close(self) -> None:
        pass


def read_events(path: str | Path) -> list[dict]:
    """Events of a metrics.jsonl; a torn last line (the process was killed mid-write) is skipped."""
    p = Path(path)
    if not p.is_file():
        return []
    events = []
    for line in p.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def _attempts(events: list[dict]) -> list[dict]:
    """Per attempt: start and last event time, how it ended, its tokens and active training seconds."""
    out: dict[int, dict] = {}
    for e in events:
        a = out.setdefault(e["attempt"], {"attempt": e["attempt"], "start": e["time"], "end": e["time"],
                                          "ended": None, "tokens": 0, "train_seconds": 0.0, "last_step": None,
                                          "start_step": 0})
        a["end"] = max(a["end"], e["time"])
        if e["event"] == "attempt_start":
            a["start"] = min(e.get("started", e["time"]), e["time"])  # process start when known (imports)
        elif e["event"] == "resume":
            a["start_step"] = e.get("from_step", 0)
        elif e["event"] == "step":
            a["tokens"] = e.get("attempt_tokens", a["tokens"])
            a["train_seconds"] = e.get("attempt_train_seconds", a["train_seconds"])
            a["last_step"] = e["step"]
        elif e["event"] in ("interrupted", "finished", "failed"):
            a["ended"] = e["event"]
    return [out[k] for k in sorted(out)]


def _last(events: list[dict], kind: str) -> dict | None:
    return next((e for e in reversed(events) if e["event"] == kind), None)


def summarize(events: list[dict], *, usd_per_hour: float | None = None, extra: dict | None = None) -> dict:
    """The run's summary from its events.

    tokens_per_sec = tokens processed by all attempts / their active training seconds (forward, backward,
    optimizer; not model loading, evaluation or checkpoint saves), so repeated work after a SIGKILL counts as
    work done at the speed it was done. billed_hours = the sum of every attempt's wall time (first to last event),
    which includes loading, saves, and work lost to interruptions; wall_hours = first start to last event,
    which also includes the gaps between attempts when no machine ran. cost_usd = billed_hours x usd_per_hour.
    """
    attempts = _attempts(events)
    summary = {"summary_version": SUMMARY_VERSION, **_progress_figures(events, attempts),
               **_time_figures(attempts, usd_per_hour), **_quality_figures(events)}
    summary.update(extra or {})
    return summary


def _progress_figures(events: list[dict], attempts: list[dict]) -> dict:
    step, fin = _last(events, "step"), _last(events, "finished")
    peak = [e for e in events if e.get("peak_memory_gb") is not None]
    ckpts = [e for e in events if e["event"] == "checkpoint"]
    resumes = [e for e in events if e["event"] == "resume"]
    last_end = attempts[-1]["ended"] if attempts else None
    return {
        "status": "finished" if fin and fin["attempt"] == attempts[-1]["attempt"] else (last_end or "incomplete"),
        "steps": step["step"] if step else 0,
        "tokens_processed": step["tokens_processed"] if step else 0,
        "trainable_tokens": step["trainable_tokens"] if step else 0,
        "peak_memory_gb": max(e["peak_memory_gb"] for e in peak) if peak else None,
        "peak_memory_source": peak[-1].get("peak_memory_source") if peak else None,
        "attempts": len(attempts),
        # SIGTERM/SIGINT stops, plus attempts that vanished without a last word (SIGKILL, machine lost) and were
        # followed by another attempt
        "interruptions": sum(1 for a in attempts if a["ended"] == "interrupted")
                         + sum(1 for a in attempts[:-1] if a["ended"] is None),
        "failures": sum(1 for a in attempts if a["ended"] == "failed"),
        "steps_redone": _steps_redone(attempts),
        "checkpoints_saved": len(ckpts),
        "checkpoint_save_seconds_mean": sum(e["seconds"] for e in ckpts) / len(ckpts) if ckpts else None,
        "resume_seconds_mean": sum(e["seconds"] for e in resumes) / len(resumes) if resumes else None,
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


def _quality_figures(events: list[dict]) -> dict:
    step, ev = _last(events, "step"), _last(events, "eval")
    before = next((e for e in events if e["event"] == "eval" and e["step"] == 0), None)
    return {
        "final_train_loss": step["loss"] if step else None,
        "final_eval_loss": ev["eval_loss"] if ev else None,
        "eval_accuracy": ev.get("eval_accuracy") if ev else None,
        "eval_loss_before": before.get("eval_loss") if before else None,
        "eval_accuracy_before": before.get("eval_accuracy") if before else None,
    }


def _steps_redone(attempts: list[dict]) -> int:
    """Steps an attempt did beyond where the next attempt resumed (lost to a kill)."""
    redone = 0
    for a, nxt in itertools.pairwise(attempts):
        if a["last_step"] is not None:
            redone += max(0, a["last_step"] - nxt["start_step"])
    return redone


def write_summary(run_dir: str | Path, summary: dict) -> Path:
    """Write summary.json atomically (temp file + os.replace), so a reader never sees half of it."""
    path = Path(run_dir) / SUMMARY
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    return path


def read_summary(run_dir: str | Path) -> dict:
    from frugaltune.errors import FrugalError

    path = Path(run_dir) / SUMMARY
    if not path.is_file():
        raise FrugalError(f"{path} not found: {run_dir} is not a frugaltune run directory (or it has not finished "
                          "its first step).", fix="Pass the output.dir of a run started with `frugaltune train`.")
    return json.loads(path.read_text())
