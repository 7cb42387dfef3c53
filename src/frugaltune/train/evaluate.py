"""Periodic evaluation: held-out loss (per trained token) and, for classification, accuracy by label scoring.

Label scoring follows `data.score_labels` (the label with the highest total log-likelihood after the prompt wins)
but runs the prompt once and scores all labels as continuations of its KV cache: one prompt forward plus one
small batch instead of one full sequence per (text, label) pair, ~n_labels times fewer tokens. That matters on
a CPU: the trade classifier's 10 labels made SmolLM2's evaluation cost as much as its training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from frugaltune.train.data import IGNORE_INDEX, accuracy, collate
from frugaltune.train.data_tokens import classification_prompt, encode, special_prefix, truncate_pair
from frugaltune.train.loss import summed_loss, supports_logits_to_keep


def eval_loss(model: Any, examples: Sequence[dict], *, pad_id: int, batch_size: int, device: Any,
              stop: Callable[[], bool] = lambda: False) -> float | None:
    """Mean cross-entropy per trained token over `examples` (None when empty or stopped by a signal)."""
    import torch

    total, count = 0.0, 0
    sparse = supports_logits_to_keep(model)
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            if stop():
                return None
            batch = collate(examples[start:start + batch_size], pad_id)
            n = int(batch["labels"][:, 1:].ne(IGNORE_INDEX).sum())
            if n == 0:
                continue
            batch = {k: v.to(device) for k, v in batch.items()}
            total += float(summed_loss(model, batch, sparse_logits=sparse))
            count += n
    return total / count if count else None


def eval_accuracy(model: Any, tokenizer: Any, records: Sequence[dict], labels: Sequence[str], *,
                  prompt_template: str | None, max_seq_len: int, stop: Callable[[], bool] = lambda: False, chunk: int = 16) -> float | None:
    """Fraction of records whose highest-likelihood label is the gold one (None when stopped by a signal)."""
    predicted: list[str] = []
    for start in range(0, len(records), chunk):  # in chunks, so a SIGTERM is not kept waiting by a long eval
        if stop():
            return None
        texts = [r["text"] for r in records[start:start + chunk]]
        predicted += score_labels_cached(model, tokenizer, texts, list(labels), prompt_template=prompt_template,
                                         max_seq_len=max_seq_len)
    return accuracy(predicted, [r["label"] for r in records])


def score_labels_cached(model: Any, tokenizer: Any, texts: Sequence[str], labels: Sequence[str], *,
                        prompt_template: str | None = None, max_seq_len: int | None = None) -> list[str]:
    """Same predictions as `data.score_labels` (ties to the first label), with the prompt's KV cache shared."""
    n = len(labels)
    return [labels[max(range(n), key=lambda j: (row[j], -j))]
            for row in label_log_likelihoods(model, tokenizer, texts, labels, prompt_template=prompt_template,
                                             max_seq_len=max_seq_len)]


def label_log_likelihoods(model: Any, tokenizer: Any, texts: Sequence[str], labels: Sequence[str], *,
                          prompt_template: str | None = None, max_seq_len: int | None = None) -> list[list[float]]:
    """Per text, log p(" <label>" | prompt) for every label: one prompt forward, then all labels at once on its
    KV cache. The prompt is cut as build_examples cuts it for the longest label, so every label sees the same one.
    """
    import torch

    prefix = special_prefix(tokenizer)
    answers = encode(tokenizer, [" " + label for label in labels])
    longest = max(len(a) for a in answers)
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    # continuation input a[:-1] (right-padded): position t predicts a[t + 1]; the prompt's last logit predicts a[0]
    cont = torch.tensor([a[:-1] + [pad] * (longest - len(a)) for a in answers], device=device)
    first = torch.tensor([a[0] for a in answers], device=device)
    last_only = {"logits_to_keep": 1} if supports_logits_to_keep(model) else {}
    out = []
    with torch.inference_mode():
        for prompt in encode(tokenizer, [classification_prompt(t, list(labels), prompt_template) for t in texts]):
            if max_seq_len is not None:
                prompt, _, _ = truncate_pair(prompt, [0] * longest, max_seq_len - len(prefix))
            ids = torch.tensor([prefix + prompt], device=device)
            res = model(input_ids=ids, use_cache=longest > 1, **last_only)
            scores = torch.log_softmax(res.logits[0, -1].float(), -1)[first].tolist()
            if longest > 1:
                cache = res.past_key_values
                cache.batch_repeat_interleave(len(answers))
                mask = torch.ones(len(answers), ids.shape[1] + longest - 1, dtype=torch.long, device=device)
                logits = model(input_ids=cont, attention_mask=mask, past_key_values=cache).logits.float()
                logp = torch.log_softmax(logits, -1)
                for j, a in enumerate(answers):
                    rest = torch.tensor(a[1:], device=device, dtype=torch.long)
                    scores[j] += float(logp[j, : len(a) - 1].gather(-1, rest[:, None]).sum())
            out.append(scores)
    return out


def evaluate(model: Any, tokenizer: Any, examples: Sequence[dict], records: Sequence[dict] | None,
             labels: Sequence[str] | None, *, prompt_template: str | None, max_seq_len: int, batch_size: int,
             device: Any, stop: Callable[[], bool] = lambda: False) -> dict:
    """{"eval_loss", "eval_accuracy"} with dropout off; the training RNG streams are left untouched."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]):
            loss = eval_loss(model, examples, pad_id=tokenizer.pad_token_id, batch_size=batch_size, device=device,
                             stop=stop) if examples else None
            acc = None
            if records and labels:
                acc = eval_accuracy(model, tokenizer, records, labels, prompt_template=prompt_template,
                                    max_seq_len=max_seq_len, stop=stop)
    finally:
        model.train(was_training)
    return {"eval_loss": loss, "eval_accuracy": acc}
