"""Training tokens per second per GPU.

Time of one micro-batch = matmul/attention FLOPs / (peak dense TFLOPs x MFU ceiling)      (compute-bound part)
                        + a fixed per-micro-batch overhead (kernel launches, Python, data) (latency-bound part)
                        + QLoRA dequantisation traffic / HBM bandwidth                      (memory-bound part)
                        + the optimizer step's traffic / HBM bandwidth, once per grad_accum micro-batches.
This is the roofline idea (Williams et al. 2009) applied per phase; MFU as defined by Chowdhery et al. 2022
(PaLM, appendix B) and used by nanoGPT's estimate_mfu. The ceilings and overheads are calibrated
(estimate/calibration.py): small micro-batches are overhead-bound, large ones approach the ceiling.
Multi-GPU: data-parallel efficiency = scaling_per_doubling ** log2(num_gpus).
"""

from __future__ import annotations

import math

from frugaltune.catalog.types import GpuSpec, ModelArch
from frugaltune.estimate import shapes
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


def peak_flops(gpu: GpuSpec, precision: str) -> float:
    """Dense peak FLOP/s for the compute dtype: bf16/fp16 tensor cores (fp32 accumulate), fp32 without TF32
    (PyTorch's default for matmuls since 1.12)."""
    table = {"bf16": gpu.bf16_tflops, "bf16-true": gpu.bf16_tflops, "fp16": gpu.fp16_tflops or gpu.bf16_tflops,
             "fp32": gpu.fp32_tflops}
    tflops = table[precision] or gpu.fp16_tflops or gpu.fp32_tflops or 0.0
    return tflops * 1e12


def dequant_seconds(arch: ModelArch, gpu: GpuSpec, grad_ckpt: bool, coef: Coefficients) -> float:
    """Per micro-batch: read NF4 (0.5 B) and write 16-bit (2 B) for every quantised weight, per pass."""
    bandwidth = (gpu.memory_bandwidth_gb_per_s or 0.0) * 1e9 * coef.dequant_bandwidth_efficiency
    if bandwidth <= 0:
        return 0.0
    return WEIGHT_PASSES[grad_ckpt] * shapes.quantizable_params(arch) * 2.5 / bandwidth


def gather_seconds(arch: ModelArch, gpu: GpuSpec, grad_ckpt: bool, coef: Coefficients) -> float:
    """ZeRO-3 / FSDP re-gathers every 16-bit weight before each pass that uses it (Rajbhandari et al. 2020,
    section 7.2.2: 3x parameter communication); its throughput is a fraction of HBM bandwidth."""
    bandwidth = (gpu.memory_bandwidth_gb_per_s or 0.0) * 1e9 * coef.gather_bandwidth_efficiency
    if bandwidth <= 0:
        return 0.0
    return WEIGHT_PASSES[grad_ckpt] * shapes.total_params(arch) * 2.0 / bandwidth


def optimizer_step_seconds(state_bytes: float, gpu: GpuSpec, coef: Coefficients) -> float:
    """The optimizer reads and writes its states, master weights, params and grads once per step."""
    bandwidth = (gpu.memory_bandwidth_gb_per_s or 0.0) * 1e9 * coef.optimizer_bandwidth_efficiency
    return 2.0 * state_bytes / bandwidth if bandwidth > 0 else 0.0


def scaling_efficiency(num_gpus: int, coef: Coefficients) -> float:
    return coef.scaling_per_doubling ** math.log2(num_gpus) if num_gpus > 1 else 1.0


def throughput(*, arch: ModelArch, gpu: GpuSpec, method: str, precision: str, grad_ckpt: bool,
               flops_per_token: float, tokens_per_micro_batch: float, grad_accum: int, optimizer_state_bytes: float,
               num_gpus: int, coef: Coefficients, zero_stage: int = 0) -> Throughput:
    """Tokens/s per GPU and in total for a job on `num_gpus` GPUs."""
    peak = peak_flops(gpu, precision)
    ceiling, source = coef.mfu_for(gpu.architecture, method)
    compute_s = flops_per_token * tokens_per_micro_batch / (peak * ceiling)
    overhead_s = coef.step_overhead_s[method]
    if method == "qlora":
        overhead_s += dequant_seconds(arch, gpu, grad_ckpt, coef)
    if zero_stage >= 3:
        overhead_s += gather_seconds(arch, gpu, grad_ckpt, coef)
    overhead_s += optimizer_step_seconds(optimizer_state_bytes, gpu, coef) / max(grad_accum, 1)
    efficiency = scaling_efficiency(num_gpus, coef)
    per_gpu = tokens_per_micro_batch / (compute_s + overhead_s) * efficiency
    mfu = per_gpu * flops_per_token / peak
    return Throughput(per_gpu, per_gpu * num_gpus, mfu, peak, source, efficiency)
