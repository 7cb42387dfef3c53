"""Periodic evaluation: held-out loss (per trained token) and, for classification, accuracy by label likelihood
(`data.score_labels`: the label whose tokens are most likely after the prompt; the prompt's KV cache is shared by
all labels)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from frugaltune.train.data import IGNORE_INDEX, accuracy, collate, score_labels
from frugaltune.train.loss import summed_loss, supports_logits_to_keep


def _nothing(_n: int = 1) -> None:
    return None


def eval_loss(model: Any, examples: Sequence[dict], *, pad_id: int, batch_size: int, device: Any,
              stop: Callable[[], bool] = lambda: False, advance: Callable[[int], None] = _nothing) -> float | None:
    """Mean cross-entropy per trained token over `examples` (None when empty or stopped by a signal);
    `advance(1)` after each batch."""
    import torch

    total, count = 0.0, 0
    sparse = supports_logits_to_keep(model)
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            if stop():
                return None
            batch = collate(examples[start:start + batch_size], pad_id)
            n = int(batch["labels"][:, 1:].ne(IGNORE_INDEX).sum())
            advance(1)
            if n == 0:
                continue
            batch = {k: v.to(device) for k, v in batch.items()}
            total += float(summed_loss(model, batch, sparse_logits=sparse))
            count += n
    return total / count if count else None


def eval_accuracy(model: Any, tokenizer: Any, records: Sequence[dict], labels: Sequence[str], *,
                  prompt_template: str | None, max_seq_len: int, stop: Callable[[], bool] = lambda: False,
                  chunk: int = 16, advance: Callable[[int], None] = _nothing) -> float | None:
    """Fraction of records whose highest-likelihood label is the gold one (None when stopped by a signal);
    `advance(n)` after each chunk of n records."""
    predicted: list[str] = []
    for start in range(0, len(records), chunk):  # in chunks, so a SIGTERM is not kept waiting by a long eval
        if stop():
            return None
        texts = [r["text"] for r in records[start:start + chunk]]
        predicted += score_labels(model, tokenizer, texts, list(labels), prompt_template=prompt_template,
                                  max_seq_len=max_seq_len)
        advance(len(texts))
    return accuracy(predicted, [r["label"] for r in records])


def eval_units(examples: Sequence[dict], records: Sequence[dict] | None, labels: Sequence[str] | None,
               batch_size: int) -> int:
    """The units `evaluate` reports progress in: loss batches, plus one per record scored for accuracy."""
    batches = -(-len(examples) // batch_size) if examples else 0
    return batches + (len(records) if records and labels else 0)


def evaluate(model: Any, tokenizer: Any, examples: Sequence[dict], records: Sequence[dict] | None,
             labels: Sequence[str] | None, *, prompt_template: str | None, max_seq_len: int, batch_size: int,
             device: Any, stop: Callable[[], bool] = lambda: False,
             advance: Callable[[int], None] = _nothing) -> dict:
    """{"eval_loss", "eval_accuracy"} with dropout off; the training RNG streams are left untouched.
    `advance(n)` reports progress in `eval_units`."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            loss = eval_loss(model, examples, pad_id=tokenizer.pad_token_id, batch_size=batch_size, device=device,
                             stop=stop, advance=advance) if examples else None
            acc = None
            if records and labels:
                acc = eval_accuracy(model, tokenizer, records, labels, prompt_template=prompt_template,
                                    max_seq_len=max_seq_len, stop=stop, advance=advance)
    finally:
        model.train(was_training)
    return {"eval_loss": loss, "eval_accuracy": acc}
