"""The run's ledger on the checkpoint mirror, so a run restored on a new machine keeps the history of the machines
that are gone (their billing, attempts and loss curve).

metrics.jsonl is copied in append-only segments, `<mirror>/ledger/<attempt>-<from byte>-<to byte>.jsonl`: after each
checkpoint upload, only the bytes written since the last segment go up (a background job, in order with the
checkpoint uploads), so a save costs the same at step 10 and at step 100,000 (the checkpoint itself carries only
the run's totals, report/ledger.HISTORY). A new process starts its first segment from byte 0 of its own file; the
overlap is removed when the segments are read back (identical events count once).
"""

from __future__ import annotations

import json
import posixpath
from concurrent.futures import Future
from pathlib import Path

from frugaltune.report.ledger import parse_events
from frugaltune.train.mirror_queue import Job

LOG_DIR = "ledger"


def upload_log_async(mirror, log_path: str | Path, upto: int, attempt: int) -> Future:
    """Queue the upload of `log_path`'s bytes from `mirror.log_uploaded` to `upto` as one segment."""

    def run() -> str | None:
        start = mirror.log_uploaded
        if upto <= start:
            return None
        with open(log_path, "rb") as f:
            f.seek(start)
            data = f.read(upto - start)
        name = posixpath.join(mirror.root, LOG_DIR, f"{attempt:06d}-{start:012d}-{upto:012d}.jsonl")

        def put() -> None:
            mirror._makedirs(posixpath.dirname(name))
            mirror.fs.pipe_file(name, data)

        mirror._call("upload of the run's log", put)
        mirror.log_uploaded = upto
        return name

    return mirror.submit(Job("log", "ledger", run))


def download_log(mirror) -> list[dict]:
    """Every event the mirror holds, each once, in attempt and time order ([] when it holds none).

    Raises:
        CheckpointError: the mirror cannot be read.
    """

    def read() -> list[bytes]:
        root = posixpath.join(mirror.root, LOG_DIR)
        mirror.fs.invalidate_cache(root)
        try:
            names = sorted(mirror.fs.ls(root, detail=False))
        except FileNotFoundError:
            return []
        return [mirror.fs.cat_file(n) for n in names if n.endswith(".jsonl")]

    seen: set[str] = set()
    events = []
    for data in mirror._call("reading the run's log", read):
        for event in parse_events(data):  # a torn or damaged line is skipped, as in the local log
            key = json.dumps(event, sort_keys=True)
            if key not in seen:
                seen.add(key)
                events.append(event)
    return sorted(events, key=lambda e: (e["attempt"], e.get("time", 0.0)))
