"""Dataset formats told apart by their columns: one function (`detect_format`) used by `estimate --dataset`, `plan`
(which writes the detected `format:` into run.yaml) and `train` (`data.format: auto`).

  messages                 -> chat            (a list of {role, content} turns)
  instruction + output     -> alpaca          (input optional)
  text + label             -> classification
  prompt + completion      -> completion
  text alone               -> completion      (single texts: the whole text is trained on)

Stdlib only and light: the estimate path imports it.
"""

from __future__ import annotations

FORMATS = ("alpaca", "chat", "completion", "classification")
AUTO = "auto"
# (format, the columns that identify it), checked in this order: the first whose columns are all present wins.
SIGNATURES = (
    ("chat", ("messages",)),
    ("alpaca", ("instruction", "output")),
    ("classification", ("text", "label")),
    ("completion", ("prompt", "completion")),
    ("completion", ("text",)),
)


def detect_format(row: object, columns: dict[str, str] | None = None) -> str | None:
    """The format whose columns `row` has (see the module docstring), or None when none fits. `columns` renames
    the standard columns (`{"text": "body"}`), as a run config's data.fields does."""
    if not isinstance(row, dict):
        return None
    columns = columns or {}
    for name, needed in SIGNATURES:
        if all(row.get(columns.get(c, c)) is not None for c in needed):
            return name
    return None


def detect_file_format(path, columns: dict[str, str] | None = None) -> tuple[str, str]:
    """(format, where) detected from the first row of a dataset file; a DataError when its columns fit no format."""
    from frugaltune.errors import DataError
    from frugaltune.train.data_io import iter_rows

    rows = iter_rows(path)
    for where, row in rows:
        fmt = detect_format(row, columns)
        if fmt is None:
            raise no_format_error(row, where)
        return fmt, str(path)
    raise DataError(f"{path}: no rows.", fix="point data.path at a file with data in it.")


def signature(format: str) -> str:
    """'messages' / 'instruction + output' / ...: the columns that identify `format` (first signature)."""
    return next(" + ".join(cols) for name, cols in SIGNATURES if name == format)


def fits_instead(row: object, format: str) -> str:
    """' This row looks like <other> data (its columns: ...): set data.format: <other>.' when a row that does not
    fit `format` has the columns of another format, else ''."""
    other = detect_format(row)
    if other is None or other == format:
        return ""
    return f" This row looks like {other} data ({signature(other)}): set data.format: {other} (or auto)."


def detection_note(format: str, where: str) -> str:
    """The line commands print: 'data format: chat (detected in FILE: messages)'."""
    return f"data format: {format} (detected in {where}: {signature(format)})"


def no_format_error(row: object, where: str):
    """The DataError for a first row that fits no format."""
    from frugaltune.errors import DataError

    keys = ", ".join(repr(k) for k in list(row)[:8]) if isinstance(row, dict) else type(row).__name__
    return DataError(f"{where}: cannot tell the data format from its columns ({keys}).",
                     fix="set data.format (--data-format) to alpaca, chat, completion or classification and name the "
                     "columns under data.fields; the formats: messages (chat), instruction + output (alpaca), "
                     "text + label (classification), prompt + completion or text (completion).")
