"""Parameter counts of a decoder-only transformer from its shape (no weights).

Formula (the reference models README, "Formula used"; it reproduces every exact published count of unique
parameters in models.csv): V = vocab, h = hidden, L = layers, H = heads, K = KV heads, d = head_dim,
I = intermediate (per expert), E = experts.
- embeddings V*h (+ a learned position table P*h for GPT-2);
- per layer: attention h*H*d (q) + 2*h*K*d (k, v) + H*d*h (o); q/k/v biases H*d + 2*K*d (Qwen2.5, GPT-2);
  an o_proj bias h where all linears carry biases (GPT-2); q_norm + k_norm 2*d (Qwen3, Gemma 3);
- MLP: 3*h*I gated (SwiGLU/GeGLU) or 2*h*I plain (+ I + h biases for GPT-2); MoE: E copies + a router h*E;
- norms: norms_per_layer * h for RMSNorm, * 2h for LayerNorm (weight + bias); final norm h (2h LayerNorm);
- lm_head V*h unless the embeddings are tied.
Rotary inv_freq buffers and GPT-2 causal-mask buffers are not parameters and are not counted.
"""

from __future__ import annotations

from frugaltune.catalog.types import ModelArch
from frugaltune.record import record


@record(frozen=True)
class ParamCounts:
    """Parameter counts of one model, by part. `*_per_layer` fields are for one transformer block."""

    embedding: int  # token (+ learned position) embeddings
    attention_per_layer: int  # q, k, v, o (+ biases, + q/k norms)
    mlp_per_layer: int  # all experts + router for MoE
    norms_per_layer: int
    final_norm: int
    lm_head: int  # 0 when tied to the embedding
    num_layers: int

    @property
    def per_layer(self) -> int:
        return self.attention_per_layer + self.mlp_per_layer + self.norms_per_layer

    @property
    def total(self) -> int:
        return self.embedding + self.num_layers * self.per_layer + self.final_norm + self.lm_head

    @property
    def non_embedding(self) -> int:
        """Total minus the vocabulary/position matrices (the Qwen model cards' "non-embedding" convention)."""
        return self.total - self.embedding - self.lm_head


def _norm_params(arch: ModelArch) -> int:
    """Parameters of one norm layer: h for RMSNorm, 2h (weight + bias) for LayerNorm."""
    return 2 * arch.hidden_size if arch.norm_type.lower() == "layernorm" else arch.hidden_size


def attention_params(arch: ModelArch) -> int:
    """q, k, v, o projections of one layer with GQA (K KV heads), plus their biases and q/k norms."""
    h, q_dim, kv_dim = arch.hidden_size, arch.num_heads * arch.head_dim, arch.num_kv_heads * arch.head_dim
    count = h * q_dim + 2 * h * kv_dim + q_dim * h
    if arch.qkv_bias:
        count += q_dim + 2 * kv_dim
    if arch.linear_bias:
        count += h  # o_proj bias
    if arch.qk_norm:
        count += 2 * arch.head_dim
    return count


def mlp_params(arch: ModelArch, experts: int | None = None) -> int:
    """MLP of one layer: `experts` copies (default: all) of a gated (3 matrices) or plain (2) MLP + MoE router."""
    h, inter = arch.hidden_size, arch.intermediate_size
    one = (3 if arch.mlp_type == "gated" else 2) * h * inter
    if arch.linear_bias:
        one += inter + h
    if arch.num_experts <= 0:
        return one
    n = arch.num_experts if experts is None else experts
    return n * one + h * arch.num_experts


def param_counts(arch: ModelArch) -> ParamCounts:
    """All parameter counts of `arch` by part (see the module docstring for the formula and its source)."""
    h, vocab = arch.hidden_size, arch.vocab_size
    return ParamCounts(
        embedding=vocab * h + arch.learned_pos_embeddings * h,
        attention_per_layer=attention_params(arch),
        mlp_per_layer=mlp_params(arch),
        norms_per_layer=arch.norms_per_layer * _norm_params(arch),
        final_norm=_norm_params(arch),
        lm_head=0 if arch.tie_word_embeddings else vocab * h,
        num_layers=arch.num_layers,
    )


def count_params(arch: ModelArch) -> int:
    """Unique parameters of `arch` (a tied embedding counted once). Matches models.csv total_params_computed."""
    return param_counts(arch).total


def active_params(arch: ModelArch) -> int:
    """Parameters one token passes through: the total minus the (E - k) unused experts per layer (MoE only)."""
    total = count_params(arch)
    if arch.num_experts <= 0:
        return total
    unused = mlp_params(arch) - mlp_params(arch, experts=arch.experts_per_token)
    return total - arch.num_layers * unused
