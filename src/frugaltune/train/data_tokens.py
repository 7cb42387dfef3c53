"""Turning records into token ids: prompts, chat segments, special tokens, truncation.

Prompt and response are tokenized separately and concatenated (as torchtune does), so the boundary between
masked and trained tokens is exact whatever the tokenizer merges; training and label scoring share this code, so
a label is scored on exactly the tokens it was trained on.
"""

from __future__ import annotations

from typing import Any

from frugaltune.errors import ConfigError, DataError

ALPACA_PROMPT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)
"""The Stanford Alpaca prompts (tatsu-lab/stanford_alpaca, train.py PROMPT_DICT)."""

CLASSIFICATION_PROMPT = "Classify this text into one of: {labels}.\nText: {text}\nLabel:"
"""Default classification prompt; `{labels}` is the comma-separated label list and `{text}` the row's text.
The answer follows as " <label>" + EOS. Datasets pass their own wording, e.g. the trade classifier's
"Classify this job description into one of: {labels}.\\nJob: {text}\\nTrade:"."""

TAIL_KEEP_TOKENS = 16
"""When a prompt is cut, up to this many of its last tokens are kept (they hold the cue the answer follows,
such as "### Response:" or "Label:"); the cut comes out of the middle."""


def classification_prompt(text: str, labels: list[str], template: str | None = None) -> str:
    """The instruction a classification row is rendered as; the answer is " <label>" after it.

    Args:
        text: the text to classify.
        labels: the label set, in the order shown to the model.
        template: a str.format template with `{labels}` and `{text}` (default CLASSIFICATION_PROMPT).

    Returns:
        The prompt, e.g. "Classify this text into one of: a, b, c.\\nText: ...\\nLabel:".
    """
    return (template or CLASSIFICATION_PROMPT).format(labels=", ".join(labels), text=text.strip())


def check_template(template: str | None) -> None:
    """Raise ConfigError when a classification template lacks `{text}` or has unknown fields."""
    if template is None:
        return
    try:
        rendered = template.format(labels="\0L", text="\0T")
    except (KeyError, IndexError, ValueError) as e:
        raise ConfigError(f"classification prompt template {template!r} does not render ({e!r}).",
                          fix="use only the fields {labels} and {text}; double other braces ({{ }}).") from e
    if "\0T" not in rendered:
        raise ConfigError(f"classification prompt template {template!r} has no {{text}} field.",
                          fix="add {text} where the row's text goes.")


def encode(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """Token ids of each text, without special tokens (a Hugging Face tokenizer, batched)."""
    if not texts:
        return []
    return [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def special_prefix(tokenizer: Any) -> list[int]:
    """The ids the tokenizer puts before a text by itself (BOS for Llama-style tokenizers, none for GPT-2 style)."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    full = tokenizer("a", add_special_tokens=True)["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if list(full[start:start + len(plain)]) == list(plain):
            return list(full[:start])
    return []


def eos_suffix(tokenizer: Any) -> list[int]:
    """[eos_token_id], or [] for a tokenizer without one."""
    eos = getattr(tokenizer, "eos_token_id", None)
    return [] if eos is None else [int(eos)]


def middle_cut(ids: list[int], keep: int) -> list[int]:
    """Shorten `ids` to `keep` tokens by removing from the middle, keeping up to TAIL_KEEP_TOKENS at the end."""
    if keep >= len(ids):
        return ids
    if keep <= 0:
        return []
    tail = min(keep // 2, TAIL_KEEP_TOKENS)
    return ids[: keep - tail] + (ids[len(ids) - tail:] if tail else [])


def truncate_pair(prompt: list[int], response: list[int], budget: int) -> tuple[list[int], list[int], bool]:
    """Fit prompt + response into `budget` tokens, keeping the response where possible.

    The response keeps at least half the budget (its end is cut when longer); the prompt gets the rest, cut in
    the middle (see `middle_cut`). Returns (prompt, response, truncated).
    """
    if len(prompt) + len(response) <= budget:
        return prompt, response, False
    resp_keep = min(len(response), max(budget - len(prompt), budget // 2))
    return middle_cut(prompt, budget - resp_keep), response[:resp_keep], True


def render_chat(tokenizer: Any, messages: list[dict], *, generation_prompt: bool = False) -> str:
    """The tokenizer's chat template applied to `messages`, as text."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def chat_segments(tokenizer: Any, messages: list[dict]) -> list[tuple[str, bool]]:
    """Split a rendered conversation into (text, trained) pieces: assistant replies trained, the rest not.

    Each assistant reply is the text that rendering messages[:i+1] adds to rendering messages[:i] with the
    generation prompt, so the template's own end-of-turn token is trained too (the model learns to stop).
    Templates whose rendering of a prefix is not a prefix of the full rendering (some drop earlier turns'
    reasoning) fall back to training on the last assistant reply only.
    """
    try:
        return _segments(tokenizer, messages, [i for i, m in enumerate(messages) if m["role"] == "assistant"])
    except _NotPrefix:
        last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
        try:
            return _segments(tokenizer, messages, [last])
        except _NotPrefix as e:
            raise DataError(f"the tokenizer's chat template renders messages[:{e.args[0]}] as something that is not "
                            "a prefix of the whole conversation, so the assistant reply cannot be located.",
                            fix="use format: completion with the rendered text, or a standard chat template.") from e


class _NotPrefix(Exception):
    pass


def _segments(tokenizer: Any, messages: list[dict], trained: list[int]) -> list[tuple[str, bool]]:
    pieces, done = [], ""
    for i in trained:
        for text, flag in ((render_chat(tokenizer, messages[:i], generation_prompt=True), False),
                           (render_chat(tokenizer, messages[: i + 1]), True)):
            if not text.startswith(done):
                raise _NotPrefix(i + int(flag))
            pieces.append((text[len(done):], flag))
            done = text
    full = render_chat(tokenizer, messages)
    if not full.startswith(done):
        raise _NotPrefix(len(messages))
    pieces.append((full[len(done):], False))
    return [(text, flag) for text, flag in pieces if text]
