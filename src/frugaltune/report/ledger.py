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
  failed         an exception ended the attempt (`error`: its one-line message; disk full, mirror lost, ...)
  diverged       the loss or a gradient stopped being finite (`error`); `diverged_at_step` is the step its
                 message names, `last_good_checkpoint` the checkpoint kept (null: none yet); `step`, as in
                 every event, counts the steps completed
  history        the totals of earlier attempts on machines that are gone (`tally`), adopted from a mirrored
                 checkpoint by a run restored on a new machine
An attempt killed by SIGKILL simply stops writing; its billed time ends at its last event, and it counts as an
interruption once a later attempt starts. Summaries follow from the events (tally.py folds them in one at a
time, so a Ledger's summary costs the same at any length), and stay correct across any number of restarts.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from frugaltune.report.tally import SUMMARY_VERSION, RunTally

METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
HISTORY = "ledger-history.json"
"""A checkpoint's copy of the run's totals so far (RunTally.to_json): what a new machine adopts."""
__all__ = ["HISTORY", "METRICS", "SUMMARY", "SUMMARY_VERSION", "Ledger", "NullLedger", "RunTally", "read_events",
           "read_summary", "summarize", "write_summary", "checkpoint_history"]


class Ledger:
    """Appends events for one attempt of a run, and keeps the run's totals (`tally`) up to date as it writes, so a
    summary costs the same however long the log has grown."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.run_dir / METRICS
        self.tally = RunTally()
        earlier = read_events(self.path)  # once per attempt, at start-up
        for e in earlier:
            self.tally.add(e)
        self.attempt = 1 + sum(1 for e in earlier if e.get("event") == "attempt_start")
        torn = self.path.is_file() and self.path.stat().st_size and not _ends_with_newline(self.path)
        self._file = self.path.open("a")
        if torn:  # the last attempt died mid-line: end that line so the next event is not glued onto it
            self._file.write("\n")
        self._bill_to_last_heartbeat()

    def _bill_to_last_heartbeat(self) -> None:
        """A vanished last attempt (no last word) was alive until its last heartbeat: record that time for it."""
        from frugaltune.report import heartbeat

        beat, last = heartbeat.read(self.run_dir), self.tally.attempts.get(self.tally.last_attempt)
        if beat and last and last["ended"] is None and beat["attempt"] == last["attempt"] and beat["time"] > last["end"]:
            record = {"event": "last_seen", "attempt": last["attempt"], "time": beat["time"]}
            self._file.write(json.dumps(record) + "\n")
            self._file.flush()
            self.tally.add(record)

    def write(self, event: str, durable: bool = False, **fields: Any) -> dict:
        """Append one event; `durable` fsyncs it (checkpoints, interruptions: the records billing relies on)."""
        record = {"event": event, "attempt": self.attempt, "time": time.time(), **fields}
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()
        if durable:
            os.fsync(self._file.fileno())
        self.tally.add(record)
        return record

    def summary(self, *, usd_per_hour: float | None = None, extra: dict | None = None) -> dict:
        """The run's summary now (ledger.summarize's figures), without reading metrics.jsonl."""
        return self.tally.summary(usd_per_hour, extra)

    def history(self) -> dict:
        """The run's totals so far, for a checkpoint to carry (HISTORY)."""
        return self.tally.to_json()

    def adopt_history(self, earlier: list[dict] | dict) -> None:
        """Put a run's earlier history before this attempt's own events, renumbering this attempt after it, so billing
        and tokens/s cover the machines that are gone. `earlier` is the run's events (the mirror's copy of the log,
        with its loss curve) or, failing that, its totals (a checkpoint's HISTORY, adopted as one `history` event)."""
        if isinstance(earlier, dict):
            past = RunTally.from_json(earlier)
            start = min((a["start"] for a in past.attempts.values()), default=time.time())
            earlier = [{"event": "history", "attempt": 0, "time": start, "tally": past.to_json()}]
            last = past.last_attempt
        else:
            last = max((e.get("attempt", 0) for e in earlier), default=0)
        mine = [e for e in read_events(self.path) if e["attempt"] == self.attempt]
        self.attempt = last + 1
        self._file.close()
        events = list(earlier) + [{**e, "attempt": self.attempt} for e in mine]
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text("".join(json.dumps(e) + "\n" for e in events))
        os.replace(tmp, self.path)
        self.tally = RunTally()
        for e in events:
            self.tally.add(e)
        self._file = self.path.open("a")

    def size(self) -> int:
        """Bytes written to metrics.jsonl so far (where the next event starts)."""
        self._file.flush()
        return self.path.stat().st_size

    def close(self) -> None:
        if not self._file.closed:
            try:
                self._file.close()
            except OSError:  # a full disk refuses the last buffered line; the attempt's error is already reported
                pass


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


class NullLedger(Ledger):
    """What non-zero ranks of a multi-process run hold: rank 0 keeps the run's ledger."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / METRICS
        self.attempt = 0
        self.tally = RunTally()  # what earlier attempts did (read once): every rank decides alike at the end
        for e in read_events(self.path):
            self.tally.add(e)

    def write(self, event: str, durable: bool = False, **fields: Any) -> dict:
        return {}

    def summary(self, *, usd_per_hour: float | None = None, extra: dict | None = None) -> dict:
        return {}

    def history(self) -> dict:
        return {}

    def adopt_history(self, earlier: list[dict] | dict) -> None:
        pass

    def size(self) -> int:
        return 0

    def close(self) -> None:
        pass


def read_events(path: str | Path) -> list[dict]:
    """Events of a metrics.jsonl; a torn last line (the process was killed mid-write) is skipped, and so is a line
    that a damaged disk turned into something other than an event (bytes that are not UTF-8, a bare value)."""
    p = Path(path)
    if not p.is_file():
        return []
    return parse_events(p.read_bytes())


def parse_events(data: bytes) -> list[dict]:
    """The events in the bytes of a metrics.jsonl (read_events' rules: torn or damaged lines are skipped)."""
    events = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and "event" in event and "attempt" in event:
            events.append(event)
    return events


def summarize(events: list[dict], *, usd_per_hour: float | None = None, extra: dict | None = None) -> dict:
    """The run's summary from its events (the Ledger keeps the same figures running, tally.py).

    tokens_per_sec = tokens processed by all attempts / their active training seconds (forward, backward,
    optimizer; not model loading, evaluation or checkpoint saves), so repeated work after a SIGKILL counts as
    work done at the speed it was done. billed_hours = the sum of every attempt's wall time (first to last event; an
    attempt that vanished, to its last heartbeat, report/heartbeat.py), which includes loading, saves, and work lost
    to interruptions; wall_hours = first start to last event,
    which also includes the gaps between attempts when no machine ran. cost_usd = billed_hours x usd_per_hour.
    steps_redone = steps an attempt did past the step the run next resumed from (tally.steps_redone).
    """
    tally = RunTally()
    for e in events:
        tally.add(e)
    return tally.summary(usd_per_hour, extra)


def checkpoint_history(step_dir: str | Path) -> dict | None:
    """The run's totals a checkpoint carries (HISTORY), or, from checkpoints written before it existed, the totals
    of the metrics.jsonl copy they carried; None when it has neither."""
    p = Path(step_dir)
    if (p / HISTORY).is_file():
        try:
            return json.loads((p / HISTORY).read_text())
        except ValueError:
            return None
    if (p / METRICS).is_file():
        tally = RunTally()
        for e in read_events(p / METRICS):
            tally.add(e)
        return tally.to_json()
    return None


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
    bad = object()
    try:  # NaN/Infinity (an old run's diverged loss) are read as null and listed, never printed as numbers
        summary = json.loads(path.read_text(encoding="utf-8"), parse_constant=lambda c: bad)
    except (ValueError, UnicodeDecodeError) as err:
        raise FrugalError(f"{path} is damaged ({str(err).splitlines()[0][:120]}).",
                          fix="rerun `frugaltune train` on the same config: it rewrites summary.json from "
                          "metrics.jsonl (or delete the damaged file).") from None
    if not isinstance(summary, dict):
        raise FrugalError(f"{path} is not a run summary (a JSON {type(summary).__name__}, not an object).",
                          fix="Pass the output.dir of a run started with `frugaltune train`.")
    return finite_summary(summary, bad)


def finite_summary(summary: dict, bad: object = None) -> dict:
    """`summary` with every NaN/Infinity (or `bad`, what JSON's NaN was read as) replaced by null and its key listed
    under `not_finite`: a report never prints a non-finite number."""
    found: list[str] = list(summary.get("not_finite") or [])
    summary = _scrub(summary, bad, "", found)
    if found:
        summary["not_finite"] = sorted(set(found))
    return summary


def _scrub(value: Any, bad: object, where: str, found: list[str]) -> Any:
    if (bad is not None and value is bad) or (isinstance(value, float) and not math.isfinite(value)):
        found.append(where)
        return None
    if isinstance(value, dict):
        return {k: _scrub(v, bad, f"{where}.{k}" if where else str(k), found) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, bad, f"{where}[{i}]", found) for i, v in enumerate(value)]
    return value
