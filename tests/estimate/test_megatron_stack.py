"""The Megatron-Core stack (`--framework megatron`: Megatron-LM, Megatron-Bridge, NeMo 2): its documented defaults,
Transformer Engine kernels as a fused kernel class that keeps the full logits, and a training loop that exposes no
per-micro-batch host time (estimate/stack.py HOST_OVERLAPPED_FRAMEWORKS, throughput.host_seconds), each against
arithmetic done by hand."""

from __future__ import annotations

import json

import pytest

from frugaltune.cli.app import run
from frugaltune.estimate.build import build_job, estimate
from frugaltune.estimate.calibration import Coefficients, load_coefficients
from frugaltune.estimate.stack import Stack, resolve_stack
from frugaltune.estimate.throughput import StepWork, host_seconds, throughput


def test_megatron_defaults_and_single_flags_override(catalog):
    job = build_job("llama-3.1-8b", catalog, framework="megatron", method="full", num_gpus=8)
    stack = resolve_stack(job)
    # bf16 with fp32 main params, no recompute, the distributed optimizer (ZeRO-1) over 8 GPUs, LoRA dropout 0
    assert (job.precision, job.grad_ckpt, job.zero_stage, job.lora_dropout) == ("bf16", False, 1, 0.0)
    assert (stack.loss, stack.kernels, stack.attention, stack.compile, stack.activation_offload) == (
        "hf", "te", "flash", False, False)
    assert stack.fused_elementwise and stack.host_overlapped
    # one GPU: nothing to shard the optimizer over
    assert build_job("llama-3.1-8b", catalog, framework="megatron", method="full").zero_stage == 0
    flags = build_job("llama-3.1-8b", catalog, framework="megatron", method="full", num_gpus=8, zero_stage=0,
                      grad_ckpt=True, kernels="hf")
    assert (flags.zero_stage, flags.grad_ckpt, resolve_stack(flags).fused_elementwise) == (0, True, False)
    # the loop belongs to the framework, not to a flag: other frameworks keep their per-micro-batch host time
    for framework in (None, "hf-trainer", "torchtune", "unsloth"):
        assert not resolve_stack(build_job("llama-3.1-8b", catalog, framework=framework)).host_overlapped


def _stack(framework):
    return Stack(framework=framework, loss="hf", kernels="te", attention="flash", activation_offload=False,
                 optimizer_in_backward=False, compile=False, fp8=False, tensor_parallel=1)


def test_megatron_loop_has_no_per_micro_batch_host_time_by_hand(catalog):
    h100 = catalog.gpu("h100")  # 989.4 dense bf16 TFLOP/s
    coef = Coefficients(method_mfu={"full": 0.5, "lora": 0.5, "qlora": 0.5},
                        class_factor={"ampere-datacenter": 1.0, "hopper": 1.0},
                        step_overhead_s={"full": 0.2, "lora": 0.2, "qlora": 0.2}, launch_s_per_layer_pass=1e-4,
                        fused_launch_factor=0.5, elementwise_passes={"hf": 0.0, "fused": 0.0})
    # 4,096 tokens of 6 GFLOP each, all in weight matmuls; 32 layers x 2 passes; no traffic of any other kind
    work = StepWork(flops_per_token=6e9, linear_flops_per_token=6e9, tokens_per_micro_batch=4096,
                    elementwise_bytes_per_token=0.0, grad_accum=1, optimizer_state_bytes=0.0, offload_bytes=0.0,
                    tp_bytes=0.0, layer_passes=64)
    compute_s = 4096 * 6e9 / (989.4e12 * 0.5)  # 0.049679 s at the ceiling
    launch_s = 64 * 1e-4 * 0.5  # 0.0032 s: fused (TE) kernels launch half as often
    kwargs = dict(arch=catalog.model("llama-3.1-8b"), gpu=h100, method="full", precision="bf16", grad_ckpt=False,
                  work=work, num_gpus=1, coef=coef)
    megatron = throughput(**kwargs, stack=_stack("megatron"))
    eager = throughput(**kwargs, stack=_stack(None))
    assert megatron.tokens_per_sec_per_gpu == pytest.approx(4096 / (compute_s + launch_s), rel=1e-12)  # 77,461
    assert eager.tokens_per_sec_per_gpu == pytest.approx(4096 / (compute_s + launch_s + 0.2), rel=1e-12)  # 16,197
    assert host_seconds("full", _stack("megatron"), coef) == 0.0
    assert host_seconds("lora", _stack(None), coef) == 0.2 and host_seconds("lora", None, coef) == 0.2


def test_megatron_estimate_differs_from_the_same_stack_by_exactly_the_host_time():
    # the same LoRA job (its fp32 adapter gradients whatever the framework), kernels and data parallelism with and
    # without Megatron-Core's loop: the step times differ by the shipped step_overhead_s of LoRA, nothing else
    # (documents fill the 4,096-token rows: the runner's padding-free packing would otherwise attend shorter documents
    # one by one, which Megatron's pre-training packing does not, test_packed_attention.py)
    c = load_coefficients()
    common = dict(model="llama-3-8b", gpu="h100", num_gpus=8, method="lora", micro_batch=1, seq_len=4096,
                  packing=True, precision="bf16", grad_ckpt=False, zero_stage=0, grad_accum=4, lora_dropout=0.0,
                  tokens_per_sample=4096)
    mega = estimate(**common, framework="megatron").throughput
    plain = estimate(**common, kernels="te", attention="flash", loss="hf").throughput
    step = {name: 4096 * t.scaling_efficiency / t.tokens_per_sec_per_gpu for name, t in
            (("megatron", mega), ("plain", plain))}
    assert step["plain"] - step["megatron"] == pytest.approx(c.step_overhead_s["lora"], rel=1e-9)


def test_transformer_engine_kernels_are_fused_but_keep_the_full_logits():
    common = dict(model="llama-2-7b", gpu="a100-80gb", method="full", micro_batch=1, seq_len=2048, packing=True,
                  grad_ckpt=False)
    te, liger, hf = (estimate(**common, kernels=k).memory for k in ("te", "liger", "hf"))
    # fused norms and SwiGLU save what Liger's do (test_stack_hand_computed: 2 x 2 B per norm element, 3 x I)
    assert te.activations_gb == pytest.approx(liger.activations_gb, rel=1e-12)
    assert te.activations_gb < hf.activations_gb
    # TE has no fused linear cross-entropy: the logits are the hf loss's (Liger brings its fused loss)
    assert te.logits_gb == pytest.approx(hf.logits_gb, rel=1e-12)
    assert te.logits_gb > liger.logits_gb


def test_estimate_json_names_megatron_as_a_planning_input(cli):
    proc = cli("estimate", "--model", "llama-3-8b", "--gpu", "h100", "--num-gpus", "8", "--method", "full",
               "--framework", "megatron", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["job"]["stack"] == {"framework": "megatron", "loss": "hf", "kernels": "te", "attention": "flash",
                                   "activation_offload": False, "optimizer_in_backward": False, "compile": False,
                                   "fp8": False, "tensor_parallel": 1, "pipeline_parallel": 1,
                                   "virtual_pipeline": 1, "context_parallel": 1}
    assert (out["job"]["zero_stage"], out["job"]["precision"], out["job"]["grad_ckpt"]) == (1, "bf16", False)
    # flash attention is no planning input: frugaltune train runs it (model.attention flash_attention_2/3)
    assert any(w.startswith("planning input(s) framework megatron, kernels te:")
               for w in out["warnings"]), out["warnings"]


@pytest.mark.parametrize("command", [
    ("compare", "--gpu", "h100", "--platform", "lambda", "--max-gpus", "8"),
    ("recommend", "--gpu", "h100"),
    ("plan", "--gpu", "h100"),
])
def test_planner_commands_take_the_megatron_framework(capsys, monkeypatch, command):
    monkeypatch.setenv("COLUMNS", "200")
    code = run([*command, "--model", "llama-3-8b", "--framework", "megatron", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    data = json.loads(out)
    jobs = [c["job"] for c in data["candidates"]] if "candidates" in data else [data["estimate"]["job"]]
    assert jobs and all(j["stack"]["framework"] == "megatron" and j["stack"]["kernels"] == "te" for j in jobs)


def test_megatron_keeps_one_fp32_gradient_buffer_and_steps_with_fused_adam():
    # Llama 3 8B: 8,030,261,248 parameters, all trained. Megatron-Core accumulates the weight gradients into one fp32
    # buffer (4 B each, not sharded by the distributed optimizer); DeepSpeed ZeRO-1 keeps the bf16 gradients and an
    # fp32 partition beside them (2 + 4 B).
    n = 8_030_261_248
    common = dict(model="llama-3-8b", gpu="h100", method="full", micro_batch=1, seq_len=4096, precision="bf16")
    mega = estimate(**common, num_gpus=8, zero_stage=1, framework="megatron").memory
    deepspeed = estimate(**common, num_gpus=8, zero_stage=1, framework="hf-trainer").memory
    assert mega.gradients_gb == pytest.approx(n * 4 / 1e9, rel=1e-12)
    assert deepspeed.gradients_gb == pytest.approx(n * 6 / 1e9, rel=1e-12)
    # one GPU, no ZeRO: TE's FusedAdam makes no copy of the second moments; torch's multi-tensor AdamW copies them
    # (mixed precision: fp32 moments, 4 B per parameter)
    single_mega = estimate(**common, framework="megatron").memory
    single_hf = estimate(**common, framework="hf-trainer").memory
    assert single_mega.optimizer_step_gb == 0.0
    assert single_hf.optimizer_step_gb == pytest.approx(n * 4 / 1e9, rel=1e-12)


def test_megatron_hides_tensor_parallel_traffic_behind_the_gemms(catalog):
    """Megatron-Bridge's recipes overlap TP collectives with the GEMMs (stack.TP_OVERLAP_FRAMEWORKS): the link time
    shows only where it outlasts the compute; an eager stack pays all of it."""
    h100 = catalog.gpu("h100")  # 989.4 dense bf16 TFLOP/s; NVLink 450 GB/s per direction
    coef = Coefficients(method_mfu={"full": 0.5, "lora": 0.5, "qlora": 0.5},
                        class_factor={"ampere-datacenter": 1.0, "hopper": 1.0},
                        step_overhead_s={"full": 0.0, "lora": 0.0, "qlora": 0.0}, launch_s_per_layer_pass=0.0,
                        elementwise_passes={"hf": 0.0, "fused": 0.0}, link_efficiency=0.5)
    kwargs = dict(arch=catalog.model("llama-3.1-8b"), gpu=h100, method="full", precision="bf16", grad_ckpt=False,
                  num_gpus=2, coef=coef)
    compute_s = 4096 * 6e9 / (989.4e12 * 0.5) / 2  # 0.024840 s per GPU of the TP-2 group
    for tp_bytes in (4.5e9, 45e9):  # 0.02 s and 0.2 s at 225 GB/s
        work = StepWork(flops_per_token=6e9, linear_flops_per_token=6e9, tokens_per_micro_batch=4096,
                        elementwise_bytes_per_token=0.0, grad_accum=1, optimizer_state_bytes=0.0,
                        offload_bytes=0.0, tp_bytes=tp_bytes)
        link_s = tp_bytes / 225e9
        stacks = {name: Stack(framework=name, loss="hf", kernels="te", attention="flash", activation_offload=False,
                              optimizer_in_backward=False, compile=False, fp8=False, tensor_parallel=2)
                  for name in ("megatron", "torchtune")}
        megatron = throughput(work=work, stack=stacks["megatron"], **kwargs).tokens_per_sec_per_gpu
        eager = throughput(work=work, stack=stacks["torchtune"], **kwargs).tokens_per_sec_per_gpu
        assert megatron == pytest.approx(4096 / 2 / (compute_s + max(0.0, link_s - compute_s)), rel=1e-9)
        assert eager == pytest.approx(4096 / 2 / (compute_s + link_s), rel=1e-9)
