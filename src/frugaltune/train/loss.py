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


def model_inputs(batch: dict) -> dict:
    """The forward's inputs of a batch: input_ids with attention_mask (padded) or position_ids (packed, no padding).
    Packed without padding, no KV cache either: transformers reads documents from position_ids only when there is
    neither an attention_mask nor a cache (masking_utils.py _preprocess_mask_arguments, transformers 5.24.0), and a
    model whose config keeps use_cache on would make one."""
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if k in batch}
    if "position_ids" in inputs:
        inputs["use_cache"] = False
    return inputs


def summed_loss(model: Any, batch: dict, *, sparse_logits: bool) -> Any:
    """Cross-entropy summed over the trained tokens of `batch` (input_ids, labels, and attention_mask or
    position_ids, on one device).

    Args:
        model: a causal LM (possibly peft- or DDP-wrapped).
        batch: from data.collate or data.collate_packed; labels -100 where no loss is taken.
        sparse_logits: project only the trained positions (needs `supports_logits_to_keep`).
    """
    import torch
    import torch.nn.functional as F

    labels = batch["labels"]
    if not sparse_logits:
        return model(**model_inputs(batch), labels=labels, num_items_in_batch=1).loss  # reduction "sum" (divided by 1)
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:].ne(IGNORE_INDEX)  # position p predicts token p + 1
    out = model(**model_inputs(batch), logits_to_keep=keep)
    logits = out.logits.reshape(-1, out.logits.shape[-1]).float()
    return F.cross_entropy(logits, labels[:, 1:][keep[:, :-1]], reduction="sum")
