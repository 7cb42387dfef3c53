"""FLOPs per token and the tokens/s model, against hand arithmetic.

Tiny shape (conftest.py), seq_len 32:
  N_layers = 2 x 36,864 = 73,728 ; N_head = 64 x 64 = 4,096 ; N = N_layers + N_head = 77,824 (embeddings are lookups)
  A (causal attention, forward, all layers) = 2 x s x (heads x head_dim) x L = 2 x 32 x 64 x 2 = 8,192
"""

from __future__ import annotations

import math

import pytest

from frugaltune.catalog.types import GpuSpec
from frugaltune.estimate.calibration import Coefficients
from frugaltune.estimate.flops import attention_forward_flops_per_token, flops_per_token
from frugaltune.estimate.throughput import StepWork, scaling_efficiency, throughput

N_LAYERS, N_HEAD, A = 73_728, 4_096, 8_192
N = N_LAYERS + N_HEAD
RECOMPUTE = 2 * N_LAYERS + A  # one more forward of the decoder layers (not the head)


def test_attention_term(tiny):
    assert attention_forward_flops_per_token(tiny, 32) == A


def test_sliding_window_caps_attention(tiny):
    windowed = tiny.__class__(**{**tiny.__dict__, "sliding_window": 16})
    assert attention_forward_flops_per_token(windowed, 32) == 2 * 16 * 64 * 2


@pytest.mark.parametrize("method, grad_ckpt, lora_params, expected", [
    ("full", False, 0, 6 * N + 3 * A),                           # fwd 2N + A, bwd 4N + 2A  = 491,520
    ("full", True, 0, 6 * N + 3 * A + RECOMPUTE),                # + 155,648                = 647,168
    ("lora", False, 7_168, 4 * N + 3 * A + 6 * 7_168),          # no weight grads; adapters 6 per param = 378,880
    ("lora", True, 7_168, 4 * N + 3 * A + 6 * 7_168 + RECOMPUTE),
    ("qlora", False, 7_168, 4 * N + 3 * A + 6 * 7_168),
])
def test_flops_per_token(tiny, method, grad_ckpt, lora_params, expected):
    got = flops_per_token(tiny, method, 32, grad_ckpt, lora_params)
    assert got.per_token == expected
    assert got.forward == 2 * N + A


def test_flops_numbers(tiny):
    assert flops_per_token(tiny, "full", 32, False).per_token == 491_520
    assert flops_per_token(tiny, "full", 32, True).per_token == 647_168
    assert flops_per_token(tiny, "lora", 32, False, 7_168).per_token == 378_880


def test_llama2_7b_full_is_about_6n_and_lora_about_4n(catalog):
    arch = catalog.model("llama-2-7b")
    # matmul params: 32 x (4 x 4096^2 + 3 x 4096 x 11008) + head 32000 x 4096 = 6,607,077,376
    n = 32 * (4 * 4096**2 + 3 * 4096 * 11008) + 32000 * 4096
    attn = 2 * 512 * 4096 * 32
    full = flops_per_token(arch, "full", 512, False).per_token
    assert full == 6 * n + 3 * attn
    assert full / (6 * 6.738e9) == pytest.approx(1.0, abs=0.03)  # ~6N of the published count
    lora = flops_per_token(arch, "lora", 512, True, 16_777_216).per_token
    recompute = 2 * 32 * (4 * 4096**2 + 3 * 4096 * 11008) + attn
    assert lora == 4 * n + 3 * attn + 6 * 16_777_216 + recompute == 40_017_854_464


def _gpu(**kw) -> GpuSpec:
    values = {"name": "G", "aliases": (), "architecture": "Ampere", "segment": "datacenter", "memory_gb": 24.0,
                  "memory_bandwidth_gb_per_s": None, "bf16_tflops": 100.0, "fp16_tflops": 100.0, "fp32_tflops": 20.0,
                  "tf32_tflops": None, "fp8_tflops": None, "bf16_supported": True, "fp8_supported": False, "tdp_watts": None,
                  "price_usd": None, "source": "test", "data_date": "unknown"}
    return GpuSpec(**{**values, **kw})


def _work(flops=1e9, tokens=1024, **kw) -> StepWork:
    values = {"flops_per_token": flops, "linear_flops_per_token": flops, "tokens_per_micro_batch": tokens,
              "elementwise_bytes_per_token": 0.0, "grad_accum": 1, "optimizer_state_bytes": 0.0, "offload_bytes": 0.0,
              "tp_bytes": 0.0}
    return StepWork(**{**values, **kw})


def test_throughput_compute_bound_equals_peak_times_mfu(tiny):
    # no per-step overhead and no bandwidth figure -> time = FLOPs / (peak x MFU): tokens/s = 100e12 x 0.5 / flops
    coef = Coefficients(step_overhead_s={"full": 0.0, "lora": 0.0, "qlora": 0.0})
    tp = throughput(arch=tiny, gpu=_gpu(), method="lora", precision="bf16", grad_ckpt=False, work=_work(),
                    num_gpus=1, coef=coef)
    assert tp.tokens_per_sec_per_gpu == pytest.approx(100e12 * 0.5 / 1e9)
    assert tp.mfu == pytest.approx(0.5)
    assert tp.source == "calibrated"  # the A100 class has its own factor in Coefficients()


def test_throughput_overhead_and_scaling(tiny):
    coef = Coefficients(step_overhead_s={"full": 0.1, "lora": 0.1, "qlora": 0.1})
    tp = throughput(arch=tiny, gpu=_gpu(architecture="SomethingNew"), method="full", precision="bf16",
                    grad_ckpt=False, work=_work(tokens=1000), num_gpus=4, coef=coef)
    compute_s = 1e9 * 1000 / (100e12 * 0.5)  # 0.02 s
    per_gpu = 1000 / (compute_s + 0.1) * 0.95 ** 2  # 0.95 per doubling, 4 GPUs = 2 doublings
    assert tp.tokens_per_sec_per_gpu == pytest.approx(per_gpu)
    assert tp.tokens_per_sec == pytest.approx(4 * per_gpu)
    assert tp.source == "default"  # no measurements for this GPU class
    assert scaling_efficiency(8, coef) == pytest.approx(0.95 ** math.log2(8))
    assert scaling_efficiency(1, coef) == 1.0
