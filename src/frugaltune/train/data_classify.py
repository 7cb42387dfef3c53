"""Classification by label likelihood: accuracy that does not depend on free-form generation.

For each text, every label is scored by the total log-probability the model gives its tokens after the
classification prompt; the best-scoring label is the prediction. This works the same zero-shot (a base or
instruct model that would otherwise ramble) and after fine-tuning, and always yields a valid label. Labels are
tokenized exactly as build_examples does (" <label>" after the prompt, tokenized apart from it).
"""

from __future__ import annotations

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
    pairs = [_pair(prefix, p, a, max_seq_len) for p in prompts for a in answers]
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with torch.inference_mode():
            scores = [s for start in range(0, len(pairs), batch_size)
                      for s in _score_batch(model, pairs[start:start + batch_size], _pad_id(tokenizer))]
    finally:
        if was_training:
            model.train()
    n = len(labels)
    return [labels[max(range(n), key=lambda j: (scores[i * n + j], -j))] for i in range(len(texts))]


def _pair(prefix: list[int], prompt: list[int], answer: list[int], max_seq_len: int | None) -> tuple[list[int], int]:
    """(sequence ids, number of answer tokens at its end)."""
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
    params = getattr(model, "parameters", None)
    first = next(iter(params()), None) if callable(params) else None
    device = first.device if first is not None else torch.device("cpu")
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
