"""Parameter counts derived from a model's shape: per-projection matrix sizes, LoRA adapters, matmul params.

All counts are element counts (not bytes). Naming follows Hugging Face Llama modules
(q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj).
"""

from __future__ import annotations

from frugaltune.catalog.types import ModelArch
from frugaltune.errors import ConfigError, did_you_mean

ATTENTION_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_TARGETS = ("gate_proj", "up_proj", "down_proj")
# A LoRA adapter on the output projection, once per model (peft target_modules=["lm_head"]; torchtune
# apply_lora_to_output; LitGPT lora_head): r x (hidden + vocab) trainable params beside a frozen head. Not the same as
# training the embeddings and head in full (peft modules_to_save: Job.trainable_embeddings).
HEAD_TARGET = "lm_head"


def projection_shapes(arch: ModelArch) -> dict[str, tuple[int, int]]:
    """(d_in, d_out) of every linear projection in one decoder layer, GQA-aware.

    K and V project to num_kv_heads * head_dim (grouped-query attention, Ainslie et al. 2023).
    A plain (non-gated) MLP has no gate_proj.
    """
    h, q_out, kv_out = arch.hidden_size, arch.num_heads * arch.head_dim, arch.num_kv_heads * arch.head_dim
    shapes = {
        "q_proj": (h, q_out),
        "k_proj": (h, kv_out),
        "v_proj": (h, kv_out),
        "o_proj": (q_out, h),
        "up_proj": (h, arch.intermediate_size),
        "down_proj": (arch.intermediate_size, h),
    }
    if arch.mlp_type == "gated":
        shapes["gate_proj"] = (h, arch.intermediate_size)
    return shapes


# Planners ask for the same model's adapters thousands of times: answers kept per (model object, arguments). The
# catalog's model records are shared objects, keyed by identity and kept alive here so that no id is reused.
_MEMO: dict[tuple, object] = {}
_MEMO_SIZE = 4096


def _memo(fn, arch: ModelArch, *args):
    key = (fn, id(arch), *args)
    try:
        hit = _MEMO.get(key, _MEMO)
    except TypeError:  # targets given as a list: computed without the memo
        return fn(arch, *args)
    if hit is _MEMO:
        if len(_MEMO) >= _MEMO_SIZE:
            _MEMO.clear()
        hit = fn(arch, *args)
        _MEMO[key] = hit
        _MEMO[("keep", id(arch))] = arch
    return hit


def expand_targets(arch: ModelArch, targets: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Normalise LoRA target names: 'all-linear' / 'all' means every projection; aliases q,k,v,o accepted; 'lm_head'
    adapts the output layer (HEAD_TARGET)."""
    return _memo(_expand_targets, arch, targets)


def _expand_targets(arch: ModelArch, targets: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    shapes = projection_shapes(arch)
    out: list[str] = []
    for raw in targets:
        name = raw.strip().lower()
        if name in ("all-linear", "all", "all_linear"):  # peft's all-linear: every projection, not the output layer
            names = list(shapes)
        elif name == HEAD_TARGET:
            names = [name]
        else:
            names = [name if name.endswith("_proj") else f"{name}_proj"]
            if names[0] not in shapes:
                raise ConfigError(
                    f"unknown LoRA target '{raw}' for {arch.name}.{did_you_mean(names[0], shapes)}",
                    fix=f"use some of {', '.join(shapes)}, {HEAD_TARGET} or 'all-linear'",
                )
        out += [n for n in names if n not in out]
    return tuple(out)


def _experts_for(arch: ModelArch, target: str, active: bool) -> int:
    if target in ATTENTION_TARGETS or arch.num_experts <= 1:
        return 1
    return arch.experts_per_token if active else arch.num_experts


def lora_params(arch: ModelArch, r: int, targets: tuple[str, ...]) -> int:
    """LoRA trainable params = layers x sum over targeted matrices of r * (d_in + d_out) (Hu et al. 2021, eq. 3).

    MoE expert MLPs carry one adapter per expert.
    """
    return _memo(_lora_params, arch, r, targets)


def _lora_params(arch: ModelArch, r: int, targets: tuple[str, ...]) -> int:
    shapes = projection_shapes(arch)
    per_layer = sum(r * sum(shapes[t]) * _experts_for(arch, t, active=False) for t in layer_targets(arch, targets))
    head = r * (arch.hidden_size + arch.vocab_size) if HEAD_TARGET in expand_targets(arch, targets) else 0
    return arch.num_layers * per_layer + head


def layer_targets(arch: ModelArch, targets: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The targets inside each decoder layer (the LM head's adapter is once per model)."""
    return tuple(t for t in expand_targets(arch, targets) if t != HEAD_TARGET)


def layer_linear_params(arch: ModelArch, active: bool = True) -> int:
    """Weights of one layer's projections (active experts only when `active`)."""
    return sum(d_in * d_out * _experts_for(arch, t, active) for t, (d_in, d_out) in projection_shapes(arch).items())


def embedding_params(arch: ModelArch) -> int:
    return arch.vocab_size * arch.hidden_size


def lm_head_params(arch: ModelArch) -> int:
    """The output projection's weights (shared with the embedding when tied, but always multiplied)."""
    return arch.vocab_size * arch.hidden_size


def total_params(arch: ModelArch) -> int:
    """Stored parameter count: the catalog's count, else computed by catalog.params (the one counting formula)."""
    if arch.total_params:
        return int(arch.total_params)
    from frugaltune.catalog.params import count_params

    return count_params(arch)


def quantizable_params(arch: ModelArch) -> int:
    """Params inside the decoder layers' linear projections: what bitsandbytes 4-bit quantises (not embeddings/head)."""
    return arch.num_layers * layer_linear_params(arch, active=False)


def matmul_params_per_token(arch: ModelArch) -> int:
    """Params touched by a matmul per token: active layer projections + the LM head (embeddings are a lookup)."""
    return arch.num_layers * layer_linear_params(arch, active=True) + lm_head_params(arch)
