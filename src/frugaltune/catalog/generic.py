"""A generic Llama-shaped architecture for a bare size ("7B", "13b", "0.5B", "135M").

Shape rule (Llama 2's aspect ratio, Touvron et al. 2023, "Llama 2", Table 1 / the HF configs in models.csv):
- head_dim 128 and hidden_size = 128 * num_layers, so num_heads = num_layers (Llama-2 7B: 32 layers x 4096,
  13B: 40 x 5120); multi-head attention (num_kv_heads = num_heads);
- gated SwiGLU MLP with intermediate_size = 8/3 * hidden rounded up to a multiple of 256 (4096 -> 11008,
  5120 -> 13824, as in Llama 2);
- vocab 32000, untied lm_head, RMSNorm, 4096 positions.
num_layers is the integer whose exact parameter count (catalog/params.py) is closest to the requested size, so
`7B` is exactly Llama-2-7B's shape (6.74e9 params, -3.7 %) and `13B` Llama-2-13B's (13.02e9). Small sizes are
coarser, because one more layer changes the count a lot: 0.5B -> 13 layers, 0.55e9 (+9.9 %); 1B -> 16 layers,
0.95e9 (-4.7 %); 70B -> 71 layers, 71.1e9 (+1.6 %).
"""

from __future__ import annotations

import math

from frugaltune.catalog.params import count_params
from frugaltune.catalog.types import ModelArch
from frugaltune.errors import CatalogError

HEAD_DIM = 128
VOCAB = 32000
MAX_LAYERS = 512


def size_label(params: float) -> str:
    """7e9 -> '7B', 5e8 -> '0.5B', 1.35e8 -> '135M'."""
    return f"{params / 1e9:g}B" if params >= 1e9 else f"{params / 1e6:g}M"


def _arch(num_layers: int, params: float, label: str) -> ModelArch:
    hidden = HEAD_DIM * num_layers
    return ModelArch(
        name=f"generic-{label}",
        hf_id="",
        num_layers=num_layers,
        hidden_size=hidden,
        intermediate_size=256 * math.ceil(8 * hidden / 3 / 256),
        num_heads=num_layers,
        num_kv_heads=num_layers,
        head_dim=HEAD_DIM,
        vocab_size=VOCAB,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
        source="frugaltune generic Llama-2-shaped architecture (catalog/generic.py)",
        data_date="unknown",
        notes=f"generic shape for a bare size of {params:.4g} params; not a real checkpoint",
    )


def generic_arch(params: float, label: str | None = None) -> ModelArch:
    """The generic Llama-2-shaped model whose parameter count is closest to `params` (see the module docstring).

    Args:
        params: the requested size in parameters (7e9 for "7B").
        label: the size as the user wrote it ("0.5B"), for the name `generic-0.5B`; default from `params`.

    Raises:
        CatalogError: a size that is not positive or needs more than MAX_LAYERS layers.
    """
    if not params > 0:
        raise CatalogError(f"--model {label or size_label(params)}: a model size of {params:g} parameters is not "
                           "positive.", fix="pass a size such as 7B or 350M.")
    label = label or size_label(params)
    best = _arch(1, params, label)
    for num_layers in range(2, MAX_LAYERS + 1):
        candidate = _arch(num_layers, params, label)
        if abs(count_params(candidate) - params) < abs(count_params(best) - params):
            best = candidate
        elif count_params(candidate) > params:
            break
    else:
        raise CatalogError(f"Model size {size_label(params)} is too large for a generic shape.",
                           fix="pass a config.json with the real architecture.")
    return _with_total(best)


def _with_total(arch: ModelArch) -> ModelArch:
    from frugaltune.record import replace

    return replace(arch, total_params=count_params(arch))
