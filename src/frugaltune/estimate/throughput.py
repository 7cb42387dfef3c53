"""Training tokens per second per GPU.

Time of one micro-batch = weight-matmul FLOPs / (peak dense TFLOPs x MFU ceiling)          (compute-bound part)
                        + attention FLOPs / (the same x attention_efficiency)  (fused attention kernels reach less)
                          x the backend's slowdown against causal flash attention (attention_kernel_slowdown:
                          SDPA with a mask and eager attention compute the whole score matrix, more slowly)
                          (never less than the weights' HBM reads per pass: small micro-batches are memory-bound)
                        + elementwise traffic (norms, activations, rotary, casts) / HBM bandwidth
                        + kernel-launch latency per layer and pass (+ per LoRA adapter)     (latency-bound part)
                        + a fixed per-micro-batch host overhead (Python, data loading; none for Megatron-Core's
                          loop, which keeps the GPU fed between micro-batches: host_seconds)
                        + QLoRA dequantisation traffic / HBM bandwidth                      (memory-bound part)
                        + DoRA's weight norms per forward: FLOPs / compute + bytes / HBM bandwidth (dora.py)
                        + ZeRO-3 re-gathers / a fraction of HBM bandwidth, tensor-parallel collectives / link
                          bandwidth (where the framework overlaps them with the GEMMs, only what outlasts the
                          compute: Stack.tp_overlapped)                                       (communication)
                        + ZeRO-3 / FSDP link traffic (all-gathers, gradient reduce-scatter) / GPU-to-GPU link
                          bandwidth, the part not hidden behind compute (FSDP prefetches the next layer's gather)
                        + DDP / ZeRO-1/2 gradient all-reduce per optimizer step, the part not hidden behind compute;
                          across nodes both collectives are bound by the slower of the GPU link and the node's
                          network adapters (collective_seconds)
                        + activation offload traffic over the host link not hidden behind compute
                        + the optimizer step's traffic / HBM bandwidth, once per grad_accum micro-batches.
This is the roofline idea (Williams et al. 2009) applied per phase; MFU as defined by Chowdhery et al. 2022
(PaLM, appendix B) and used by nanoGPT's estimate_mfu. The ceilings, passes and overheads are calibrated per method,
GPU class and kernel class (estimate/calibration.py): small micro-batches are overhead-bound, large ones approach
the ceiling. FP8 linears (torchao float8 / Transformer Engine) run the weight matmuls at the FP8 peak.
Multi-GPU: data-parallel efficiency = scaling_per_doubling ** log2(data-parallel GPUs).
"""

from __future__ import annotations

import math

from frugaltune.catalog.types import GpuSpec, ModelArch
from frugaltune.estimate import flops, shapes
from frugaltune.estimate.pipeline import bubble_units
from frugaltune.estimate.calibration import Coefficients
from frugaltune.record import record

WEIGHT_PASSES = {False: 2, True: 3}  # forward + backward (+ recompute) each touch every layer's weights once


@record(frozen=True)
class Throughput:
    tokens_per_sec_per_gpu: float
    tokens_per_sec: float
    mfu: float
    peak_flops: float
    source: str
    scaling_efficiency: float


@record(frozen=True)
class StepWork:
    """What one micro-batch asks of one GPU (built by the estimator from the job and its resolved stack)."""

    flops_per_token: float
    linear_flops_per_token: float  # the weight matmuls' share (what FP8 accelerates)
    tokens_per_micro_batch: float
    elementwise_bytes_per_token: float  # one pass over every layer's elementwise tensors, all layers
    grad_accum: int
    optimizer_state_bytes: float
    offload_bytes: float  # activations sent to CPU and back per micro-batch (0 without offload)
    tp_bytes: float  # tensor-parallel collective traffic per GPU per micro-batch (0 without TP)
    shard_bytes: float = 0.0  # ZeRO-3 / FSDP all-gather + reduce-scatter bytes per GPU per micro-batch
    grad_sync_bytes: float = 0.0  # DDP / ZeRO-1/2 gradient all-reduce bytes per GPU per optimizer step
    weight_read_bytes: float = 0.0  # 16-bit weights the matmuls read from HBM per micro-batch (all passes)
    layer_passes: int = 0  # decoder layers x passes (forward, backward, recompute) per micro-batch
    adapters_per_layer: int = 0  # LoRA-adapted modules per layer
    dora_norm_flops: float = 0.0  # DoRA weight norms per micro-batch (estimate/dora.py), independent of tokens
    dora_norm_bytes: float = 0.0  # their HBM traffic per micro-batch
    attention_slowdown: float = 1.0  # attention time against causal flash attention (attention_kernel_slowdown)
    # pipeline and context parallelism (estimate/pipeline.py); the fields above are the whole model's
    pipeline_parallel: int = 1
    virtual_pipeline: int = 1
    micro_batches_per_flush: int = 1  # m: micro-batches each pipeline runs between flushes
    stage_share: float = 1.0  # the slowest stage's share of a micro-batch's layer work
    p2p_bytes: float = 0.0  # stage-to-stage bytes per GPU and micro-batch
    context_parallel: int = 1
    cp_bytes: float = 0.0  # ring-attention K/V bytes per GPU and micro-batch (the stage's layers)


# Speed of an attention backend per FLOP of the score matrix it computes, relative to FlashAttention-2 on a causal
# mask per FLOP of the causal half (what flops.py counts and `attention_efficiency` times). From FlashAttention-2's
# published fwd+bwd benchmark, head dimension 128, sequence 1k-8k (Dao 2023, arXiv 2307.08691, figures 4 and 7;
# Dao-AILab/flash-attention assets/flash2_a100_fwd_bwd_benchmark.png and flash2_h100_fwd_bwd_benchmark.png @0251105a):
# FlashAttention-2 causal reaches 133 / 155 / 173 / 182 TFLOPs/s at 1k / 2k / 4k / 8k on an A100 (221 / 265 / 294 /
# 308 on an H100).
# - sdpa-masked: PyTorch's memory-efficient backend is xformers' CUTLASS kernel; with an arbitrary mask it computes
#   the whole score matrix, at xformers' speed without a causal mask: 91 / 95 / 96 / 97 TFLOPs/s on the A100, i.e.
#   0.684 / 0.613 / 0.555 / 0.533 of FlashAttention-2 causal; median 0.584. The figure has no H100 xformers bars; the
#   kernel has no Hopper-specific path, so the A100 ratio is used for every GPU.
# - eager: the figures' "Pytorch" standard attention (matmul, softmax, matmul through HBM) without a causal mask:
#   67 / 76 / 79 / 86 on the A100 (0.504 / 0.490 / 0.457 / 0.473), 120 / 145 / 160 / 167 on the H100 (0.543 / 0.547 /
#   0.544 / 0.542); median of the eight 0.523. transformers' eager attention also adds the 4-D mask and runs softmax
#   in fp32 (eager_attention_forward), so this is its best case.
# - the memory-efficient kernel on a causal mask (is_causal, no mask: it skips the blocks above the diagonal): xformers
#   with a causal mask, 72 / 82 / 87 / 91 on the A100 (0.541 / 0.529 / 0.503 / 0.500); median 0.516. SDPA runs it in
#   fp32, where the flash backend is not allowed (sdp_utils.cpp check_dtypes_flash_attention: fp16 / bf16 only).
ATTENTION_SPEED_VS_FLASH = {"sdpa-masked": 0.584, "eager": 0.523}
MEM_EFFICIENT_CAUSAL_SPEED_VS_FLASH = 0.516


def attention_kernel_slowdown(attention: str, arch: ModelArch, seq_len: float, precision: str = "bf16") -> float:
    """Attention time of `attention` over causal flash attention's for the same sequence (1.0 for flash and sdpa).

    Flash kernels skip the masked half of a causal score matrix and the positions outside a sliding window
    (flops.attention_forward_flops_per_token counts 2 * s_eff * d_attn per token and layer). A kernel given an explicit
    mask (sdpa-masked: PyTorch's memory-efficient backend, sdp_utils.cpp; eager: two matmuls and a softmax) computes
    every one of the s x s scores, 4 * s * d_attn per token and layer: 2 s / s_eff times the work, at
    ATTENTION_SPEED_VS_FLASH of the speed. In fp32 SDPA without a mask runs the memory-efficient kernel on the causal
    half (MEM_EFFICIENT_CAUSAL_SPEED_VS_FLASH); its fp32 tensor-core rate is fp32_attention_rate."""
    if precision == "fp32" and attention == "sdpa":
        return 1.0 / MEM_EFFICIENT_CAUSAL_SPEED_VS_FLASH
    speed = ATTENTION_SPEED_VS_FLASH.get(attention)
    if not speed:
        return 1.0
    s_eff = max(flops.attended_positions(arch, seq_len), 1.0)
    return 2.0 * seq_len / s_eff / speed


def fp32_attention_rate(gpu: GpuSpec, precision: str, attention: str) -> float:
    """SDPA's fp32 matmul rate over the fp32 peak the other matmuls run at. PyTorch's memory-efficient kernel runs its
    fp32 GEMMs on tensor cores from sm80 on, as 3xTF32 (OpMultiplyAddFastF32: three TF32 products per fp32 product,
    pytorch/pytorch aten/src/ATen/native/transformers/cuda/mem_eff_attention/gemm_kernel_utils.h DefaultGemmType
    <ArchTag, float>), so a third of the TF32 tensor peak, while plain fp32 matmuls run without TF32 (PyTorch's default
    allow_tf32=False): 156 / 3 / 19.5 = 2.67x on an A100, 494.7 / 3 / 66.9 = 2.46x on an H100, but 0.33x on a GeForce
    RTX 4090 (82.6 / 3 / 82.6: its fp32 and TF32 peaks are equal). 1.0 for 16-bit, eager, flash, or GPUs without
    TF32 (before sm80 the kernel's fp32 GEMMs are SIMT)."""
    if precision != "fp32" or attention not in ("sdpa", "sdpa-masked") or not (gpu.tf32_tflops and gpu.fp32_tflops):
        return 1.0
    return gpu.tf32_tflops / 3.0 / gpu.fp32_tflops


def peak_flops(gpu: GpuSpec, precision: str) -> float:
    """Dense peak FLOP/s for the compute dtype: bf16/fp16 tensor cores (fp32 accumulate), fp32 without TF32
    (PyTorch's default for matmuls since 1.12)."""
    table = {"bf16": gpu.bf16_tflops, "bf16-true": gpu.bf16_tflops, "fp16": gpu.fp16_tflops or gpu.bf16_tflops,
             "fp32": gpu.fp32_tflops}
    tflops = table[precision] or gpu.fp16_tflops or gpu.fp32_tflops or 0.0
    return tflops * 1e12


def _bandwidth(gpu: GpuSpec, efficiency: float) -> float:
    return (gpu.memory_bandwidth_gb_per_s or 0.0) * 1e9 * efficiency


def dequant_seconds(arch: ModelArch, gpu: GpuSpec, grad_ckpt: bool, coef: Coefficients) -> float:
    """Per micro-batch: read NF4 (0.5 B) and write 16-bit (2 B) for every quantised weight, per pass."""
    bandwidth = _bandwidth(gpu, coef.dequant_bandwidth_efficiency)
    return WEIGHT_PASSES[grad_ckpt] * shapes.quantizable_params(arch) * 2.5 / bandwidth if bandwidth > 0 else 0.0


def gather_seconds(arch: ModelArch, gpu: GpuSpec, grad_ckpt: bool, coef: Coefficients) -> float:
    """ZeRO-3 / FSDP re-gathers every 16-bit weight before each pass that uses it (Rajbhandari et al. 2020,
    section 7.2.2: 3x parameter communication); its throughput is a fraction of HBM bandwidth."""
    bandwidth = _bandwidth(gpu, coef.gather_bandwidth_efficiency)
    return WEIGHT_PASSES[grad_ckpt] * shapes.total_params(arch) * 2.0 / bandwidth if bandwidth > 0 else 0.0


def optimizer_step_seconds(state_bytes: float, gpu: GpuSpec, coef: Coefficients) -> float:
    """The optimizer reads and writes its states, master weights, params and grads once per step."""
    bandwidth = _bandwidth(gpu, coef.optimizer_bandwidth_efficiency)
    return 2.0 * state_bytes / bandwidth if bandwidth > 0 else 0.0


def link_seconds(traffic_bytes: float, gb_per_s: float, coef: Coefficients, staged: bool = False) -> float:
    """Collective traffic over a link at `link_efficiency` of its per-direction bandwidth; a peer path staged through
    host memory (GeForce cards: no GPU peer-to-peer) at `staged_link_efficiency` of its own (NCCL's shared-memory
    transport copies every chunk into a host buffer and out again, paced by CPU proxy threads)."""
    efficiency = coef.staged_link_efficiency if staged else coef.link_efficiency
    return traffic_bytes / (gb_per_s * 1e9 * efficiency) if traffic_bytes and gb_per_s else 0.0


def peer_seconds(traffic_bytes: float, links: dict, coef: Coefficients) -> float:
    """GPU-to-GPU traffic over the peer link of `links` (an interconnect.csv row)."""
    staged = links.get("peer_path") == "host-staged"
    return link_seconds(traffic_bytes, float(links["gpu_link_gb_per_s"]), coef, staged)


def collective_seconds(ring_bytes: float, num_gpus: int, tp: int, links: dict, coef: Coefficients) -> float:
    """A data-parallel ring collective that moves `ring_bytes` per GPU: the slowest link it crosses sets its time.
    Within a node every GPU sends and receives `ring_bytes` over its GPU-to-GPU link. Once the job spans nodes
    (more GPUs than `node_gpus`), each node must also take in (nodes - 1) / nodes of the collective's payload through
    its network adapters (`node_link_gb_per_s` per node and direction: DGX H100/H200/B200 8 x 400 Gb/s, DGX A100
    8 x 200 Gb/s), shared by the node's tensor-parallel ranks, whose data-parallel groups run side by side. NCCL's
    rings cross each node boundary once per ring, one ring per adapter, so that bound holds for rings and trees."""
    if not ring_bytes:
        return 0.0
    intra_s = peer_seconds(ring_bytes, links, coef)
    node_gpus, node_gb_per_s = int(links.get("node_gpus") or 0), float(links.get("node_link_gb_per_s") or 0.0)
    n = num_gpus // tp
    if not node_gpus or not node_gb_per_s or num_gpus <= node_gpus or n <= 1:
        return intra_s
    nodes = math.ceil(num_gpus / node_gpus)
    payload = ring_bytes * n / (n - 1)
    share_gb_per_s = node_gb_per_s * min(n / nodes, node_gpus) / node_gpus  # this group's ranks per node
    return max(intra_s, link_seconds(payload * (nodes - 1) / nodes, share_gb_per_s, coef))


def compute_seconds(work: StepWork, gpu: GpuSpec, peak: float, ceiling: float, fp8: bool, coef: Coefficients,
                    attention_rate: float = 1.0) -> float:
    """Matmul time: the weight matmuls at the ceiling (with FP8 linears at the FP8 peak x fp8_efficiency), attention's
    score and value products at `attention_efficiency` of it. Fused attention kernels reach a smaller share of the
    tensor-core peak than plain matrix multiplies: FlashAttention-2 forward reaches 50-73 % of the A100's peak
    (Dao 2023, arXiv 2307.08691, abstract) and "only 35 % utilization on H100" (Shah et al. 2024, FlashAttention-3,
    arXiv 2407.08608, abstract), while large GEMMs run at 70-80 %. Attention's share of the FLOPs grows with the
    sequence length (flops.attention_forward_flops_per_token), so long-context runs are slower than their FLOPs say."""
    tokens = work.tokens_per_micro_batch
    attention = work.flops_per_token - work.linear_flops_per_token
    attention_s = tokens * attention * work.attention_slowdown / (peak * ceiling * coef.attention_efficiency
                                                                  * attention_rate)
    if fp8 and gpu.fp8_supported and gpu.fp8_tflops:
        rate = gpu.fp8_tflops * 1e12 * ceiling * coef.fp8_efficiency
    else:
        rate = peak * ceiling
    return max(tokens * work.linear_flops_per_token / rate, weight_read_seconds(work, gpu)) + attention_s


def weight_read_seconds(work: StepWork, gpu: GpuSpec) -> float:
    """The weight matmuls cannot run faster than HBM delivers their weights: every pass reads each 16-bit weight once,
    so a micro-batch of few tokens is memory-bound (roofline, Williams et al. 2009: below about peak FLOP/s / HBM
    bytes/s tokens per micro-batch, e.g. 153 on an A100, 295 on an H100, the GEMMs wait on memory)."""
    bandwidth = _bandwidth(gpu, 1.0)
    return work.weight_read_bytes / bandwidth if bandwidth > 0 else 0.0


def host_seconds(method: str, stack, coef: Coefficients) -> float:
    """Host time per micro-batch during which the GPU waits: `step_overhead_s`, fit on the eager PyTorch loops of the
    fit rows (HF Trainer, accelerate, DeepSpeed, torchtune, ...: Python between micro-batches, batches collated in the
    training process by default). None where the loop keeps the GPU's queue full between micro-batches
    (Stack.host_overlapped: Megatron-Core); its per-layer kernel launches are still `launch_seconds`."""
    if stack is not None and stack.host_overlapped:
        return 0.0
    return float(coef.step_overhead_s[method])


def launch_seconds(work: StepWork, fused: bool, coef: Coefficients) -> float:
    """Kernel-launch latency, which does not shrink with the model: every layer launches its kernels once per pass,
    each LoRA-adapted module adds its own (dropout, A, B, add); fused kernels launch fewer."""
    per_pass = coef.launch_s_per_layer_pass + coef.launch_s_per_adapter * work.adapters_per_layer
    return work.layer_passes * per_pass * (coef.fused_launch_factor if fused else 1.0)


def dora_norm_seconds(work: StepWork, flops_per_s: float, hbm_bytes_per_s: float) -> float:
    """DoRA's weight norms per micro-batch: their matmuls at the compute rate, their dense tensors at HBM bandwidth
    (a memory-bound pass, like the elementwise traffic)."""
    if not (work.dora_norm_flops or work.dora_norm_bytes):
        return 0.0
    return work.dora_norm_flops / flops_per_s + (work.dora_norm_bytes / hbm_bytes_per_s if hbm_bytes_per_s else 0.0)


def pipeline_link_seconds(work: StepWork, num_gpus: int, links: dict, coef: Coefficients, stage_compute_s: float
                          ) -> float:
    """Exposed time per micro-batch of the pipeline's stage-to-stage transfers and of context parallelism's ring
    attention (estimate/pipeline.py). Megatron-Core waits for the stage-to-stage transfers in the plain 1F1B schedule
    and overlaps them with compute when interleaved; ring attention's K/V exchange runs beside the attention
    computation, so only what outlasts the stage's compute shows."""
    from frugaltune.estimate.pipeline import p2p_link_gb_per_s

    out = 0.0
    if work.p2p_bytes:
        p2p_s = link_seconds(work.p2p_bytes, p2p_link_gb_per_s(links, num_gpus, work.pipeline_parallel), coef)
        out += p2p_s if work.virtual_pipeline <= 1 else max(0.0, p2p_s - stage_compute_s)
    if work.cp_bytes:
        out += max(0.0, peer_seconds(work.cp_bytes, links, coef) - stage_compute_s)
    return out


def scaling_efficiency(num_gpus: int, coef: Coefficients) -> float:
    return coef.scaling_per_doubling ** math.log2(num_gpus) if num_gpus > 1 else 1.0


def throughput(*, arch: ModelArch, gpu: GpuSpec, method: str, precision: str, grad_ckpt: bool, work: StepWork,
               num_gpus: int, coef: Coefficients, zero_stage: int = 0, stack=None) -> Throughput:
    """Tokens/s per GPU and in total for a job on `num_gpus` GPUs (tensor-parallel groups share their tokens)."""
    tp = stack.tensor_parallel if stack else 1
    fused = bool(stack and stack.fused_elementwise)
    peak = peak_flops(gpu, precision)
    ceiling, source = coef.mfu_for(gpu, method)
    rate = fp32_attention_rate(gpu, precision, stack.attention) if stack else 1.0
    compute_s = compute_seconds(work, gpu, peak, ceiling, bool(stack and stack.fp8), coef, rate) / tp
    passes = float(coef.elementwise_passes["fused" if fused else "hf"])
    hbm = _bandwidth(gpu, 1.0)
    elementwise_s = work.tokens_per_micro_batch * work.elementwise_bytes_per_token * passes / tp / hbm if hbm else 0.0
    host_s = host_seconds(method, stack, coef)
    overhead_s = host_s + launch_seconds(work, fused, coef)
    overhead_s += dora_norm_seconds(work, peak * ceiling, hbm)
    if method == "qlora":
        overhead_s += dequant_seconds(arch, gpu, grad_ckpt, coef) / tp
    if zero_stage >= 3:
        overhead_s += gather_seconds(arch, gpu, grad_ckpt, coef) / tp
    from frugaltune.estimate.datafile import interconnect

    links = interconnect(gpu.name)
    tp_s = peer_seconds(work.tp_bytes, links, coef)
    overhead_s += max(0.0, tp_s - compute_s) if stack is not None and stack.tp_overlapped else tp_s
    offload_s = link_seconds(work.offload_bytes, float(links["host_link_gb_per_s"]), coef)
    overhead_s += max(0.0, offload_s - compute_s)  # copies run on their own stream, hidden behind compute
    # Megatron-Core orders ranks tp-cp-ep-dp-pp: one pipeline stage's data-parallel groups lie within its
    # num_gpus / pp consecutive ranks (estimate/pipeline.py); gradients are reduced over data-parallel x
    # context-parallel ranks, beside the tensor-parallel ones
    model_parallel = tp * work.pipeline_parallel * work.context_parallel
    stage_gpus = num_gpus // work.pipeline_parallel
    shard_s = collective_seconds(work.shard_bytes, stage_gpus, tp, links, coef)
    overhead_s += max(0.0, shard_s - compute_s)  # collectives run on their own stream, hidden behind compute
    # the slowest pipeline stage's share of everything that scales with the layers; per micro-batch host time is
    # each stage's own, the optimizer step (from that stage's states) and gradient sync are per optimizer step
    per_step_s = optimizer_step_seconds(work.optimizer_state_bytes, gpu, coef) / max(work.grad_accum, 1)
    stage_s = (compute_s + elementwise_s + overhead_s - host_s) * work.stage_share + host_s
    stage_s += pipeline_link_seconds(work, num_gpus, links, coef, compute_s * work.stage_share)
    sync_s = collective_seconds(work.grad_sync_bytes, stage_gpus, tp, links, coef)
    per_step_s += max(0.0, sync_s - compute_s * work.stage_share) / max(work.grad_accum, 1)  # overlapped with backward
    m = max(work.micro_batches_per_flush, 1)
    step_s = stage_s * (m + bubble_units(work.pipeline_parallel, work.virtual_pipeline)) / m + per_step_s
    efficiency = scaling_efficiency(num_gpus // model_parallel, coef)
    per_gpu = work.tokens_per_micro_batch / (tp * work.pipeline_parallel) / step_s * efficiency
    mfu = per_gpu * work.flops_per_token / peak
    return Throughput(per_gpu, per_gpu * num_gpus, mfu, peak, source, efficiency)
