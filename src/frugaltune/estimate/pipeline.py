"""Pipeline and context parallelism: what a pipeline stage holds and waits for, and what a context-parallel rank
exchanges.

Pipeline parallelism (Narayanan et al. 2021, "Efficient Large-Scale Language Model Training on GPU Clusters Using
Megatron-LM", arXiv 2104.04473, section 2.2) splits the decoder layers over `pp` stages of tensor-parallel groups;
each optimizer step runs `m` micro-batches through the pipeline with the 1F1B schedule and flushes it.
- Memory: a stage holds the weights, gradients and optimizer states of num_layers / pp layers, plus one V x h
  matrix: the word embeddings on the first stage, the output layer on the last (with tied embeddings Megatron-Core
  keeps a copy of the embeddings on the last stage and all-reduces their gradient: LanguageModule
  setup_embeddings_and_output_layer, NVIDIA/Megatron-LM megatron/core/models/common/language_module/
  language_module.py). Under 1F1B the first stage has min(pp, m) micro-batches in flight (it runs pp forwards before
  its first backward, section 2.2.1), each with its num_layers / pp layers' activations, so it keeps the activations
  of num_layers layers of one micro-batch; the interleaved schedule multiplies that by 1 + (pp - 1) / (pp v) (v model
  chunks per GPU: Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models",
  arXiv 2205.05198, section 4.2.3). The last stage computes the logits and has one micro-batch in flight (its
  forward is followed by that micro-batch's backward at once). The peak is the worse of the two stages.
- Time: the bubble. m micro-batches take (m + (pp - 1) / v) stage-times (section 2.2.1: bubble time fraction
  (pp - 1) / m of the ideal time; section 2.2.2: (pp - 1) / (v m) with v interleaved chunks), so a share
  ((pp - 1) / v) / (m + (pp - 1) / v) of the pipeline's time is idle: (pp - 1) / (m + pp - 1) without interleaving.
  The slowest stage sets the pace: the last one runs the LM head and loss on top of its layers (Megatron-Core splits
  the decoder layers evenly by default). Between stages each micro-batch's activations go forward and their
  gradients backward, once per model chunk (v times with interleaving, section 2.2.2), as the s / tp sequence-
  parallel shard with tensor parallelism (section 4.1, scatter/gather). Megatron-Core waits for those transfers in
  the plain 1F1B schedule and overlaps them with compute in the interleaved one (NVIDIA-NeMo/Megatron-Bridge
  src/megatron/bridge/training/comm_overlap.py: overlap_p2p_comm only with a virtual pipeline).
- Data-parallel size = num_gpus / (tp x pp x cp) (Megatron-Core parallel_state): each data-parallel group reduces
  one stage's gradients.

Context parallelism (Megatron-Core docs, "context parallel": each of `cp` ranks holds s / cp of every sequence's
tokens and their activations; ring attention exchanges the keys and values point to point, overlapped with the
attention computation; Transformer Engine AttnFuncWithCPAndKVP2P): every activation and the logits split over the cp
ranks, and each rank computes 1/cp of the tokens (load-balanced causal chunks), each token still attending over the
whole sequence (the FLOPs per token are unchanged). Per layer and forward each rank receives the other cp - 1
ranks' K and V chunks; backward sends them again with their gradients (twice the forward's volume).
"""

from __future__ import annotations

from frugaltune.estimate import shapes


def non_layer_params(arch) -> int:
    """Parameters outside the decoder layers: the embeddings and an untied output layer (the final norm is
    negligible)."""
    return shapes.embedding_params(arch) * (1 if arch.tie_word_embeddings else 2)


def stage_bytes(total_bytes: float, non_layer_bytes: float, arch, pp: int) -> float:
    """Bytes of a component on the pipeline stage that holds most of it: num_layers / pp layers' share of the layer
    part, plus one V x h matrix's share of the non-layer part (the first stage's embeddings or the last stage's
    output layer, a copy of the embeddings when tied). `pp` 1: the whole."""
    if pp <= 1:
        return total_bytes
    matrices = 1 if arch.tie_word_embeddings else 2
    return (total_bytes - non_layer_bytes) / pp + non_layer_bytes / matrices


def first_stage_layers_in_flight(num_layers: int, pp: int, vp: int, micro_batches: int) -> float:
    """Layers' worth of one micro-batch's activations the first pipeline stage keeps at its peak (module docstring):
    num_layers / pp layers x min(pp, m) micro-batches in flight, x (1 + (pp - 1) / (pp vp)) when interleaved."""
    if pp <= 1:
        return float(num_layers)
    in_flight = min(pp, max(micro_batches, 1))
    interleave = 1.0 + (pp - 1) / (pp * vp) if vp > 1 else 1.0
    return num_layers / pp * in_flight * interleave


def bubble_units(pp: int, vp: int) -> float:
    """Idle stage-times per pipeline flush: (pp - 1) / vp (Narayanan et al. 2021, sections 2.2.1-2.2.2)."""
    return (pp - 1) / max(vp, 1) if pp > 1 else 0.0


def bubble_fraction(pp: int, vp: int, micro_batches: int) -> float:
    """Share of a pipeline's time its stages are idle: ((pp - 1) / vp) / (m + (pp - 1) / vp)."""
    idle = bubble_units(pp, vp)
    return idle / (max(micro_batches, 1) + idle)


def last_stage_share(layer_flops: float, head_flops: float, pp: int) -> float:
    """The slowest (last) stage's share of a micro-batch's work: its num_layers / pp layers plus the LM head and
    loss, over the whole model's; 1.0 without a pipeline."""
    if pp <= 1:
        return 1.0
    total = layer_flops + head_flops
    return (layer_flops / pp + head_flops) / total if total > 0 else 1.0 / pp


def p2p_bytes(tokens: float, hidden: int, bytes_per_element: float, tp: int, pp: int, vp: int) -> float:
    """Bytes one GPU sends per micro-batch between pipeline stages: the activations forward and their gradient
    backward, once per model chunk, the s / tp sequence-parallel shard (`tokens`: this rank's tokens)."""
    if pp <= 1:
        return 0.0
    return 2.0 * vp * tokens * hidden * bytes_per_element / tp


def p2p_link_gb_per_s(links: dict, num_gpus: int, pp: int) -> float:
    """The link between neighbouring stages. Megatron-Core orders ranks tp-cp-ep-dp-pp (pipeline outermost,
    parallel_state RankGenerator), so neighbouring stages are num_gpus / pp ranks apart: on another node when that is
    a node or more, over the GPU's share of the node's network adapters; else over the GPU-to-GPU link."""
    node_gpus, node_gb_per_s = int(links.get("node_gpus") or 0), float(links.get("node_link_gb_per_s") or 0.0)
    if node_gpus and node_gb_per_s and num_gpus > node_gpus and num_gpus // pp >= node_gpus:
        return node_gb_per_s / node_gpus
    return float(links["gpu_link_gb_per_s"])


def context_parallel_bytes(arch, tokens: float, bytes_per_element: float, tp: int, cp: int, layers: float,
                           grad_ckpt: bool) -> float:
    """Bytes one context-parallel rank receives per micro-batch in ring attention: per layer the other cp - 1 ranks'
    K and V chunks (`tokens`: this rank's tokens; K and V are num_kv_heads x head_dim wide, split over tp), in the
    forward, again with their gradients in backward (2x), and in a recomputed forward."""
    if cp <= 1:
        return 0.0
    kv_chunk = 2.0 * tokens * arch.num_kv_heads * arch.head_dim * bytes_per_element / tp
    passes = 3 + (1 if grad_ckpt else 0)
    return layers * passes * (cp - 1) * kv_chunk
