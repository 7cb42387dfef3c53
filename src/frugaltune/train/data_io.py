"""Reading dataset files into raw rows, each tagged with where it came from ("train.jsonl line 17").

Supported: JSON Lines (.jsonl/.ndjson), JSON (.json: a list of objects, an object holding one such list, or
JSON Lines under a .json name), CSV/TSV, Parquet, and a directory written by `datasets.save_to_disk`.
Locations are 1-based: "line N" for text files (a CSV's header is line 1), "row N" for Parquet and `datasets`,
"item N" for the elements of a JSON array.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from frugaltune.errors import DataError

PARQUET_BATCH_ROWS = 4096
Row = tuple[str, Any]
"""(location, row): location is e.g. "data/train.jsonl line 17"; row is whatever the file held there."""

SUFFIXES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def read_rows(path: str | Path, *, split: str | None = None) -> list[Row]:
    """Read every row of a dataset file or saved `datasets` directory.

    Args:
        path: a .jsonl/.ndjson/.json/.csv/.tsv/.parquet file, or a `datasets.save_to_disk` directory.
        split: which split of a saved `DatasetDict` (default "train", or the only split).

    Returns:
        (location, row) pairs in file order.

    Raises:
        DataError: the path is missing, has an unknown extension, or is not parseable.
    """
    return list(iter_rows(path, split=split))


def iter_rows(path: str | Path, *, split: str | None = None) -> Iterator[Row]:
    """`read_rows` one row at a time: JSONL, CSV/TSV and Parquet (row group by row group) are read in constant memory;
    a JSON array and a saved `datasets` directory are loaded whole. The path is checked before the first row."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{path}: no such file or directory.", fix="check data.path (relative paths are taken from "
                        "the current directory, then the config's directory).")
    if p.is_dir():
        return iter(_read_disk(p, split))
    from frugaltune.checks import readable_file

    readable_file(p, "data file")  # unreadable, empty or binary: one line, not a reader's traceback
    kind = file_kind(p)
    reader = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "tsv": _read_tsv,
              "parquet": _read_parquet}[kind]
    return reader(p)


def file_kind(p: Path) -> str:
    """jsonl, json, csv, tsv or parquet, from the file's extension."""
    kind = SUFFIXES.get(p.suffix.lower())
    if kind is None:
        raise DataError(f"{p}: unknown data file type '{p.suffix or '(none)'}'.",
                        fix=f"use one of {', '.join(sorted(SUFFIXES))}, or a directory from datasets' save_to_disk.")
    return kind


def _read_jsonl(p: Path) -> Iterator[Row]:
    with p.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            where = f"{p} line {lineno}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{where}: not UTF-8 text ({e.reason}).", fix="re-save the file as UTF-8.") from e
            if not line.strip():
                continue
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{where}: invalid JSON ({e.msg} at column {e.colno}).",
                                fix="each line of a JSONL file must be one complete JSON object.") from e


def _read_json(p: Path) -> Iterator[Row]:
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{p}: not UTF-8 text ({e.reason}).", fix="re-save the file as UTF-8.") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # several JSON values one after another: JSON Lines under a .json name
            yield from _read_jsonl(p)
            return
        raise DataError(f"{p} line {e.lineno}: invalid JSON ({e.msg} at column {e.colno}).",
                        fix="fix the JSON syntax there, or write the data as JSONL (one object per line).") from e
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataError(f"{p}: expected a JSON array of records (or an object holding one array), got an object "
                            f"with keys {sorted(data)[:5]}.", fix="write the records as a top-level JSON array or JSONL.")
        data = lists[0]
    if not isinstance(data, list):
        raise DataError(f"{p}: expected a JSON array of records, got {type(data).__name__}.",
                        fix="write the records as a top-level JSON array or JSONL.")
    for i, row in enumerate(data, start=1):
        yield f"{p} item {i}", row


def _read_csv(p: Path, delimiter: str = ",") -> Iterator[Row]:
    try:
        with p.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            end = 1  # the header's last line
            for row in reader:
                start, end = end + 1, reader.line_num
                where = f"{p} line {start}"
                if None in row:
                    raise DataError(f"{where}: {len(row[None])} more value(s) than the header's "
                                    f"{len(reader.fieldnames or [])} columns.",
                                    fix="quote values that contain the delimiter, e.g. \"a, b\".")
                if None in row.values():
                    raise _missing_cells(where, row, len(reader.fieldnames or []), spans=end > start)
                yield where, row
    except UnicodeDecodeError as e:
        raise DataError(f"{p}: not UTF-8 text ({e.reason}).", fix="re-save the file as UTF-8.") from e
    except csv.Error as e:
        raise DataError(f"{p}: malformed CSV ({e}).", fix="check the quoting near that line.") from e


def _missing_cells(where: str, row: dict, columns: int, spans: bool) -> DataError:
    """A row with fewer values than the header; one that ran over several lines has a quote that never closed."""
    given = sum(v is not None for v in row.values())
    if spans:
        return DataError(f"{where}: a quoted value runs over the following lines and the row ends with {given} of "
                         f"{columns} values (a quote that is never closed?).",
                         fix="close the quote on that line (a quote inside a quoted value is written twice: \"\").")
    return DataError(f"{where}: {given} value(s) but the header has {columns} columns.",
                     fix="add the missing values (an empty value is two delimiters in a row).")


def _read_tsv(p: Path) -> Iterator[Row]:
    return _read_csv(p, delimiter="\t")


def _read_parquet(p: Path) -> Iterator[Row]:
    """Row group by row group (batches of at most PARQUET_BATCH_ROWS rows): memory does not grow with the file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    i = 0
    try:
        for batch in pq.ParquetFile(p).iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for row in batch.to_pylist():
                i += 1
                yield f"{p} row {i}", row
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{p}: not a readable Parquet file ({e}).", fix="re-write it, e.g. with "
                        "pandas.DataFrame.to_parquet or datasets' to_parquet.") from e


def _read_disk(p: Path, split: str | None) -> list[Row]:
    if not any((p / name).exists() for name in ("state.json", "dataset_dict.json")):
        raise DataError(f"{p}: a directory, but not one written by datasets' save_to_disk (no state.json or "
                        "dataset_dict.json).", fix="point data.path at a data file or a save_to_disk directory.")
    import datasets

    ds = datasets.load_from_disk(str(p))
    if isinstance(ds, datasets.DatasetDict):
        ds = _pick_split(p, ds, split)
    rows = ds.to_list()
    for name, feature in ds.features.items():  # class labels are stored as ints; give back their names
        if isinstance(feature, datasets.ClassLabel):
            for row in rows:
                if isinstance(row.get(name), int) and 0 <= row[name] < feature.num_classes:
                    row[name] = feature.int2str(row[name])
    return [(f"{p} row {i}", row) for i, row in enumerate(rows, start=1)]


def _pick_split(p: Path, dd: Any, split: str | None) -> Any:
    names = list(dd)
    if split is None:
        split = "train" if "train" in dd or len(names) != 1 else names[0]
    if split not in dd:
        raise DataError(f"{p}: no split '{split}' (splits: {', '.join(names)}).",
                        fix="save the split you want on its own, or name one of the splits.")
    return dd[split]
