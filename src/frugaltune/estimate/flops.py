"""FLOPs per trained token.

Matmul FLOPs follow Kaplan et al. 2020 / Chinchilla (Hoffmann et al. 2022, appendix F): a forward pass costs
2 FLOPs per parameter touched per token; the backward pass costs 2x the forward when weight gradients are computed
(input grads + weight grads) and 1x when the weights are frozen (LoRA/QLoRA: input grads only).
Attention's sequence-dependent term: QK^T and AV cost 4 * s * d_attn FLOPs per token per layer in the forward pass
(Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters", eq. 2/3); with a causal mask
FlashAttention-2 skips the masked half (Dao 2023), so we count 2 * s_eff * d_attn. Attention has no weights, so its
backward always costs 2x its forward. Packed documents that the varlen kernel attends one by one cost the attention of
their own lengths, not of the packed row (packed_attention_length). Gradient checkpointing recomputes every decoder
layer's forward once more (Chen et al. 2016); the LM head is not recomputed.
"""

from __future__ import annotations

from frugaltune.catalog.types import ModelArch
from frugaltune.estimate import shapes
from frugaltune.record import record


@record(frozen=True)
class FlopsBreakdown:
    forward: float
    backward: float
    recompute: float

    @property
    def per_token(self) -> float:
        return self.forward + self.backward + self.recompute


def attended_positions(arch: ModelArch, seq_len: float) -> float:
    """Positions one token's causal attention reads: the sequence, or the sliding window when shorter."""
    window = getattr(arch, "sliding_window", None) or arch.extra.get("sliding_window") or seq_len
    return min(seq_len, window)


def packed_attention_length(seq_len: float, mean_tokens: float, attended_tokens: float | None = None) -> float:
    """The sequence length whose causal attention costs, per token, what packed documents attended one by one cost:
    E[L^2] / E[L] over the documents' lengths L (`attended_tokens`), else the mean E[L] (`mean_tokens`), at most
    `seq_len`.

    Derivation: in a causal document of L tokens the token at position i reads i positions, L (L + 1) / 2 in all, so
    over documents d a token reads sum_d L_d (L_d + 1) / 2 / sum_d L_d = (E[L^2] / E[L] + 1) / 2 positions on average.
    A single sequence of s tokens reads (s + 1) / 2, which attention_forward_flops_per_token counts as s / 2 (2 s d_attn
    FLOPs = 4 d_attn x s / 2); the same count over documents is s = E[L^2] / E[L]. Varlen FlashAttention computes only
    these blocks: flash_attn_varlen_func takes each document's bounds from cu_seqlens (Dao-AILab/flash-attention
    flash_attn/flash_attn_interface.py @0251105a), transformers builds them from position_ids that restart at every
    document (modeling_flash_attention_utils.py prepare_fa_kwargs_from_position_ids, transformers 5.24.0). Since
    E[L^2] >= E[L]^2, the mean alone (no histogram) is a lower bound, exact when every document has the same length."""
    length = attended_tokens if attended_tokens else mean_tokens
    return max(1.0, min(float(seq_len), float(length)))


def attention_forward_flops_per_token(arch: ModelArch, seq_len: int) -> float:
    """Causal attention scores + weighted sum, one token, all layers (forward only)."""
    d_attn = arch.num_heads * arch.head_dim
    return 2.0 * attended_positions(arch, seq_len) * d_attn * arch.num_layers


def flops_per_token(
    arch: ModelArch, method: str, seq_len: float, grad_ckpt: bool, lora_trainable_params: int = 0,
    extra_weight_grad_params: int = 0, rematmul_params: int = 0,
) -> FlopsBreakdown:
    """Training FLOPs per token for `method` in {full, lora, qlora}.

    full:  fwd 2N + A, bwd 4N + 2A            (~6N)
    lora:  fwd 2N + A, bwd 2N + 2A, + 6 r-params   (~4N; no weight grads for frozen weights)
    grad_ckpt adds one more forward of the decoder layers (2 N_layers + A).
    `extra_weight_grad_params`: frozen-method params that still get weight gradients (a trained LM head) cost 2 each.
    `rematmul_params`: frozen weights multiplied a second time per token (DoRA with dropout, dora.py): 2 forward,
    2 backward (input gradient only), 2 more under recomputation.
    """
    n_layers = arch.num_layers * shapes.layer_linear_params(arch, active=True)
    n_head = shapes.lm_head_params(arch)
    attn = attention_forward_flops_per_token(arch, seq_len)
    forward = 2.0 * (n_layers + n_head) + attn
    if method == "full":
        backward = 4.0 * (n_layers + n_head) + 2.0 * attn
    else:
        backward = 2.0 * (n_layers + n_head) + 2.0 * attn + 6.0 * lora_trainable_params
        backward += 2.0 * extra_weight_grad_params
    recompute = (2.0 * n_layers + attn) if grad_ckpt else 0.0
    if method != "full" and rematmul_params:
        forward += 2.0 * rematmul_params
        backward += 2.0 * rematmul_params
        recompute += 2.0 * rematmul_params if grad_ckpt else 0.0
    return FlopsBreakdown(forward=forward, backward=backward, recompute=recompute)
