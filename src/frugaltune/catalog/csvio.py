"""Typed CSV rows for the catalog: each column is a record field, parsed by the field's annotated type.

Stdlib only (csv), so `frugaltune estimate --json` stays fast. Values become plain Python floats/ints/bools
(SkyPilot's numpy floats broke JSON output). A bad cell raises CatalogError naming file, line and column.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator

from frugaltune.errors import CatalogError, did_you_mean
from frugaltune.record import Field, fields

_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}
ALIAS_SEPARATOR = "|"


def _parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError("expected true/false or yes/no")


def _parse_float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):  # nan/inf would reach every price and estimate
        raise ValueError("not a finite number")
    return value


def _parse_int(text: str) -> int:
    value = _parse_float(text)
    if value != int(value):
        raise ValueError("expected a whole number")
    return int(value)


def _parse_tuple(text: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in text.split(ALIAS_SEPARATOR) if a.strip())


# Annotation string (types.py uses `from __future__ import annotations`) -> (parser, value for an empty cell).
_PARSERS: dict[str, tuple[Callable[[str], object], object]] = {
    "str": (str, ""),
    "int": (_parse_int, None),
    "float": (_parse_float, None),
    "bool": (_parse_bool, None),
    "float | None": (_parse_float, None),
    "int | None": (_parse_int, None),
    "tuple[str, ...]": (_parse_tuple, ()),
}


# What a user is asked to put in a cell of each type (error messages speak of numbers, not Python annotations).
_WORDS = {"int": "a whole number", "int | None": "a whole number", "float": "a number",
          "float | None": "a number", "bool": "true or false", "str": "text",
          "tuple[str, ...]": f"names separated by '{ALIAS_SEPARATOR}'"}

_FIELDS_CACHE: dict[type, dict[str, Field]] = {}


def row_fields(cls: type) -> dict[str, Field]:
    """The CSV columns of a row class: its record fields with a parsable type (so `extra: dict` is skipped)."""
    cached = _FIELDS_CACHE.get(cls)
    if cached is None:
        cached = _FIELDS_CACHE[cls] = {f.name: f for f in fields(cls) if f.type in _PARSERS}
    return cached


def required_columns(cls: type) -> list[str]:
    """Fields without a default: a new (non-overriding) row must fill them."""
    return [n for n, f in row_fields(cls).items() if f.required]


def _plan(cls: type, header: list[str]) -> list[tuple[str, Callable[[str], object], object]]:
    """(column, parser, value of an empty cell) for each header column, computed once per file."""
    fields = row_fields(cls)
    return [(h, *_PARSERS[fields[h].type]) for h in header]


def parse_cell(cls: type, column: str, text: str, where: str) -> object:
    """Parse one cell; `where` is 'file:line' for the error message."""
    return _parse(_plan(cls, [column])[0], text, where, cls)


def _parse(plan: tuple[str, Callable[[str], object], object], text: str, where: str, cls: type) -> object:
    column, parser, empty = plan
    text = text.strip()
    if text == "":
        return empty
    try:
        return parser(text)
    except ValueError as err:
        kind = _WORDS.get(row_fields(cls)[column].type, row_fields(cls)[column].type)
        raise CatalogError(
            f"{where}: column '{column}': cannot read {text!r} as {kind} ({err}).",
            fix=f"put {kind} in column '{column}' (or leave it empty to keep the shipped value).",
        ) from None


def read_rows(path: str | os.PathLike, cls: type, keep_empty: bool = False) -> Iterator[tuple[int, dict[str, object]]]:
    """Yield (line number, {column: parsed value}) for each non-empty row.

    Empty cells are left out (a user row overrides only the cells it fills) unless `keep_empty`, where they get
    the type's empty value (None, "" or ()), as the shipped files need.

    Raises:
        CatalogError: unknown column header, wrong number of cells, or a cell of the wrong type.
    """
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            _check_header(path, header, row_fields(cls))
            plan = _plan(cls, header)
            for cells in reader:
                if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                    continue
                where = f"{path}:{reader.line_num}"
                if len(cells) != len(header):
                    raise CatalogError(
                        f"{where}: {len(cells)} cells but the header has {len(header)} columns.",
                        fix="quote cells that contain commas, and give every row one cell per header column.",
                    )
                yield reader.line_num, {p[0]: _parse(p, c, where, cls) for p, c in zip(plan, cells)
                                        if keep_empty or c.strip()}
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise CatalogError(f"{path}: cannot read catalog file ({err}).", fix="fix or remove the file.") from None


def _check_header(path: str | os.PathLike, header: list[str], columns: dict) -> None:
    for i, name in enumerate(header, start=1):
        if name not in columns:
            raise CatalogError(
                f"{path}:1: column {i} {name!r} is not a catalog column.{did_you_mean(name, columns)}",
                fix=f"use column names from the shipped file: {', '.join(columns)}.",
            )
