"""Training data: load rows, check them, tokenize with the loss on the response only, pack, split, batch.

The public surface the runner uses. No torch at import time: tokenizers and models are passed in, and the
functions that build tensors import torch inside.

Examples are {"input_ids": [...], "labels": [...]} in the Hugging Face convention: `labels` is as long as
`input_ids`, holds -100 where no loss is taken (the prompt), and the model shifts it by one internally.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from frugaltune.data_format import fits_instead
from frugaltune.errors import ConfigError, DataError, did_you_mean
from frugaltune.estimate.steps import held_out_rows
from frugaltune.train.data_classify import accuracy, score_labels
from frugaltune.train.data_io import read_rows
from frugaltune.train.data_rows import FORMATS, Fields, RowError, normalize
from frugaltune.train.data_tokens import (
    ALPACA_PROMPT,
    ALPACA_PROMPT_NO_INPUT,
    CLASSIFICATION_PROMPT,
    chat_segments,
    check_template,
    classification_prompt,
    encode,
    eos_suffix,
    special_prefix,
    truncate_pair,
)

__all__ = [
    "CLASSIFICATION_PROMPT", "IGNORE_INDEX", "Examples", "accuracy", "build_examples", "classification_prompt",
    "collate", "collate_packed", "find_labels", "load_records", "pack_examples", "score_labels", "train_eval_split",
]

log = logging.getLogger(__name__)
IGNORE_INDEX = -100
"""Label value that takes no loss (PyTorch cross_entropy's default ignore_index)."""
MAX_REPORTED_ROWS = 3
T = TypeVar("T")


class Examples(list):
    """The list build_examples returns, plus what it did: `num_truncated` and `num_dropped` examples."""

    num_truncated: int = 0
    num_dropped: int = 0


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise ConfigError(f"unknown data format '{format}'.{did_you_mean(format, FORMATS)}",
                          fix=f"set data.format to one of: {', '.join(FORMATS)}.")


def load_records(path: str | Path, *, format: str, text_field: str | None = None, label_field: str | None = None,
                 prompt_field: str | None = None, response_field: str | None = None,
                 messages_field: str = "messages", instruction_field: str = "instruction",
                 input_field: str = "input", output_field: str = "output", labels: Sequence[str] | None = None,
                 split: str | None = None) -> list[dict]:
    """Read a dataset and check every row against `format`.

    Args:
        path: a .jsonl/.json/.csv/.tsv/.parquet file or a `datasets.save_to_disk` directory.
        format: alpaca | chat | completion | classification.
        text_field: text column (classification; completion rows that are a single text). Naming it for
            completion means rows are single texts even when prompt/completion columns exist.
        label_field: label column (classification, default "label").
        prompt_field, response_field: completion columns (default "prompt", "completion").
        messages_field: chat column holding [{role, content}, ...].
        instruction_field, input_field, output_field: alpaca columns.
        labels: when given, a classification label outside it is an error.
        split: the split of a saved DatasetDict (default "train").

    Returns:
        Normalised records (see `frugaltune.train.data_rows`): the same keys whatever the columns were called.

    Raises:
        DataError: a missing or unreadable file, no rows, or bad rows; the message names the file and 1-based
            line (or row) of the first bad rows and counts the rest.
        ConfigError: an unknown format.
    """
    _check_format(format)
    fields = Fields(text=text_field or "text", label=label_field or "label", prompt=prompt_field or "prompt",
                    response=response_field or "completion", instruction=instruction_field, input=input_field,
                    output=output_field, messages=messages_field, text_given=text_field is not None)
    rows = read_rows(path, split=split)
    if not rows:
        raise DataError(f"{path}: no rows.", fix="point data.path at a file with data in it.")
    records, bad = [], []
    for where, row in rows:
        try:
            records.append(normalize(row, format, fields, list(labels) if labels is not None else None))
        except RowError as e:
            bad.append((where, e, fits_instead(row, format)))
    if bad:
        _raise_bad_rows(bad, len(rows))
    return records


def _raise_bad_rows(bad: list[tuple[str, RowError, str]], total: int) -> None:
    shown = [f"{where}: {e} ({e.hint}).{fits}" for where, e, fits in bad[:MAX_REPORTED_ROWS]]
    more = len(bad) - len(shown)
    message = "\n".join(shown) + (f"\n... and {more} more bad row(s) of {total}." if more else "")
    raise DataError(message, fix="correct or remove those rows, or point the data.fields settings at the right "
                    "columns.")


def find_labels(records: list[dict]) -> list[str]:
    """The sorted distinct labels of classification records (the default label set)."""
    return sorted({r["label"] for r in records})


TOKENIZE_CHUNK = 1024  # records tokenized per batch (progress is reported after each)


def build_examples(records: list[dict], tokenizer: Any, *, format: str, max_seq_len: int,
                   labels: Sequence[str] | None = None, prompt_template: str | None = None,
                   advance: Callable[[int], None] | None = None) -> Examples:
    """Tokenize records into training examples with the loss on the response only.

    alpaca: the Stanford Alpaca prompt, response = output + EOS. completion: prompt, then completion + EOS
    (a single-text row is all response). classification: `classification_prompt`, response = " <label>" + EOS.
    chat: the tokenizer's chat template; every assistant reply (with its end-of-turn tokens) is trained.

    Longer examples are cut to `max_seq_len`: the response keeps at least half of it and the prompt loses its
    middle (`truncate_pair`); a conversation loses its oldest tokens. The count is logged and kept in
    `Examples.num_truncated`; examples left with no trained token are dropped (`num_dropped`).

    Args:
        records: from `load_records` with the same format.
        tokenizer: a Hugging Face tokenizer.
        format: alpaca | chat | completion | classification.
        max_seq_len: the longest example, in tokens.
        labels: classification label set, in prompt order (default: `find_labels(records)`).
        prompt_template: classification prompt template (default CLASSIFICATION_PROMPT).
        advance: called with the number of records tokenized, after each TOKENIZE_CHUNK (progress).

    Returns:
        Examples (a list) of {"input_ids": list[int], "labels": list[int]}.

    Raises:
        ConfigError: unknown format, max_seq_len too small, a chat format with a tokenizer without a chat template.
        DataError: a record the chat template cannot render.
    """
    _check_format(format)
    prefix = special_prefix(tokenizer) if format != "chat" else []
    if max_seq_len < len(prefix) + 2:
        raise ConfigError(f"max_seq_len={max_seq_len} leaves no room for a prompt and a response.",
                          fix="set data.max_seq_len to at least 8.")
    if format == "classification" and labels is None:
        labels = find_labels(records)  # from all records, not per chunk
    pairs = []
    for start in range(0, len(records), TOKENIZE_CHUNK):
        chunk = records[start:start + TOKENIZE_CHUNK]
        pairs += (_chat_token_pieces(chunk, tokenizer, start + 1) if format == "chat" else
                  _pair_token_pieces(chunk, tokenizer, format, labels, prompt_template))
        if advance is not None:
            advance(len(chunk))
    out = Examples()
    for prompt, response in pairs:
        if format == "chat":
            ids, lab, cut = _fit_chat(prompt, response, max_seq_len)
        else:
            p, r, cut = truncate_pair(prompt, response, max_seq_len - len(prefix))
            ids, lab = prefix + p + r, [IGNORE_INDEX] * (len(prefix) + len(p)) + r
        out.num_truncated += cut
        if all(x == IGNORE_INDEX for x in lab):
            out.num_dropped += 1
            continue
        out.append({"input_ids": ids, "labels": lab})
    _report(out, len(records), max_seq_len)
    return out


def _report(out: Examples, total: int, max_seq_len: int) -> None:
    if out.num_truncated:
        log.warning("%d of %d examples were longer than max_seq_len=%d and were truncated.", out.num_truncated,
                    total, max_seq_len)
    if out.num_dropped:
        log.warning("%d of %d examples had no response tokens left and were dropped.", out.num_dropped, total)


def _pair_token_pieces(records: list[dict], tokenizer: Any, format: str, labels: Sequence[str] | None,
                       template: str | None) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids + EOS) per record, tokenized in two batches."""
    if format == "alpaca":
        prompts = [(ALPACA_PROMPT if r["input"].strip() else ALPACA_PROMPT_NO_INPUT).format(**r) for r in records]
        responses = [r["output"] for r in records]
    elif format == "completion":
        prompts, responses = [r["prompt"] for r in records], [r["completion"] for r in records]
    else:
        check_template(template)
        label_list = list(labels) if labels is not None else find_labels(records)
        prompts = [classification_prompt(r["text"], label_list, template) for r in records]
        responses = [" " + r["label"] for r in records]
    eos = eos_suffix(tokenizer)
    return [(p, r + eos) for p, r in zip(encode(tokenizer, prompts), encode(tokenizer, responses))]


def _chat_token_pieces(records: list[dict], tokenizer: Any, first: int = 1) -> list[tuple[list[int], list[int]]]:
    """Per record, (all ids, per-token trained flags as 0/1) from the chat template's segments."""
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigError("format 'chat' needs a tokenizer with a chat template, and this one has none.",
                          fix="use a chat/instruct model's tokenizer, set tokenizer.chat_template, or use format "
                          "'completion'.")
    out = []
    for i, record in enumerate(records, start=first):
        try:
            segments = chat_segments(tokenizer, record["messages"])
        except DataError as e:
            raise DataError(f"record {i}: {e.message}", fix=e.fix) from e
        except Exception as e:  # jinja templates raise their own exceptions ("roles must alternate ...")
            raise DataError(f"record {i}: the chat template cannot render this conversation ({e}).",
                            fix="check the order of roles in its messages.") from e
        ids, flags = [], []
        for piece, trained in zip(encode(tokenizer, [t for t, _ in segments]), (t for _, t in segments)):
            ids += piece
            flags += [int(trained)] * len(piece)
        out.append((ids, flags))
    return out


def _fit_chat(ids: list[int], flags: list[int], max_seq_len: int) -> tuple[list[int], list[int], bool]:
    """Labels from trained flags; a conversation over max_seq_len drops its untrained tail, then its oldest tokens."""
    labels = [t if f else IGNORE_INDEX for t, f in zip(ids, flags)]
    if len(ids) <= max_seq_len:
        return ids, labels, False
    end = max((i + 1 for i, f in enumerate(flags) if f), default=len(ids))
    start = max(0, end - max_seq_len)
    return ids[start:end], labels[start:end], True


def pack_examples(examples: Sequence[dict], seq_len: int, *, eos_id: int | None = None) -> list[dict]:
    """Pack examples into rows of at most `seq_len` tokens, in order, without splitting an example across rows.

    A row is filled with whole examples until the next one does not fit (an example longer than `seq_len` is
    split into `seq_len` chunks on rows of its own), so fewer pad tokens remain than one-per-row without any
    example losing its prompt. Each example already ends with EOS from build_examples; with `eos_id`, one is
    inserted (label -100) after any example that does not.

    Loss across documents: the first token of every example after the first in a row gets label -100, so no
    loss term predicts one document from another. Attention across documents: each row lists its documents'
    lengths (`lengths`; a chunk of a long example counts as a document), from which `collate_packed` restarts
    position_ids at 0 at every document, so transformers attends within each document only.

    Returns:
        Rows {"input_ids", "labels", "lengths"}; their concatenated input_ids equal the examples' concatenated
        input_ids (plus any inserted EOS), their labels equal the examples' labels except at those boundaries,
        and sum(lengths) == len(input_ids).
    """
    if seq_len < 2:
        raise ConfigError(f"packing seq_len={seq_len} is too small.", fix="set data.max_seq_len to at least 8.")
    rows: list[dict] = []
    ids: list[int] = []
    lab: list[int] = []
    lengths: list[int] = []
    for ex in examples:
        e_ids, e_lab = list(ex["input_ids"]), list(ex["labels"])
        if eos_id is not None and (not e_ids or e_ids[-1] != eos_id):
            e_ids, e_lab = e_ids + [eos_id], e_lab + [IGNORE_INDEX]
        if len(e_ids) > seq_len:  # on rows of its own; its last chunk may share a row with what follows
            if ids:
                rows.append({"input_ids": ids, "labels": lab, "lengths": lengths})
            chunks = [(e_ids[s:s + seq_len], e_lab[s:s + seq_len]) for s in range(0, len(e_ids), seq_len)]
            rows += [{"input_ids": i, "labels": la, "lengths": [len(i)]} for i, la in chunks[:-1]]
            ids, lab = chunks[-1]
            lengths = [len(ids)]
            continue
        if ids and len(ids) + len(e_ids) > seq_len:
            rows.append({"input_ids": ids, "labels": lab, "lengths": lengths})
            ids, lab, lengths = [], [], []
        if ids and e_lab:
            e_lab[0] = IGNORE_INDEX
        ids, lab, lengths = ids + e_ids, lab + e_lab, lengths + [len(e_ids)]
    if ids:
        rows.append({"input_ids": ids, "labels": lab, "lengths": lengths})
    return rows


def train_eval_split(items: Sequence[T], eval_fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """Hold out round(len * eval_fraction) items (at least 1 when the fraction is > 0), chosen by `seed`.

    The same items, fraction and seed give the same split on every machine (Python's Mersenne Twister, which
    is specified). Both parts keep the items' original order; shuffling for training is the loop's job.

    Raises:
        ConfigError: a fraction outside [0, 1), or one that leaves nothing to train on.
    """
    if not 0 <= eval_fraction < 1:
        raise ConfigError(f"eval_fraction={eval_fraction} must be in [0, 1).", fix="use e.g. 0.1 to hold out 10%.")
    n_eval = held_out_rows(len(items), eval_fraction)
    if items and n_eval >= len(items):
        raise ConfigError(f"eval_fraction={eval_fraction} of {len(items)} rows leaves nothing to train on.",
                          fix="add rows, lower data.eval_fraction, or give a separate data.eval_path.")
    held = set(random.Random(seed).sample(range(len(items)), n_eval))
    return ([x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held])


def collate(examples: Sequence[dict], pad_id: int, *, pad_to_multiple_of: int | None = None) -> dict:
    """Right-pad a batch into tensors: input_ids (pad_id), labels (-100), attention_mask (0 on padding).

    Deterministic: the output depends only on the examples and their order, so a resumed run that replays
    the same indices gets the same batches.

    Returns:
        {"input_ids", "labels", "attention_mask"}: int64 tensors of shape [batch, longest (rounded up)].
    """
    import torch

    if not examples:
        raise ValueError("collate needs at least one example")
    width = max(len(ex["input_ids"]) for ex in examples)
    if pad_to_multiple_of:
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    ids = torch.full((len(examples), width), int(pad_id), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, ex in enumerate(examples):
        n = len(ex["input_ids"])
        ids[row, :n] = torch.tensor(ex["input_ids"], dtype=torch.long)
        labels[row, :n] = torch.tensor(ex["labels"], dtype=torch.long)
        mask[row, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


PACKED_LAYOUTS = ("flat", "rows")


def collate_packed(rows: Sequence[dict], pad_id: int, *, layout: str = "flat") -> dict:
    """Packed rows into a padding-free batch: position_ids restart at 0 at every document, no attention_mask.

    transformers reads the restarts as document boundaries when no attention_mask is given: flash_attention_2/3
    run the varlen kernel on each document (modeling_flash_attention_utils.py `_is_packed_sequence`,
    `prepare_fa_kwargs_from_position_ids`: a document starts where position_ids equal their minimum, 0), and sdpa,
    eager and flex build a block-diagonal causal mask (masking_utils.py `_preprocess_mask_arguments` ->
    `find_packed_sequence_indices`: a new document wherever consecutive positions do not step by 1; transformers
    5.24.0). Either way no token attends to another document.

    Args:
        rows: from `pack_examples` (each with `lengths`; a row without them is one document).
        pad_id: filler of the "rows" layout.
        layout: "flat": the micro-batch as one row [1, total tokens], as transformers' DataCollatorWithFlattening and
            TRL's padding_free do: no pad token; the first label of every row after the first is -100 (no loss term
            predicts one row from the previous one). "rows": [rows, longest row], each row's tail filled with
            pad_id, label -100, and positions counting from 0 again, so the filler is a document of its own that no
            real token attends to (for attention that materialises a mask: a flat micro-batch's mask would cover
            (rows x seq)^2 positions instead of rows x seq^2).

    Deterministic: the output depends only on the rows and their order, so a resumed run replays the same batches.

    Returns:
        {"input_ids", "labels", "position_ids"}: int64 tensors of the layout's shape.
    """
    import torch

    if not rows:
        raise ValueError("collate_packed needs at least one row")
    if layout not in PACKED_LAYOUTS:
        raise ValueError(f"layout {layout!r}: expected one of {PACKED_LAYOUTS}")
    positions = [_positions(r) for r in rows]
    if layout == "flat":
        ids = [t for r in rows for t in r["input_ids"]]
        labels = [t for i, r in enumerate(rows) for t in ([IGNORE_INDEX] + list(r["labels"][1:]) if i and r["labels"]
                                                          else r["labels"])]
        flat = [p for pos in positions for p in pos]
        return {name: torch.tensor([values], dtype=torch.long)
                for name, values in (("input_ids", ids), ("labels", labels), ("position_ids", flat))}
    width = max(len(r["input_ids"]) for r in rows)
    out = {"input_ids": [], "labels": [], "position_ids": []}
    for r, pos in zip(rows, positions):
        fill = width - len(r["input_ids"])
        out["input_ids"].append(list(r["input_ids"]) + [int(pad_id)] * fill)
        out["labels"].append(list(r["labels"]) + [IGNORE_INDEX] * fill)
        out["position_ids"].append(pos + list(range(fill)))
    return {name: torch.tensor(values, dtype=torch.long) for name, values in out.items()}


def _positions(row: dict) -> list[int]:
    lengths = row.get("lengths") or [len(row["input_ids"])]
    if sum(lengths) != len(row["input_ids"]):
        raise ValueError(f"row lengths {lengths} do not add up to its {len(row['input_ids'])} tokens")
    return [p for n in lengths for p in range(n)]
