"""The text each row of a dataset trains on, per format, as the trainer renders it (train/data_tokens.py): alpaca rows
in the Stanford Alpaca prompt, classification rows in the default classification prompt, chat turns with a fixed
allowance for the chat template's role markers. `chars(row)` counts characters without building the text (the
4-characters-per-token path over millions of rows); `text(row)` builds it for a tokenizer.

A row that does not fit its format raises RowProblem with the trainer's message for it, naming the format that
would fit when its columns say so.
"""

from __future__ import annotations

from frugaltune.train.data_tokens import ALPACA_PROMPT, ALPACA_PROMPT_NO_INPUT, CLASSIFICATION_PROMPT

CHAT_TURN_TOKENS = 4  # role markers per turn: Llama 3 / ChatML templates add 4-5 tokens around each message
CHARS_PER_TOKEN_TURN = 4 * CHAT_TURN_TOKENS  # the same allowance in characters (4 per token)
_ALPACA = len(ALPACA_PROMPT.format(instruction="", input=""))
_ALPACA_NO_INPUT = len(ALPACA_PROMPT_NO_INPUT.format(instruction=""))
_CLASSIFY = len(CLASSIFICATION_PROMPT.format(labels="", text="")) + 1  # + " " before the label


class RowProblem(ValueError):
    """A row that does not fit the format (the message says why and what would fit)."""


def _str(row: dict, key: str, optional: bool = False) -> str:
    value = row.get(key)
    if type(value) is str:
        return value
    if value is None and optional:
        return ""
    raise TypeError(key)


def _completion_chars(row: dict) -> int:
    if "completion" in row:
        return len(_str(row, "prompt", True)) + len(_str(row, "completion"))
    return len(_str(row, "text"))


def _completion_text(row: dict) -> str:
    if "completion" in row:
        return _str(row, "prompt", True) + _str(row, "completion")
    return _str(row, "text")


def _alpaca_chars(row: dict) -> int:
    given = _str(row, "input", True)
    return ((_ALPACA + len(given)) if given.strip() else _ALPACA_NO_INPUT) + len(_str(row, "instruction")) + \
        len(_str(row, "output"))


def _alpaca_text(row: dict) -> str:
    given = _str(row, "input", True)
    prompt = ALPACA_PROMPT if given.strip() else ALPACA_PROMPT_NO_INPUT
    return prompt.format(instruction=_str(row, "instruction"), input=given) + _str(row, "output")


def _label(row: dict) -> str:
    value = row.get("label")
    return str(value) if type(value) is int else _str(row, "label")


def _classify_chars(row: dict) -> int:
    return _CLASSIFY + len(_str(row, "text").strip()) + len(_label(row))


def _classify_text(row: dict) -> str:
    return CLASSIFICATION_PROMPT.format(labels="", text=_str(row, "text").strip()) + " " + _label(row)


def _turns(row: dict) -> list:
    turns = row["messages"]
    if type(turns) is str:  # CSV cells and some Parquet files hold the list as JSON text
        import json

        turns = json.loads(turns)
    if type(turns) is not list or not turns:
        raise TypeError("messages")
    return turns


def _chat_chars(row: dict) -> int:
    return sum(len(_str(m, "content")) + CHARS_PER_TOKEN_TURN for m in _turns(row))


def _chat_text(row: dict) -> str:
    return "\n".join(f"{_str(m, 'role')}: {_str(m, 'content')}" for m in _turns(row))


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [str(value)] if value is not None else []


def _any_text(row) -> str:
    return "\n".join(_strings(row))


def _any_chars(row) -> int:
    return len(_any_text(row))


# format -> (characters of the rendered row, the rendered row); None: the format is unknown, every string counts.
MEASURES = {
    "completion": (_completion_chars, _completion_text),
    "alpaca": (_alpaca_chars, _alpaca_text),
    "classification": (_classify_chars, _classify_text),
    "chat": (_chat_chars, _chat_text),
    None: (_any_chars, _any_text),
}


def problem(row: object, format: str, where: str) -> RowProblem:
    """The trainer's message for a row that does not fit `format` (train/data_rows.py), plus the format that would."""
    from frugaltune.data_format import fits_instead
    from frugaltune.train.data_rows import Fields, RowError, normalize

    try:
        normalize(row, format, Fields(), None)
        why = "cannot be read as " + format
    except RowError as err:
        why = f"{err} ({err.hint})"
    return RowProblem(f"{where}: {why}.{fits_instead(row, format)}")
