"""Classification by label likelihood: accuracy that does not depend on free-form generation.

For each text, every label is scored by the total log-probability the model gives its tokens after the
classification prompt; the best-scoring label is the prediction. This works the same zero-shot (a base or
instruct model that would otherwise ramble) and after fine-tuning, and always yields a valid label. Labels are
tokenized exactly as build_examples does (" <label>" after the prompt, tokenized apart from it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from frugaltune.errors import DataError
from frugaltune.train.data_tokens import (
    check_template,
    classification_prompt,
    encode,
    eos_suffix,
    special_prefix,
    truncate_pair,
)

log = logging.getLogger(__name__)


def score_labels(model: Any, tokenizer: Any, texts: Sequence[str], labels: Sequence[str], *, batch_size: int = 8,
                 prompt_template: str | None = None, max_seq_len: int | None = None,
                 append_eos: bool = False) -> list[str]:
    """Predict a label for each text: the one whose tokens have the highest total log-likelihood after the prompt.

    Args:
        model: a causal LM called as model(input_ids=, attention_mask=) returning `.logits` [batch, seq, vocab].
        tokenizer: the Hugging Face tokenizer used to build the training examples.
        texts: texts to classify.
        labels: the label set, in the order the prompt lists them (as in training).
        batch_size: (text, label) sequences per forward pass.
        prompt_template: the classification prompt template used in training (default CLASSIFICATION_PROMPT).
        max_seq_len: cut long prompts as build_examples does (default: no cut).
        append_eos: also score the EOS after the label; this separates a label from a longer one that starts
            with the same tokens, but zero-shot models rarely end there, so it is off by default.

    Returns:
        One label per text; ties go to the label listed first.
    """
    import torch

    if not labels:
        raise DataError("score_labels needs at least one label.", fix="pass the label set (data.labels).")
    check_template(prompt_template)
    prefix = special_prefix(tokenizer)
    prompts = encode(tokenizer, [classification_prompt(t, list(labels), prompt_template) for t in texts])
    eos = eos_suffix(tokenizer) if append_eos else []
    answers = [ids + eos for ids in encode(tokenizer, [" " + label for label in labels])]
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with torch.inference_mode():
            scores = _scores(model, prefix, prompts, answers, max_seq_len, batch_size, _pad_id(tokenizer))
    finally:
        if was_training:
            model.train()
    n = len(labels)
    return [labels[max(range(n), key=lambda j: (row[j], -j))] for row in scores]


def _scores(model: Any, prefix: list[int], prompts: list[list[int]], answers: list[list[int]],
            max_seq_len: int | None, batch_size: int, pad_id: int) -> list[list[float]]:
    """Score matrix [text][label]: per text with a shared prompt cache where the model allows, else flat batches
    of (text, label) sequences. Texts whose prompt would be cut (max_seq_len) take the flat path, which cuts each
    pair exactly as build_examples does."""
    longest = max(len(a) for a in answers)
    fits = [max_seq_len is None or len(prefix) + len(p) + longest <= max_seq_len for p in prompts]
    out: list[list[float] | None] = [None] * len(prompts)
    for i, prompt in enumerate(prompts):
        if not fits[i]:
            continue
        try:
            out[i] = _score_with_cache(model, prefix + prompt, answers, pad_id)
        except (TypeError, AttributeError, ValueError, NotImplementedError) as e:
            log.debug("label scoring without a prompt cache (%s)", e)  # stub or cache-less models
            break
    rest = [i for i, row in enumerate(out) if row is None]
    pairs = [_pair(prefix, prompts[i], a, max_seq_len) for i in rest for a in answers]
    flat = [s for k in range(0, len(pairs), batch_size) for s in _score_batch(model, pairs[k:k + batch_size], pad_id)]
    for k, i in enumerate(rest):
        out[i] = flat[k * len(answers):(k + 1) * len(answers)]
    return out  # type: ignore[return-value]


def _score_with_cache(model: Any, prompt: list[int], answers: list[list[int]], pad_id: int) -> list[float]:
    """Run the prompt once; its last logits score every label's first token, and one batched forward over the
    copied cache scores the remaining tokens of the multi-token labels."""
    import torch

    device = _device(model)
    ids = torch.tensor([prompt], dtype=torch.long, device=device)
    first = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True)
    logp0 = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
    scores = [float(logp0[a[0]]) for a in answers]
    multi = [j for j, a in enumerate(answers) if len(a) > 1]
    if not multi:
        return scores
    cache = getattr(first, "cache", None) or first.past_key_values
    cache.batch_repeat_interleave(len(multi))
    width = max(len(answers[j]) - 1 for j in multi)
    inp = torch.full((len(multi), width), pad_id, dtype=torch.long, device=device)
    mask = torch.ones((len(multi), len(prompt) + width), dtype=torch.long, device=device)
    for row, j in enumerate(multi):
        inp[row, : len(answers[j]) - 1] = torch.tensor(answers[j][:-1], dtype=torch.long)
        mask[row, len(prompt) + len(answers[j]) - 1:] = 0
    logits = model(input_ids=inp, attention_mask=mask, use_cache=True, **{cache_keyword(model): cache}).logits
    for row, j in enumerate(multi):
        logp = torch.log_softmax(logits[row, : len(answers[j]) - 1].float(), dim=-1)
        target = torch.tensor(answers[j][1:], dtype=torch.long, device=logp.device)
        scores[j] += float(logp.gather(-1, target[:, None]).sum())
    return scores


def cache_keyword(model: Any) -> str:
    """The keyword a model's forward takes its KV cache by: `cache` in transformers releases that renamed it (the
    old `past_key_values` then warns of its removal), `past_key_values` before."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        params = inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return "past_key_values"
    return "cache" if "cache" in params else "past_key_values"


def _device(model: Any) -> Any:
    import torch

    params = getattr(model, "parameters", None)
    first = next(iter(params()), None) if callable(params) else None
    return first.device if first is not None else torch.device("cpu")


def _pair(prefix: list[int], prompt: list[int], answer: list[int], max_seq_len: int | None) -> tuple[list[int], int]:
    """(sequence ids, number of answer tokens at its end), cut as build_examples cuts."""
    if max_seq_len is not None:
        prompt, answer, _ = truncate_pair(prompt, answer, max_seq_len - len(prefix))
    return prefix + prompt + answer, len(answer)


def _pad_id(tokenizer: Any) -> int:
    for name in ("pad_token_id", "eos_token_id", "unk_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    return 0


def _score_batch(model: Any, pairs: list[tuple[list[int], int]], pad_id: int) -> list[float]:
    """Sum of log p(answer token | everything before it) for each right-padded sequence."""
    import torch

    width = max(len(ids) for ids, _ in pairs)
    ids = torch.full((len(pairs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(pairs), width), dtype=torch.long)
    for row, (seq, _) in enumerate(pairs):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    device = _device(model)
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device))
    logits = out.logits if hasattr(out, "logits") else out[0]
    scores = []
    for row, (seq, n_answer) in enumerate(pairs):
        end = len(seq)
        # logits at position t predict token t+1, so the answer tokens [end-n, end) come from [end-n-1, end-1)
        logp = torch.log_softmax(logits[row, end - n_answer - 1: end - 1].float(), dim=-1)
        target = ids[row, end - n_answer: end].to(logp.device)
        scores.append(float(logp.gather(-1, target[:, None]).sum()))
    return scores


def accuracy(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """Fraction of predictions equal to the gold labels.

    Raises:
        DataError: the lists differ in length or are empty.
    """
    if len(predicted) != len(gold):
        raise DataError(f"accuracy: {len(predicted)} predictions for {len(gold)} gold labels.",
                        fix="predict one label per evaluated row.")
    if not gold:
        raise DataError("accuracy of an empty evaluation set.", fix="give some evaluation rows.")
    return sum(p == g for p, g in zip(predicted, gold)) / len(gold)
