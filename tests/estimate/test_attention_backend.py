"""Attention backends and LoRA adapter traffic in the tokens/s estimate, by hand arithmetic:
- SDPA given an explicit mask (padded batches under transformers) and eager attention compute the whole s x s score
  matrix, more slowly per FLOP than causal flash attention (throughput.attention_kernel_slowdown);
- in fp32 SDPA always runs the memory-efficient kernel, whose fp32 GEMMs use tensor cores (3xTF32);
- when an unset `--attention` resolves to the masked kernel (stack.padded_batches), and `estimate --json` echoes it."""

from __future__ import annotations

import pytest

from frugaltune.catalog.load import load_catalog
from frugaltune.estimate.build import build_job
from frugaltune.estimate.calibration import Coefficients
from frugaltune.estimate.stack import resolve_stack
from frugaltune.estimate.throughput import (
    ATTENTION_SPEED_VS_FLASH,
    MEM_EFFICIENT_CAUSAL_SPEED_VS_FLASH,
    StepWork,
    attention_kernel_slowdown,
    compute_seconds,
    fp32_attention_rate,
)
from frugaltune.record import replace


def test_the_speed_ratios_are_the_published_benchmarks_medians():
    # FlashAttention-2 fwd+bwd, head dim 128, 1k-8k: xformers without a causal mask over FA2 with one (A100), and
    # standard PyTorch attention without a causal mask over FA2 with one (A100 and H100)
    xformers = sorted(x / f for x, f in zip((91, 95, 96, 97), (133, 155, 173, 182)))
    assert ATTENTION_SPEED_VS_FLASH["sdpa-masked"] == pytest.approx((xformers[1] + xformers[2]) / 2, abs=5e-4)
    eager = sorted([x / f for x, f in zip((67, 76, 79, 86), (133, 155, 173, 182))]
                   + [x / f for x, f in zip((120, 145, 160, 167), (221, 265, 294, 308))])
    assert ATTENTION_SPEED_VS_FLASH["eager"] == pytest.approx((eager[3] + eager[4]) / 2, abs=5e-4)
    causal = sorted(x / f for x, f in zip((72, 82, 87, 91), (133, 155, 173, 182)))
    assert MEM_EFFICIENT_CAUSAL_SPEED_VS_FLASH == pytest.approx((causal[1] + causal[2]) / 2, abs=5e-4)


def test_fp32_sdpa_runs_the_memory_efficient_kernel_on_tensor_cores(tiny):
    catalog = load_catalog()
    # no flash backend in fp32: the causal half at the memory-efficient kernel's causal speed
    assert attention_kernel_slowdown("sdpa", tiny, 1024, "fp32") == pytest.approx(1 / 0.516)
    assert attention_kernel_slowdown("sdpa-masked", tiny, 1024, "fp32") == pytest.approx(2 / 0.584)
    # its fp32 GEMMs are 3xTF32 on tensor cores: a third of the TF32 peak over the fp32 (SIMT) peak
    assert fp32_attention_rate(catalog.gpu("A100-80GB"), "fp32", "sdpa-masked") == pytest.approx(156 / 3 / 19.5)
    assert fp32_attention_rate(catalog.gpu("H100-SXM"), "fp32", "sdpa") == pytest.approx(494.7 / 3 / 66.9)
    assert fp32_attention_rate(catalog.gpu("A100-80GB"), "bf16", "sdpa-masked") == 1.0
    assert fp32_attention_rate(catalog.gpu("A100-80GB"), "fp32", "eager") == 1.0
    assert fp32_attention_rate(catalog.gpu("T4"), "fp32", "sdpa") == 1.0  # no TF32: SIMT


def test_a_masked_or_eager_kernel_computes_the_whole_score_matrix(tiny):
    assert attention_kernel_slowdown("sdpa", tiny, 1024) == 1.0
    assert attention_kernel_slowdown("flash", tiny, 1024) == 1.0
    # twice the causal half's FLOPs at 0.584 (masked) / 0.523 (eager) of flash's speed
    assert attention_kernel_slowdown("sdpa-masked", tiny, 1024) == pytest.approx(2 / 0.584)
    assert attention_kernel_slowdown("eager", tiny, 1024) == pytest.approx(2 / 0.523)
    # a 256-token sliding window: flash computes 256 keys per query, the masked kernel all 1,024
    windowed = replace(tiny, sliding_window=256)
    assert attention_kernel_slowdown("sdpa", windowed, 1024) == 1.0
    assert attention_kernel_slowdown("sdpa-masked", windowed, 1024) == pytest.approx(2 * 1024 / 256 / 0.584)


def test_the_slowdown_multiplies_attention_time_only():
    gpu = load_catalog().gpu("A100-80GB")
    peak, ceiling = 312e12, 0.5
    base = StepWork(flops_per_token=60e9, linear_flops_per_token=45e9, tokens_per_micro_batch=1000.0,
                    elementwise_bytes_per_token=0.0, grad_accum=1, optimizer_state_bytes=0.0, offload_bytes=0.0,
                    tp_bytes=0.0)
    masked = replace(base, attention_slowdown=2 / 0.584)
    coef = Coefficients(attention_efficiency=0.8)
    # 45e12 FLOPs of weight matmuls at 156 TFLOP/s; 15e12 of attention at 156 x 0.8, 2 / 0.584 times as long
    expected = 1000 * 45e9 / 156e12 + 1000 * 15e9 * (2 / 0.584) / (156e12 * 0.8)
    assert compute_seconds(masked, gpu, peak, ceiling, False, coef) == pytest.approx(expected, rel=1e-12)
    assert compute_seconds(base, gpu, peak, ceiling, False, coef) == pytest.approx(
        1000 * 45e9 / 156e12 + 1000 * 15e9 / (156e12 * 0.8), rel=1e-12)


@pytest.mark.parametrize("kwargs, expected", [
    (dict(framework="hf-trainer", packing=False, micro_batch=4), "sdpa-masked"),  # padded to the longest
    (dict(framework="trl", packing=False, micro_batch=2), "sdpa-masked"),
    (dict(framework="hf-trainer", packing=False, micro_batch=1), "sdpa"),  # one sequence: nothing to pad
    (dict(framework="hf-trainer", packing=True, micro_batch=4), "sdpa"),  # fixed-length packed rows
    # frugaltune's runner keeps packed documents apart: under SDPA a block-diagonal mask, even for one row
    (dict(packing=True, micro_batch=4), "sdpa-masked"),
    (dict(framework="frugaltune", packing=True, micro_batch=2), "sdpa-masked"),
    (dict(packing=True, micro_batch=1), "sdpa-masked"),
    (dict(framework="frugaltune", packing=True, micro_batch=1), "sdpa-masked"),
    (dict(framework="frugaltune", packing=False, micro_batch=1), "sdpa"),  # one unpacked sequence: no mask
    (dict(framework="frugaltune", packing=True, micro_batch=4, attention="flash"), "flash"),  # varlen, no mask
    (dict(framework="torchtune", packing=False, micro_batch=4), "sdpa"),  # its own causal SDPA, no padding mask
    (dict(framework="litgpt", packing=False, micro_batch=4), "sdpa"),
    (dict(framework="hf-trainer", packing=False, micro_batch=4, attention="sdpa"), "sdpa"),  # as the user said
    (dict(framework="hf-trainer", packing=False, micro_batch=4, attention="flash"), "flash"),
    (dict(framework="unsloth", packing=False, micro_batch=4), "flash"),
])
def test_an_unset_sdpa_resolves_by_the_batching(kwargs, expected):
    job = build_job("llama-2-7b", method="lora", seq_len=512, **kwargs)
    assert resolve_stack(job).attention == expected


def test_estimate_json_echoes_the_resolved_attention(cli):
    out = cli("estimate", "--model", "llama-2-7b", "--method", "lora", "--gpu", "A100-80GB", "--framework",
                  "hf-trainer", "--no-packing", "--micro-batch", "4", "--seq-len", "2048", "--json")
    masked = __import__("json").loads(out.stdout)
    assert masked["job"]["stack"]["attention"] == "sdpa-masked"
    out = cli("estimate", "--model", "llama-2-7b", "--method", "lora", "--gpu", "A100-80GB", "--framework",
                  "hf-trainer", "--no-packing", "--micro-batch", "4", "--seq-len", "2048", "--attention", "sdpa",
                  "--json")
    causal = __import__("json").loads(out.stdout)
    assert causal["job"]["stack"]["attention"] == "sdpa"
    # the same FLOPs, more time: the masked kernel's extra work is in its speed, not in the model's FLOPs
    assert masked["throughput"]["flops_per_token"] == causal["throughput"]["flops_per_token"]
    assert masked["throughput"]["tokens_per_sec_per_gpu"] < causal["throughput"]["tokens_per_sec_per_gpu"]


def test_the_runner_runs_flash_attention_itself():
    from frugaltune.estimate.stack import stack_warnings
    from frugaltune.report.compare import job_kwargs
    from frugaltune.train.config import RunConfig

    job = build_job("llama-2-7b", method="lora", seq_len=512, framework="frugaltune", packing=True, micro_batch=4,
                    attention="flash")
    gpu = load_catalog().gpu("A100-80GB")
    assert not any("planning input" in w for w in stack_warnings(resolve_stack(job), job, gpu))
    # a run's own estimate takes model.attention: flash for flash_attention_2/3, the batching's resolution for auto
    cfg = RunConfig.from_dict({"model": {"attention": "flash_attention_2"}, "data": {"packing": True}})
    kwargs = job_kwargs(cfg, model_ref="llama-2-7b", n_examples=100, tokens_per_sample=100.0,
                        padded_tokens_per_sample=100.0)
    assert kwargs["attention"] == "flash" and kwargs["framework"] == "frugaltune"
    assert "attention" not in job_kwargs(RunConfig.from_dict({}), model_ref="llama-2-7b", n_examples=100,
                                         tokens_per_sample=100.0, padded_tokens_per_sample=100.0)
