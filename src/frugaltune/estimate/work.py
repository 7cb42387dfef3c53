"""What one micro-batch asks of a GPU, from the job, its resolved stack and its memory (throughput.StepWork).

- FLOPs per token (flops.py) and the weight matmuls' share of them (FP8 runs those at its own peak).
- Elementwise traffic: one pass over each layer's norm, attention and MLP tensors (the unfused count of
  memory.layer_activation_bytes_per_token without LoRA dropout); the calibrated number of passes differs between
  unfused PyTorch and fused kernels (Liger, Unsloth, Inductor).
- Attention backend: SDPA with an explicit mask and eager attention compute the whole score matrix, more slowly than
  causal flash attention (throughput.attention_kernel_slowdown).
- Tensor parallelism with sequence parallelism: per layer and pass, two all-gather + reduce-scatter pairs of the
  s*b*h activations (Korthikanti et al. 2022, section 4.2.2); a ring moves (tp-1)/tp of each per GPU.
- Activation offload: what is saved goes to CPU memory and comes back once (2x the bytes not kept resident).
- DoRA (dora.py): its token-wide output tensors join the elementwise traffic; its weight norms (dense B @ A, the
  dequantised base on a 4-bit base) are per-forward FLOPs and HBM traffic, independent of the tokens.
- Plain data parallelism (DDP, ZeRO-1/2): one gradient all-reduce per optimizer step (grad_sync_bytes).
- Sharded data parallelism (ZeRO-3 / FSDP FULL_SHARD): every pass that uses a layer (forward, backward, recompute)
  all-gathers its weights, and backward reduce-scatters the trainable gradients (Rajbhandari et al. 2020, section
  7.2.2; PyTorch FSDP, Zhao et al. 2023, section 3.2); a ring moves (n-1)/n of each collective's bytes per GPU.
"""

from __future__ import annotations

from frugaltune.estimate import dora, pipeline
from frugaltune.estimate import memory as mem
from frugaltune.estimate import records as rec
from frugaltune.estimate.calibration import Coefficients
from frugaltune.estimate.flops import FlopsBreakdown, attention_forward_flops_per_token
from frugaltune.estimate.shapes import layer_linear_params, layer_targets, lm_head_params
from frugaltune.estimate.stack import FP32_GRAD_BUFFER_FRAMEWORKS, Stack
from frugaltune.estimate.throughput import StepWork, attention_kernel_slowdown


def elementwise_bytes_per_token(arch, precision: str) -> float:
    """Bytes of one pass over every layer's elementwise tensors, per token (all layers)."""
    b = mem.BYTES_PER_ELEMENT[precision]
    h, kv = arch.hidden_size, arch.num_kv_heads * arch.head_dim
    mlp = (4 if arch.mlp_type == "gated" else 2) * arch.intermediate_size * max(arch.experts_per_token, 1)
    return arch.num_layers * (arch.norms_per_layer * h + 2 * h + 2 * kv + mlp) * b


def linear_flops(flops: FlopsBreakdown, arch, seq_len: float, grad_ckpt: bool) -> float:
    """FLOPs per token of the weight matmuls: the total less attention's score/value products (fwd, 2x bwd,
    recompute)."""
    attn = attention_forward_flops_per_token(arch, int(seq_len)) * (3 + (1 if grad_ckpt else 0))
    return max(flops.per_token - attn, 0.0)


def tp_traffic_bytes(job: rec.Job, stack: Stack, tokens: float, precision: str) -> float:
    """Per micro-batch, all layers (a pipeline stage's share is taken in throughput.throughput); `tokens`: this
    context-parallel rank's."""
    tp = stack.tensor_parallel
    if tp <= 1:
        return 0.0
    passes = 4 + (2 if job.grad_ckpt else 0)  # fwd: attention + MLP; bwd: both again; recompute: forward again
    block = tokens * job.model.hidden_size * mem.BYTES_PER_ELEMENT[precision]
    return job.model.num_layers * passes * 2.0 * (tp - 1) / tp * block


def shard_traffic_bytes(job: rec.Job, stack: Stack, precision: str, trainable: int) -> float:
    """Link bytes per GPU and micro-batch of ZeRO-3 / FSDP: weight all-gathers per pass + gradient reduce-scatter.
    The NF4 constants stay unsharded (memory.quant_constant_bytes), so they are never gathered."""
    n = job.num_gpus // max(stack.tensor_parallel * stack.pipeline_parallel, 1)  # data x context parallel
    if job.zero_stage < 3 or n <= 1:
        return 0.0
    tp = max(stack.tensor_parallel, 1)
    weights = (mem.weights_bytes(job.model, job.method, precision)
               - mem.quant_constant_bytes(job.model, job.method)) / tp
    passes = 3 if job.grad_ckpt else 2
    grads = trainable * mem.BYTES_PER_ELEMENT[precision] / tp  # a tensor-parallel rank holds 1/tp of every matrix
    return (passes * weights + grads) * (n - 1) / n


def weight_read_bytes(job: rec.Job, precision: str) -> float:
    """16-bit weights the matmuls read per micro-batch: every decoder layer's linears once per pass (forward,
    backward, recompute), the LM head in forward and backward (not recomputed); 4-bit bases are read as the
    dequantised 16-bit copy the matmul uses (the dequantisation itself is throughput.dequant_seconds)."""
    arch = job.model
    passes = 3 if job.grad_ckpt else 2
    per_element = 4 if precision == "fp32" else 2
    return (passes * arch.num_layers * layer_linear_params(arch, active=True) + 2 * lm_head_params(arch)) * per_element


def grad_sync_bytes(job: rec.Job, stack: Stack, precision: str, trainable: int) -> float:
    """Link bytes per GPU and optimizer step of data-parallel gradient synchronisation without full sharding: DDP
    all-reduces every gradient once per optimizer step (no_sync while accumulating; PyTorch DDP, Li et al. 2020,
    sections 3.2.3-3.2.4), ZeRO-1/2 reduce-scatters them and all-gathers the updated 16-bit parameters, the same
    volume (Rajbhandari et al. 2020, section 7.1). A ring all-reduce moves 2 (n-1)/n of the payload per GPU.
    With pipeline parallelism each data-parallel group reduces one stage's gradients (the largest stage's:
    pipeline.stage_bytes); context-parallel ranks join the data-parallel reduction (Megatron-Core reduces gradients
    over the data-parallel x context-parallel group), n = num_gpus / (tp x pp)."""
    tp, pp = max(stack.tensor_parallel, 1), max(stack.pipeline_parallel, 1)
    n = job.num_gpus // (tp * pp)
    if job.zero_stage >= 3 or n <= 1:
        return 0.0
    fp32_buffer = stack.framework in FP32_GRAD_BUFFER_FRAMEWORKS  # reduced in fp32 (memory.gradient_bytes)
    payload = mem.gradient_bytes(job.method, precision, trainable, 0, fp32_buffer) / tp
    if pp > 1:
        outside = pipeline.non_layer_params(job.model) if job.method == "full" else 0
        payload = pipeline.stage_bytes(payload, payload * outside / max(trainable, 1), job.model, pp)
    return 2.0 * payload * (n - 1) / n


def offload_traffic_bytes(job: rec.Job, stack: Stack, precision: str, seq_len: int, coef: Coefficients,
                          per_token_layer: float) -> float:
    if not stack.activation_offload:
        return 0.0
    args = (job.model, precision, seq_len, job.micro_batch, job.grad_ckpt, per_token_layer, coef)
    kept = mem.activation_bytes(*args, offload=False, tp=stack.tensor_parallel)
    resident = mem.activation_bytes(*args, offload=True, tp=stack.tensor_parallel)
    return 2.0 * max(kept - resident, 0.0)


def dora_work(job: rec.Job, precision: str) -> tuple[float, float, float]:
    """DoRA's (elementwise bytes per token, weight-norm FLOPs, weight-norm HBM bytes) per micro-batch (dora.py): the
    norms run in every forward and again in every recompute."""
    if not job.use_dora or job.method == "full":
        return 0.0, 0.0, 0.0
    b = mem.BYTES_PER_ELEMENT[precision]
    flops, bytes_ = dora.weight_norm_cost(job.model, job.lora_targets, job.method, job.lora_r, b)
    passes = 2 if job.grad_ckpt else 1
    return dora.elementwise_bytes_per_token(job.model, job.lora_targets, b), passes * flops, passes * bytes_


def head_flops_per_token(job: rec.Job) -> float:
    """The LM head's FLOPs per token (forward 2, backward 4 with its weight gradient in full fine-tuning, else 2 per
    weight): the work the last pipeline stage runs on top of its layers."""
    return (6.0 if job.method == "full" else 4.0) * lm_head_params(job.model)


def pipeline_work(job: rec.Job, stack: Stack, flops: FlopsBreakdown, rank_tokens: float, precision: str) -> dict:
    """StepWork's pipeline and context-parallel fields (pipeline.py): the slowest stage's share of the work, the
    micro-batches per flush, the stage-to-stage and ring-attention bytes per GPU and micro-batch."""
    pp, vp, cp, tp = stack.pipeline_parallel, stack.virtual_pipeline, stack.context_parallel, stack.tensor_parallel
    if pp <= 1 and cp <= 1:
        return {}
    head = head_flops_per_token(job)
    b = mem.BYTES_PER_ELEMENT[precision]
    return dict(pipeline_parallel=pp, virtual_pipeline=vp,
                micro_batches_per_flush=1 if stack.optimizer_in_backward else job.grad_accum,
                stage_share=pipeline.last_stage_share(max(flops.per_token - head, 0.0), head, pp),
                p2p_bytes=pipeline.p2p_bytes(rank_tokens, job.model.hidden_size, b, tp, pp, vp),
                context_parallel=cp,
                cp_bytes=pipeline.context_parallel_bytes(job.model, rank_tokens, b, tp, cp,
                                                         job.model.num_layers / pp, job.grad_ckpt))


def step_work(job: rec.Job, precision: str, stack: Stack, flops: FlopsBreakdown, seq_len: float, per_micro: float,
              optimizer_state_bytes: float, coef: Coefficients, per_token_layer: float, trainable: int = 0,
              attention_seq: float | None = None) -> StepWork:
    """One micro-batch's work for one GPU of its tensor-parallel group. `seq_len`: the micro-batch's row length
    (activations, offload); `attention_seq`: the length attention is charged at (`flops` counts it;
    estimator.attention_length: packed documents a varlen kernel attends alone), default the row length. With context
    parallelism, one rank's s / cp of the micro-batch's tokens (every token still attends over the whole sequence)."""
    dora_elementwise, norm_flops, norm_bytes = dora_work(job, precision)
    attention_seq = seq_len if attention_seq is None else attention_seq
    cp = stack.context_parallel
    rank_tokens = per_micro / cp
    return StepWork(
        attention_slowdown=attention_kernel_slowdown(stack.attention, job.model, attention_seq, precision),
        flops_per_token=flops.per_token,
        linear_flops_per_token=linear_flops(flops, job.model, attention_seq, job.grad_ckpt),
        tokens_per_micro_batch=rank_tokens,
        elementwise_bytes_per_token=elementwise_bytes_per_token(job.model, precision) + dora_elementwise,
        dora_norm_flops=norm_flops, dora_norm_bytes=norm_bytes,
        grad_accum=1 if stack.optimizer_in_backward else job.grad_accum, optimizer_state_bytes=optimizer_state_bytes,
        offload_bytes=offload_traffic_bytes(job, stack, precision, int(seq_len), coef, per_token_layer) / cp,
        tp_bytes=tp_traffic_bytes(job, stack, rank_tokens, precision),
        shard_bytes=shard_traffic_bytes(job, stack, precision, trainable),
        grad_sync_bytes=grad_sync_bytes(job, stack, precision, trainable),
        weight_read_bytes=weight_read_bytes(job, precision),
        layer_passes=job.model.num_layers * (3 if job.grad_ckpt else 2),
        adapters_per_layer=0 if job.method == "full" else len(layer_targets(job.model, job.lora_targets)),
        **pipeline_work(job, stack, flops, rank_tokens, precision))
