"""Attention's score and value products run at `attention_efficiency` of the matmul ceiling (FlashAttention-2 reaches
a smaller share of the tensor-core peak than large matrix multiplies): hand arithmetic on throughput.compute_seconds
and its effect on long sequences; and the weight matmuls' floor, the HBM reads of every weight per pass, which bounds
small micro-batches."""

from __future__ import annotations

import pytest

from frugaltune.catalog.load import load_catalog
from frugaltune.estimate.calibration import Coefficients
from frugaltune.estimate.throughput import StepWork, compute_seconds


def _work(flops: float, linear: float, tokens: float = 1000.0) -> StepWork:
    return StepWork(flops_per_token=flops, linear_flops_per_token=linear, tokens_per_micro_batch=tokens,
                    elementwise_bytes_per_token=0.0, grad_accum=1, optimizer_state_bytes=0.0, offload_bytes=0.0,
                    tp_bytes=0.0)


def test_attention_flops_run_at_their_own_efficiency():
    gpu = load_catalog().gpu("A100-80GB")
    peak, ceiling = 312e12, 0.5
    work = _work(flops=60e9, linear=45e9)  # 15 GFLOPs per token of attention
    half = Coefficients(attention_efficiency=0.5)
    # 1,000 tokens: 45e12 FLOPs at 156 TFLOP/s + 15e12 FLOPs at 78 TFLOP/s
    expected = 1000 * 45e9 / 156e12 + 1000 * 15e9 / 78e12
    assert compute_seconds(work, gpu, peak, ceiling, False, half) == pytest.approx(expected, rel=1e-12)
    # at efficiency 1 attention costs what a matmul of the same FLOPs costs
    assert compute_seconds(work, gpu, peak, ceiling, False, Coefficients(attention_efficiency=1.0)) == pytest.approx(
        1000 * 60e9 / 156e12, rel=1e-12)


def test_fp8_speeds_the_weight_matmuls_but_not_attention():
    gpu = load_catalog().gpu("H100-SXM")
    peak, ceiling = gpu.bf16_tflops * 1e12, 0.5
    work = _work(flops=60e9, linear=45e9)
    coef = Coefficients(attention_efficiency=0.5, fp8_efficiency=0.8)
    fp8_rate = gpu.fp8_tflops * 1e12 * ceiling * 0.8
    expected = 1000 * 45e9 / fp8_rate + 1000 * 15e9 / (peak * ceiling * 0.5)
    assert compute_seconds(work, gpu, peak, ceiling, True, coef) == pytest.approx(expected, rel=1e-12)


def test_a_small_micro_batch_waits_on_the_weights_hbm_reads():
    from frugaltune.estimate.build import build_job
    from frugaltune.record import replace
    from frugaltune.estimate.work import weight_read_bytes

    # Llama 2 7B: 32 layers x (4 x 4096^2 + 3 x 4096 x 11008) = 6,476,005,376 linear weights + a 32,000 x 4096 head;
    # forward and backward each read all of them once (no recompute), 2 bytes each
    job = build_job("llama-2-7b", method="lora", micro_batch=1, seq_len=64, grad_ckpt=False)
    assert weight_read_bytes(job, "bf16") == (2 * 6_476_005_376 + 2 * 131_072_000) * 2
    gpu = load_catalog().gpu("A100-80GB")
    peak, ceiling = 312e12, 0.5
    reads = weight_read_bytes(job, "bf16")
    # 64 tokens x 4 x 6.6e9 FLOPs take ~11 ms at 156 TFLOP/s; reading 26.4 GB at 2,039 GB/s takes ~13 ms
    small = replace(_work(flops=4 * 6.6e9, linear=4 * 6.6e9, tokens=64.0), weight_read_bytes=reads)
    assert compute_seconds(small, gpu, peak, ceiling, False, Coefficients()) == pytest.approx(reads / 2039e9)
    # 4,096 tokens: compute-bound, the reads hide under the matmuls
    big = replace(_work(flops=4 * 6.6e9, linear=4 * 6.6e9, tokens=4096.0), weight_read_bytes=reads)
    assert compute_seconds(big, gpu, peak, ceiling, False, Coefficients()) == pytest.approx(4096 * 4 * 6.6e9 / 156e12)
