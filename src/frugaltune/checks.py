"""The validation layer: every number entering frugaltune (CLI flags, the Python API, YAML configs, CSV catalogs,
dataset statistics) is checked by the functions here, where it enters the model (the Job record, the planner API,
the budget and run-config schemas, catalog cell parsing). A failure is one ConfigError (exit 2) naming the field,
what was wrong and what to write instead; nothing non-finite gets past.

Each `Limit` holds a field's hard range (an error outside it) and, for the physical sanity limits, the reason in
words. Stdlib only (math): `frugaltune estimate --json` imports this module at start-up.
"""

from __future__ import annotations

import math

from frugaltune.errors import ConfigError


class Limit:
    """The accepted range of one numeric field: `lo` <= value (or < with `lo_open`), value <= `hi`."""

    __slots__ = ("example", "hi", "integer", "lo", "lo_open", "why")

    def __init__(self, lo: float | None = None, hi: float | None = None, *, integer: bool = False,
                 lo_open: bool = False, example: object = None, why: str = ""):
        self.lo, self.hi, self.integer, self.lo_open = lo, hi, integer, lo_open
        self.example, self.why = example, why

    def expected(self) -> str:
        """'a whole number from 1 to 65,536' / 'a number > 0' in words."""
        kind = "a whole number" if self.integer else "a number"
        lo, hi = _words(self.lo), _words(self.hi)
        if self.lo is not None and self.hi is not None:
            return f"{kind} {'>' if self.lo_open else 'from'} {lo}{' and <=' if self.lo_open else ' to'} {hi}"
        if self.lo is not None:
            return f"{kind} {'>' if self.lo_open else '>='} {lo}"
        if self.hi is not None:
            return f"{kind} <= {hi}"
        return f"a finite {kind[2:]}"


def _words(x: float | None) -> str:
    if x is None:
        return ""
    if float(x).is_integer() and abs(x) < 1e16:
        return f"{int(x):,}"
    return f"{x:g}"


def is_number(value: object) -> bool:
    """An int or float (bool is not a number here: `epochs: yes` is a mistake)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite(value: object) -> bool:
    """A number that is neither NaN nor infinite (ints are always finite)."""
    return is_number(value) and (isinstance(value, int) or math.isfinite(value))


def check(value: object, label: str, limit: Limit, fix: str | None = None) -> int | float:
    """`value` as a plain int/float when it is a number within `limit`; else a ConfigError naming `label`.

    Integral floats (1e4 from a YAML or CSV file) are accepted for whole-number fields and returned as int.

    Args:
        value: what the user gave.
        label: how the user wrote the field: '--epochs', 'training.lr', 'phases[2].months'.
        limit: the accepted range.
        fix: what to write instead (default: "<label> <example>" or the range in words).
    Raises:
        ConfigError: not a number, not finite, not whole, or out of range (the message says which).
    """
    problem = _problem(value, limit)
    if problem is None:
        return int(value) if limit.integer else value
    if fix is None:
        example = f", e.g. {label} {limit.example}" if limit.example is not None else ""
        fix = f"give {label} {limit.expected()}{example}."
    raise ConfigError(f"{label} = {_shown(value)}: {problem}.", fix=fix)


def within(value: object, limit: Limit) -> bool:
    """Whether `check` would accept `value` (cheap: builds no message)."""
    return _problem(value, limit) is None


def _problem(value: object, limit: Limit) -> str | None:
    if not is_number(value):
        return f"expected {limit.expected()}, got {type(value).__name__}"
    if not finite(value):
        return "not a finite number"
    if limit.integer and not float(value).is_integer():
        return "expected a whole number"
    if limit.lo is not None and (value < limit.lo or (limit.lo_open and value == limit.lo)):
        return f"must be {'>' if limit.lo_open else '>='} {_words(limit.lo)}"
    if limit.hi is not None and value > limit.hi:
        return f"more than {_words(limit.hi)}{' (' + limit.why + ')' if limit.why else ''}"
    return None


def _shown(value: object) -> str:
    """The value as the user would recognise it (short)."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_optional(value: object, label: str, limit: Limit, fix: str | None = None) -> int | float | None:
    """`check`, letting None (not given) through."""
    return None if value is None else check(value, label, limit, fix)


def coerce(value: object, label: str, limit: Limit) -> object:
    """A number written as text ('3', '1e4', '2.5') as a number; anything else unchanged (check() then judges it).

    YAML reads `1e4` as a string (YAML 1.1 needs `1.0e4`), and API callers pass strings from their own configs."""
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return value
        if limit.integer and number.is_integer() and abs(number) < 2**63:
            return int(number)
        return number
    return value


# Physical sanity limits shared by the estimator, the planner and the run config. Each is generous (a job past it is
# a typo, not an ambitious plan) and says why in the message.
MAX_GPUS = 65_536  # more accelerators than the largest published training clusters
MAX_SEQ_LEN = 10_485_760  # 10M tokens: the longest context any released model supports (Llama 4 Scout)
MAX_SAMPLES = 10**12  # a trillion samples: orders of magnitude past any fine-tuning set
MAX_EPOCHS = 10_000
GPU_HOURS_WARN = 1e6  # an estimate past a million GPU-hours is almost surely a mistyped size: warned


BINARY_SUFFIXES = (".parquet", ".pq", ".arrow")
SNIFF_BYTES = 8192


def readable_file(path: object, label: str, *, allow_dir: bool = False) -> None:
    """A dataset (or other input) path that exists, is a file (or a directory when `allow_dir`), can be read, and
    holds text when its suffix says text: a directory, an unreadable file or a binary file is one DataError naming
    `label` and the path, not a traceback from deep inside a reader. (An empty file is the reader's to report.)

    Raises:
        DataError: missing, a directory, unreadable or binary.
    """
    import os

    from frugaltune.errors import DataError

    p = os.fspath(path) if not isinstance(path, str) else path
    if not p:
        raise DataError(f"{label} is empty.", fix=f"give {label} the path of a data file.")
    if not os.path.exists(p):
        raise DataError(f"dataset file not found: {p} ({label}).", fix=f"check the path given to {label}.")
    if os.path.isdir(p):
        if allow_dir:
            return
        raise DataError(f"{label} {p} is a directory, not a data file.", fix=f"give {label} a .jsonl, .json or .csv "
                        "file inside it.")
    try:
        with open(p, "rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError as err:
        raise DataError(f"{label} {p}: cannot read it ({err.strerror or err}).",
                        fix="check the file's permissions (or pass a copy you can read).") from None
    if p.lower().endswith(BINARY_SUFFIXES):
        return
    if b"\0" in head or not _utf8_prefix(head, complete=len(head) < SNIFF_BYTES):
        raise DataError(f"{label} {p} is not a text file (binary or not UTF-8).",
                        fix="give a UTF-8 .jsonl, .json or .csv file (re-save it as UTF-8 if it is text).")


def _utf8_prefix(head: bytes, complete: bool) -> bool:
    """Whether `head` is UTF-8 (a multi-byte character cut at the end of a partial read is fine)."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        return not complete and err.start >= len(head) - 3 and err.reason == "unexpected end of data"
    return True


def writable_file(output: object, flag: str) -> None:
    """A path a command may write a file to: not empty, not a directory, no parent that is a file.

    Raises:
        ConfigError: naming `flag` and what is wrong with the path.
    """
    import os

    if output is None:
        return
    p = os.fspath(output) if not isinstance(output, str) else output
    if not p.strip():
        raise ConfigError(f"{flag} is empty.", fix=f"give {flag} a file name, e.g. {flag} run.yaml.")
    if os.path.isdir(p):
        raise ConfigError(f"{flag} {p} is a directory.", fix=f"give {flag} a file name inside it.")
    parent = os.path.dirname(os.path.abspath(p))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        raise ConfigError(f"{flag} {p}: {parent} is a file, not a directory.",
                          fix=f"give {flag} a path whose parents are directories.")
