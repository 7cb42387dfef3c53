"""The causal-LM loss, projected onto the vocabulary only where a loss is taken.

With the loss on the response only, most positions of a classification or instruction example carry label -100,
yet a plain forward computes `lm_head` (hidden x vocab, 21% of SmolLM2-135M's weights) and fp32 logits for every
position. Passing transformers' `logits_to_keep` as a boolean mask of the positions whose NEXT token is trained
computes the same summed cross-entropy from those rows only (the HF loss shifts labels by one in the same way),
saving that compute and the b x s x V logits memory. Models whose forward has no `logits_to_keep` fall back to
the model's own loss.
"""

from __future__ import annotations

import inspect
from typing import Any

IGNORE_INDEX = -100


def supports_logits_to_keep(model: Any) -> bool:
    """True when the causal LM under any peft/DDP wrappers accepts `logits_to_keep`."""
    inner = model
    for attr in ("module", "get_base_model"):
        if attr == "module" and hasattr(inner, "module"):
            inner = inner.module
        if attr == "get_base_model" and hasattr(inner, "get_base_model"):
            inner = inner.get_base_model()
    try:
        return "logits_to_keep" in inspect.signature(inner.forward).parameters
    except (TypeError, ValueError):
        return False


def summed_loss(model: Any, batch: dict, *, sparse_logits: bool) -> Any:
    """Cross-entropy summed over the trained tokens of `batch` (input_ids, attention_mask, labels on one device).

    Args:
        model: a causal LM (possibly peft- or DDP-wrapped).
        batch: right-padded tensors; labels -100 where no loss is taken.
        sparse_logits: project only the trained positions (needs `supports_logits_to_keep`).
    """
    import torch
    import torch.nn.functional as F

    labels = batch["labels"]
    if not sparse_logits:
        return model(**batch, num_items_in_batch=1).loss  # reduction "sum" (divided by 1)
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:].ne(IGNORE_INDEX)  # position p predicts token p + 1
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=keep)
    logits = out.logits.reshape(-1, out.logits.shape[-1]).float()
    return F.cross_entropy(logits, labels[:, 1:][keep[:, :-1]], reduction="sum")
