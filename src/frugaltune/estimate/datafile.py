"""Shipped, sourced data files of the estimator (catalog/data/*.csv) read as plain rows, cached with datacache so
the `estimate --json` start-up path never imports csv."""

from __future__ import annotations

import os

from frugaltune import datacache

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "catalog", "data")
_ROWS: dict[str, list[dict]] = {}  # per process


def shipped_rows(filename: str) -> list[dict]:
    """Every row of catalog/data/`filename` as a dict of strings (read once per process, cached per user)."""
    if filename not in _ROWS:
        path = os.path.join(DATA_DIR, filename)
        _ROWS[filename] = datacache.cached(filename.replace(".", "-"), [path], lambda: _read(path))
    return _ROWS[filename]


def _read(path: str) -> list[dict]:
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]


_LINKS: dict[str, dict] = {}


def interconnect(gpu_name: str) -> dict:
    """The interconnect row of a GPU (catalog/data/interconnect.csv), else the PCIe 4.0 default row."""
    if not _LINKS:
        _LINKS.update({r["gpu"]: r for r in shipped_rows("interconnect.csv")})
    return _LINKS.get(gpu_name, _LINKS["default"])
