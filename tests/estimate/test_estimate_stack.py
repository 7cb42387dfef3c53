"""The training stack as an input (estimate/stack.py): framework defaults, single flags overriding them, the
resolved stack in the JSON, and each input's physics against hand arithmetic."""

from __future__ import annotations

import json

import pytest

from frugaltune.errors import ConfigError
from frugaltune.estimate.build import build_job, estimate
from frugaltune.estimate.calibration import Coefficients
from frugaltune.estimate.stack import FRAMEWORK_DEFAULTS, FRAMEWORKS, resolve_stack
from frugaltune.estimate.throughput import StepWork, throughput


def test_every_framework_documents_where_its_defaults_come_from():
    assert set(FRAMEWORK_DEFAULTS) == set(FRAMEWORKS)
    for name, d in FRAMEWORK_DEFAULTS.items():
        assert d.source and ("@" in d.source or "defaults" in d.source), name


@pytest.mark.parametrize("framework, precision, grad_ckpt, loss, kernels, offload", [
    ("torchtune", "bf16-true", True, "chunked", "hf", False),
    ("litgpt", "bf16-true", False, "chunked", "hf", False),
    ("trl", "bf16", True, "chunked", "hf", False),
    ("unsloth", "bf16", True, "fused", "unsloth", True),
    ("hf-trainer", "bf16", False, "hf", "hf", False),
    ("llama-factory", "bf16", True, "hf", "hf", False),
])
def test_framework_defaults_then_single_flags_override(catalog, framework, precision, grad_ckpt, loss, kernels,
                                                        offload):
    job = build_job("llama-2-7b", catalog, framework=framework)
    stack = resolve_stack(job)
    assert (job.precision, job.grad_ckpt, stack.loss, stack.kernels, stack.activation_offload) == (
        precision, grad_ckpt, loss, kernels, offload)
    overridden = build_job("llama-2-7b", catalog, framework=framework, precision="fp16", loss="hf", grad_ckpt=False)
    assert (overridden.precision, overridden.grad_ckpt, resolve_stack(overridden).loss) == ("fp16", False, "hf")


def test_torchtune_full_single_device_fuses_the_optimizer_step(catalog):
    job = build_job("llama-3.1-8b", catalog, framework="torchtune", method="full")
    assert job.optimizer == "paged_adamw8bit" and resolve_stack(job).optimizer_in_backward
    multi = build_job("llama-3.1-8b", catalog, framework="torchtune", method="full", num_gpus=4)
    assert multi.optimizer == "adamw" and not resolve_stack(multi).optimizer_in_backward


def test_estimate_json_echoes_the_resolved_stack(cli):
    proc = cli("estimate", "--model", "llama-3.1-8b", "--gpu", "h100", "--framework", "torchtune", "--compile",
               "--kernels", "liger", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # --kernels liger brings Liger's fused linear cross-entropy over torchtune's default chunked loss
    assert out["job"]["stack"] == {"framework": "torchtune", "loss": "fused", "kernels": "liger",
                                   "attention": "sdpa", "activation_offload": False, "optimizer_in_backward": False,
                                   "compile": True, "fp8": False, "tensor_parallel": 1,
                                   "pipeline_parallel": 1, "virtual_pipeline": 1, "context_parallel": 1}
    assert out["job"]["precision"] == "bf16-true"  # torchtune's dtype: bf16
    m = out["memory"]
    assert m["units"] == "GB = 1e9 bytes"
    assert m["peak_allocated_gb"] < m["peak_reserved_gb"] < m["peak_gb_per_gpu"]
    assert m["peak_gb_per_gpu"] == pytest.approx(m["peak_reserved_gb"] + m["cuda_context_gb"])
    for key, section in (("peak_gb_range", "memory"), ("tokens_per_sec_range", "throughput"),
                         ("total_cost_range", "cost_breakdown")):
        low, high = out[section][key]
        assert 0 < low < high
    assert out["time"]["setup_hours"] > 0 and out["time"]["billed_hours"] >= out["time"]["hours"]


def test_chunked_and_fused_losses_shrink_the_128k_vocabulary_peak(catalog):
    peaks = {loss: estimate(model="llama-3.1-8b", gpu="h100", micro_batch=2, seq_len=2048, loss=loss)
             for loss in ("hf", "chunked", "fused")}
    logits = {k: v.memory.logits_gb for k, v in peaks.items()}
    assert logits["hf"] > logits["chunked"] > logits["fused"]
    assert peaks["hf"].memory.peak_gb_per_gpu - peaks["fused"].memory.peak_gb_per_gpu > 1.0


def test_activation_offload_and_liger_kernels_lower_the_peak(catalog):
    base = estimate(model="llama-2-7b", gpu="a100-80gb", micro_batch=8, seq_len=2048, grad_ckpt=False)
    offload = estimate(model="llama-2-7b", gpu="a100-80gb", micro_batch=8, seq_len=2048, grad_ckpt=False,
                       activation_offload=True)
    liger = estimate(model="llama-2-7b", gpu="a100-80gb", micro_batch=8, seq_len=2048, grad_ckpt=False,
                     kernels="liger")
    assert offload.memory.activations_gb < base.memory.activations_gb / 5
    assert liger.memory.activations_gb < base.memory.activations_gb
    assert liger.job.stack["loss"] == "fused"  # Liger brings its fused linear cross-entropy


def test_eager_attention_costs_the_s_squared_softmax(catalog):
    sdpa = estimate(model="llama-2-7b", gpu="a100-80gb", seq_len=4096, grad_ckpt=False)
    eager = estimate(model="llama-2-7b", gpu="a100-80gb", seq_len=4096, grad_ckpt=False, attention="eager")
    from frugaltune.estimate.calibration import load_coefficients

    # 32 layers x 32 heads x 4096 x 4096 x (4 + 2) bytes, times the fitted activation scale
    extra = 32 * 32 * 4096 * 4096 * 6 / 1e9 * load_coefficients().activation_scale
    assert eager.memory.activations_gb - sdpa.memory.activations_gb == pytest.approx(extra, rel=1e-6)


def test_fp8_runs_the_weight_matmuls_at_the_fp8_peak(catalog, tiny):
    from frugaltune.estimate.stack import Stack

    h100 = catalog.gpu("h100")
    coef = Coefficients(step_overhead_s={"full": 0.0, "lora": 0.0, "qlora": 0.0}, fp8_efficiency=0.5,
                        class_factor={"hopper": 1.0})
    work = StepWork(flops_per_token=1e9, linear_flops_per_token=0.8e9, tokens_per_micro_batch=4096,
                    elementwise_bytes_per_token=0.0, grad_accum=1, optimizer_state_bytes=0.0, offload_bytes=0.0,
                    tp_bytes=0.0)
    plain = Stack(None, "hf", "hf", "sdpa", False, False, False, False, 1)
    fp8 = Stack(None, "hf", "hf", "sdpa", False, False, False, True, 1)
    a = throughput(arch=tiny, gpu=h100, method="full", precision="bf16", grad_ckpt=False, work=work, num_gpus=1,
                   coef=coef, stack=plain)
    b = throughput(arch=tiny, gpu=h100, method="full", precision="bf16", grad_ckpt=False, work=work, num_gpus=1,
                   coef=coef, stack=fp8)
    ceiling = coef.method_mfu["full"]
    t_bf16 = 4096 * 1e9 / (h100.bf16_tflops * 1e12 * ceiling)
    t_fp8 = 4096 * (0.8e9 / (h100.fp8_tflops * 1e12 * ceiling * 0.5) + 0.2e9 / (h100.bf16_tflops * 1e12 * ceiling))
    assert a.tokens_per_sec_per_gpu == pytest.approx(4096 / t_bf16)
    assert b.tokens_per_sec_per_gpu == pytest.approx(4096 / t_fp8)


def test_tensor_parallel_splits_memory_and_pays_link_traffic(catalog):
    one = estimate(model="llama-3.1-70b", gpu="h100", num_gpus=8, method="full", zero_stage=3, micro_batch=1,
                   seq_len=4096)
    tp = estimate(model="llama-3.1-70b", gpu="h100", num_gpus=8, method="full", zero_stage=3, micro_batch=1,
                  seq_len=4096, tensor_parallel=8)
    assert tp.memory.activations_gb == pytest.approx(one.memory.activations_gb / 8, rel=1e-6)
    assert tp.job.stack["tensor_parallel"] == 8 and any("tensor-parallel 8" in w for w in tp.warnings)


@pytest.mark.parametrize("kwargs, field", [
    ({"loss": "sparse"}, "loss"), ({"kernels": "triton"}, "kernels"), ({"attention": "ring"}, "attention"),
    ({"tensor_parallel": 3, "num_gpus": 4}, "tensor_parallel"), ({"framework": "keras"}, "framework"),
])
def test_bad_stack_values_name_their_flag(catalog, kwargs, field):
    with pytest.raises(ConfigError, match=field):
        estimate(model="llama-2-7b", gpu="a100-80gb", **kwargs)


def test_inputs_the_runner_does_not_apply_say_so_and_fp8_needs_the_hardware(catalog):
    est = estimate(model="llama-2-7b", gpu="a100-80gb", fp8=True, kernels="unsloth")
    text = " ".join(est.warnings)
    assert "no FP8 tensor cores" in text and "kernels unsloth" in text and "frugaltune train does not apply" in text
    plain = estimate(model="llama-2-7b", gpu="a100-80gb", loss="chunked", compile=True, activation_offload=True)
    assert not any("planning input" in w for w in plain.warnings)  # the runner implements these


@pytest.mark.parametrize("framework, loss_kernel", [
    ("unsloth", "unsloth"), ("llama-factory", "unsloth"), (None, "unsloth"),  # Unsloth's own model forward
    ("hf-trainer", "hf"), ("trl", "hf"), ("axolotl", "hf"), ("frugaltune", "hf"),  # transformers' forward
])
def test_unsloth_in_place_cross_entropy_needs_unsloths_forward(catalog, framework, loss_kernel):
    # Unsloth's kernels patched into transformers' own forward (fms-acceleration's fused-ops-and-kernels plugin,
    # hf-trainer) meet logits the forward already upcast to fp32: the logits are an hf loss's, not 16-bit in place
    job = build_job("llama-2-7b", catalog, framework=framework, kernels="unsloth", loss="hf")
    assert resolve_stack(job).loss_kernel == loss_kernel
