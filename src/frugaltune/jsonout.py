"""`json.dumps(value, indent=2)` for plain data, without importing `json`.

Why: `import json` pulls in `re` and `enum` (~9 ms here), a fifth of `frugaltune estimate --json`'s start-up budget
(bench/cli_startup.py). The output is the same text `json.dumps(value, indent=2)` writes (ASCII only, non-ASCII as
\\uXXXX escapes, NaN/Infinity as json writes them); tests/test_jsonout.py checks that on the JSON contract and on
edge cases. Supports dict, list, tuple, str, int, float, bool and None, as json does without a `default=` hook.
"""

from __future__ import annotations

import math

_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def dumps(value: object, indent: int = 2) -> str:
    """`value` as indented JSON text, identical to `json.dumps(value, indent=indent)`."""
    parts: list[str] = []
    _write(value, parts, " " * indent, "\n")
    return "".join(parts)


def _write(value: object, parts: list[str], step: str, newline: str) -> None:
    if isinstance(value, str):
        parts.append(_string(value))
    elif value is None or isinstance(value, (bool, int, float)):
        parts.append(_scalar(value))
    elif isinstance(value, dict):
        _container(parts, "{", "}", list(value.items()), step, newline, keyed=True)
    elif isinstance(value, (list, tuple)):
        _container(parts, "[", "]", value, step, newline, keyed=False)
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _container(parts: list[str], opening: str, closing: str, items, step: str, newline: str, keyed: bool) -> None:
    if not items:
        parts.append(opening + closing)
        return
    inner = newline + step
    parts.append(opening)
    for i, item in enumerate(items):
        parts.append(inner if i == 0 else "," + inner)
        if keyed:
            key, item = item
            parts.append(_key(key) + ": ")
        _write(item, parts, step, inner)
    parts.append(newline + closing)


def _key(key: object) -> str:
    """Dict keys as json writes them: strings as they are, scalars in their JSON spelling."""
    if isinstance(key, str):
        return _string(key)
    if key is None or isinstance(key, (bool, int, float)):
        return _string(_scalar(key))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _string(text: str) -> str:
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return '"' + "".join(_char(c) for c in text) + '"'


def _char(c: str) -> str:
    if c in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[c]
    if " " <= c <= "~":
        return c
    code = ord(c)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # astral characters become a UTF-16 surrogate pair, as json writes them
    return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"
