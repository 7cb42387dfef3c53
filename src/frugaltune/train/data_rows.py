"""Checking raw rows against a format and normalising them into records.

Records are plain dicts with fixed keys whatever the source columns were called:
  alpaca          {"instruction": str, "input": str, "output": str}   (input may be "")
  chat            {"messages": [{"role": str, "content": str}, ...]}   (at least one non-empty assistant turn)
  completion      {"prompt": str, "completion": str}                   (prompt "" for single-text rows)
  classification  {"text": str, "label": str}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from frugaltune.errors import did_you_mean

FORMATS = ("alpaca", "chat", "completion", "classification")


class RowError(ValueError):
    """One bad row: the message says what is wrong, `hint` what the format expects."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Fields:
    """Source column names for each format's parts."""

    text: str = "text"
    label: str = "label"
    prompt: str = "prompt"
    response: str = "completion"
    instruction: str = "instruction"
    input: str = "input"
    output: str = "output"
    messages: str = "messages"
    text_given: bool = False
    """True when the caller named the text column: completion rows then use it alone."""


HINTS = {
    "alpaca": "alpaca rows need {instruction}, {output}; {input} optional",
    "chat": "chat rows need {messages}: a list of {{role, content}} with at least one assistant turn",
    "completion": "completion rows need {prompt} and {response}, or a single {text} field",
    "classification": "classification rows need {text} and {label}",
}


def hint(format: str, f: Fields) -> str:
    """What a row of `format` must contain, in the caller's column names."""
    return HINTS[format].format(**{k: repr(getattr(f, k)) for k in
                                   ("text", "label", "prompt", "response", "instruction", "input", "output", "messages")})


def normalize(row: Any, format: str, f: Fields, labels: list[str] | None) -> dict:
    """Check one raw row and return its record. Raises RowError saying what is wrong."""
    if not isinstance(row, dict):
        raise RowError(f"expected an object with named fields, got {type(row).__name__}", hint(format, f))
    if format == "alpaca":
        return {"instruction": _text(row, f.instruction, format, f), "input": _text(row, f.input, format, f, True),
                "output": _text(row, f.output, format, f)}
    if format == "chat":
        return {"messages": _messages(row, f)}
    if format == "completion":
        return _completion(row, f)
    return {"text": _text(row, f.text, format, f), "label": _label(row, f, labels)}


def _present(row: dict, name: str) -> bool:
    return row.get(name) is not None


def _text(row: dict, name: str, format: str, f: Fields, optional: bool = False) -> str:
    if not _present(row, name):
        if optional:
            return ""
        raise RowError(f"missing field '{name}'{did_you_mean(name, [str(k) for k in row])}", hint(format, f))
    value = row[name]
    if not isinstance(value, str):
        raise RowError(f"field '{name}' must be a string, got {type(value).__name__} ({_short(value)})",
                       hint(format, f))
    if not optional and not value.strip():
        raise RowError(f"field '{name}' is empty", hint(format, f))
    return value


def _completion(row: dict, f: Fields) -> dict:
    use_text = f.text_given or (not _present(row, f.prompt) and not _present(row, f.response) and _present(row, f.text))
    if use_text:
        return {"prompt": "", "completion": _text(row, f.text, "completion", f)}
    if _present(row, f.prompt) and not _present(row, f.response):
        _text(row, f.response, "completion", f)  # raises "missing field"
    return {"prompt": _text(row, f.prompt, "completion", f, optional=True),
            "completion": _text(row, f.response, "completion", f)}


def _label(row: dict, f: Fields, labels: list[str] | None) -> str:
    value = row.get(f.label)
    if isinstance(value, int) and not isinstance(value, bool):  # integer class ids are labels too
        row = {**row, f.label: str(value)}
    label = _text(row, f.label, "classification", f).strip()
    if labels is not None and label not in labels:
        shown = ", ".join(labels[:12]) + (", ..." if len(labels) > 12 else "")
        raise RowError(f"unknown label '{label}'{did_you_mean(label, labels)}", f"the labels are: {shown}")
    return label


def _messages(row: dict, f: Fields) -> list[dict]:
    value = row.get(f.messages)
    if value is None:
        raise RowError(f"missing field '{f.messages}'{did_you_mean(f.messages, [str(k) for k in row])}",
                       hint("chat", f))
    if isinstance(value, str):  # CSV cells and some Parquet files hold the list as a JSON string
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise RowError(f"field '{f.messages}' is a string but not JSON ({e.msg})", hint("chat", f)) from e
    if not isinstance(value, list) or not value:
        raise RowError(f"field '{f.messages}' must be a non-empty list, got {_short(value)}", hint("chat", f))
    messages = [_message(m, i, f) for i, m in enumerate(value, start=1)]
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        raise RowError("no assistant message with content (nothing to learn from)", hint("chat", f))
    return messages


def _message(m: Any, i: int, f: Fields) -> dict:
    if not isinstance(m, dict):
        raise RowError(f"message {i} must be an object with role and content, got {_short(m)}", hint("chat", f))
    for key in ("role", "content"):
        if not isinstance(m.get(key), str):
            got = "missing" if m.get(key) is None else f"a {type(m.get(key)).__name__}"
            raise RowError(f"message {i}: '{key}' must be a string ({got})", hint("chat", f))
    return {"role": m["role"], "content": m["content"]}


def _short(value: Any, n: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= n else text[: n - 3] + "..."
