"""How packed rows reach the model: which batch layout (`data.collate_packed`) a model and its attention can take.

Padding-free packing needs transformers to see the documents of a row through position_ids alone (no
attention_mask). Its mask builders do that: create_causal_mask, create_sliding_window_causal_mask and
create_chunked_causal_mask all go through masking_utils._preprocess_mask_arguments, which calls
find_packed_sequence_indices when position_ids are given without an attention_mask and without a cache, and then
AND the causal mask with a same-document mask (transformers 5.24.0 masking_utils.py); flash_attention_2/3 take the
boundaries from position_ids in the varlen kernel (modeling_flash_attention_utils.py _flash_attention_forward ->
_is_packed_sequence -> prepare_fa_kwargs_from_position_ids). A model qualifies when

- its attention is flash_attention_2/3, sdpa, eager or flex_attention (the implementations those paths serve), and
- its modeling module builds its masks with those functions, and carries no recurrent state (Mamba, linear or
  gated-delta attention, ...): a recurrent layer would carry its state from one document into the next, whatever
  the mask says. Models outside this (remote code, recurrent hybrids) keep the padded batches with an
  attention_mask, where a later document in a row attends to earlier ones.

Layouts: varlen flash attention takes the micro-batch flattened into one row (zero pad tokens; attention costs the
sum over documents of their squared lengths). Attention that materialises a mask (sdpa, eager, flex) takes the rows
side by side with a filler document at the end of the shorter ones ("rows"): the mask then covers rows x seq^2 positions, as
the padded batches do, where one flat row would cover (rows x seq)^2.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

VARLEN_ATTENTION = ("flash_attention_2", "flash_attention_3")
MASKED_ATTENTION = ("sdpa", "eager", "flex_attention")
MASK_BUILDERS = ("create_causal_mask(", "create_sliding_window_causal_mask(", "create_chunked_causal_mask(")
RECURRENT_MARKERS = ("mamba", "conv_state", "ssm_state", "recurrent", "linear_attention", "gated_delta", "lightning")


def layout(model: Any) -> tuple[str, str]:
    """("flat" | "rows" | "padded", why) for packed rows fed to `model` (a transformers causal LM, before peft)."""
    impl = str(getattr(getattr(model, "config", None), "_attn_implementation", None) or "")
    if impl not in VARLEN_ATTENTION + MASKED_ATTENTION:
        return "padded", f"attention implementation {impl or 'unknown'!r} is not one that reads documents from " \
                         "position_ids"
    source = _module_source(model)
    if not any(builder in source for builder in MASK_BUILDERS):
        return "padded", f"{type(model).__name__} does not build its attention mask with transformers' mask " \
                         "functions"
    lowered = source.lower()
    if any(marker in lowered for marker in RECURRENT_MARKERS):
        return "padded", f"{type(model).__name__} has recurrent layers that would carry state across documents"
    if impl in VARLEN_ATTENTION:
        return "flat", f"{impl}: each document attended on its own (varlen), no pad tokens"
    return "rows", f"{impl}: a block-diagonal causal mask, one block per document"


def _module_source(model: Any) -> str:
    module = sys.modules.get(type(model).__module__)
    try:
        return inspect.getsource(module) if module is not None else ""
    except (OSError, TypeError):
        return ""
