"""One streaming pass over a dataset file: every row measured (or a seeded uniform sample of rows), the lengths kept
as a histogram (estimate/dataset_hist.py), progress on stderr for long files (frugaltune/ticker.py).

JSONL is read line by line in binary (the hot path: millions of rows); a sample of a JSONL file is drawn by line
number after counting the lines, so the rows not drawn are never parsed. Other files come row by row from
train/data_io.py, and a sample is a reservoir (Algorithm R) of the rows read.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from frugaltune.errors import DataError
from frugaltune.estimate.dataset_rows import MEASURES, RowProblem, _label, problem
from frugaltune.ticker import Ticker

TOKENIZER_BATCH = 1024
SAMPLE_SEED = 0
TICK_ROWS = 4096  # rows between looks at the clock
BAD_ROW = (KeyError, TypeError, AttributeError, ValueError, RowProblem)


class Tally:
    """Lengths of the rows measured so far: characters (chars/4 rule) or tokens (a tokenizer), as a histogram."""

    def __init__(self, path: Path, format: str | None, counter):
        self.path, self.format, self.counter = path, format, counter
        self.hist: dict[int, int] = {}
        self.rows = 0  # rows in the file (all of them, sampled or not)
        self.batch: list[str] = []
        self.labels: set[str] | None = None
        self.measure = None

    def start(self, first_row, where) -> None:
        """Fix the format (detected from the first row unless given) and how rows are measured."""
        if self.format is None:
            from frugaltune.data_format import detect_format

            self.format = detect_format(first_row)
        chars, text = MEASURES[self.format]
        self.measure = text if self.counter else chars
        self.labels = set() if self.format == "classification" else None

    def add(self, row, where) -> None:
        """Measure one row; `where` is a line number (JSONL) or a location string."""
        if not isinstance(row, dict):  # no format trains on a bare list, number or string
            spot = f"{self.path} line {where}" if isinstance(where, int) else where
            raise DataError(f"{spot}: expected an object with named fields, got {type(row).__name__}.",
                            fix="write each row as a JSON object, e.g. {\"text\": \"...\"}.")
        try:
            value = self.measure(row)
            if self.labels is not None:
                self.labels.add(_label(row))
        except BAD_ROW:
            spot = f"{self.path} line {where}" if isinstance(where, int) else where
            raise DataError(str(problem(row, self.format, spot)), fix="correct or remove that row, or set the data "
                            "format (--data-format / data.format) and columns (data.fields) that fit.") from None
        if self.counter is None:
            self.hist[value] = self.hist.get(value, 0) + 1
            return
        self.batch.append(value)
        if len(self.batch) >= TOKENIZER_BATCH:
            self.flush()

    def flush(self) -> None:
        for n in self.counter(self.batch) if self.batch else ():
            self.hist[n] = self.hist.get(n, 0) + 1
        self.batch = []

    def token_hist(self) -> dict[int, int]:
        """Tokens per row; a classification prompt's label list (known only at the end) is added to every row."""
        from frugaltune.estimate.dataset_stats import chars_to_tokens

        if not self.hist and not self.batch:
            raise DataError(f"{self.path}: no samples", fix="add at least one row")
        self.flush() if self.counter else None
        listed = ", ".join(sorted(self.labels)) if self.labels else ""
        if self.counter is None:
            out: dict[int, int] = {}
            for chars, rows in self.hist.items():
                tokens = chars_to_tokens(chars + len(listed))
                out[tokens] = out.get(tokens, 0) + rows
            return out
        extra = self.counter([listed])[0] - self.counter([""])[0] if listed else 0
        return {tokens + extra: rows for tokens, rows in self.hist.items()}


def scan(path: Path, format: str | None, counter, sample: int | None, progress: bool) -> Tally:
    """Measure the rows of `path` (all, or a sample of `sample` rows)."""
    from frugaltune.train.data_io import file_kind, iter_rows

    tally = Tally(path, format, counter)
    ticker = Ticker(f"reading {path.name}", path.stat().st_size) if progress else None
    if file_kind(path) == "jsonl":
        _scan_jsonl(path, tally, ticker, _line_sample(path, sample) if sample else None)
    else:
        _scan_rows(iter_rows(path), tally, ticker, sample)
    if ticker:
        ticker.close(tally.rows)
    return tally


def _line_sample(path: Path, sample: int) -> set[int]:
    """`sample` line numbers (1-based) drawn uniformly without replacement, after counting the file's lines."""
    lines, last = 0, b"\n"
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    lines += last != b"\n"
    return {n + 1 for n in random.Random(SAMPLE_SEED).sample(range(lines), min(sample, lines))}


def _scan_jsonl(path: Path, tally: Tally, ticker: Ticker | None, picks: set[int] | None) -> None:
    loads, done = json.loads, 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            done += len(raw)
            if ticker and not lineno % TICK_ROWS:
                ticker.update(done, tally.rows)
            if raw.isspace():
                continue
            tally.rows += 1
            if picks is not None and lineno not in picks and tally.measure is not None:
                continue
            try:
                row = loads(raw)
            except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
                raise DataError(f"{path} line {lineno}: invalid JSON ({getattr(e, 'msg', None) or e}).",
                                fix="fix or remove that line (one JSON object per line).") from None
            if tally.measure is None:
                tally.start(row, lineno)
                if picks is not None and lineno not in picks:
                    continue
            tally.add(row, lineno)


def _scan_rows(rows, tally: Tally, ticker: Ticker | None, sample: int | None) -> None:
    rng, kept = random.Random(SAMPLE_SEED), []
    for where, row in rows:
        tally.rows += 1
        if ticker and not tally.rows % TICK_ROWS:
            ticker.update(0, tally.rows)
        if tally.measure is None:
            tally.start(row, where)
        if sample is None:
            tally.add(row, where)
        elif len(kept) < sample:
            kept.append((where, row))
        else:  # Algorithm R: row i replaces a kept one with probability sample / i
            j = rng.randrange(tally.rows)
            if j < sample:
                kept[j] = (where, row)
    for where, row in kept:
        tally.add(row, where)
