"""DoRA (peft use_dora) in the estimator, by hand on the tiny Llama shape (conftest.tiny: hidden 64, q/o 64x64,
k/v 64x32, 2 layers) and against peft itself on the same shape: the magnitude parameters it trains, the token-wide
tensors its forward keeps for backward, the weight-norm buffer and per-forward cost, the extra matmul under dropout,
the JSON echo and the refusal of DoRA with full fine-tuning."""

from __future__ import annotations

import json

import pytest

from frugaltune.estimate import dora, peak
from frugaltune.estimate import memory as mem
from frugaltune.estimate.flops import flops_per_token
from frugaltune.estimate.records import Job

QV = ("q_proj", "v_proj")


def test_magnitude_is_one_entry_per_output_feature(tiny):
    assert dora.magnitude_params(tiny, QV) == 2 * (64 + 32)
    lora = mem.trainable_params(tiny, "lora", 8, QV)
    assert mem.trainable_params(tiny, "lora", 8, QV, use_dora=True) == lora + 192
    assert mem.trainable_params(tiny, "full", 8, QV, use_dora=True) == mem.trainable_params(tiny, "full", 8, QV)


def test_saved_width_and_elementwise_bytes(tiny):
    assert dora.saved_width(tiny, QV) == 2 * (64 + 32)  # base_result + lora_result per module
    assert dora.elementwise_bytes_per_token(tiny, QV, 2) == 2 * 5 * (64 + 32) * 2
    assert dora.saved_bytes_per_token(tiny, QV, "bf16") == (64 + 32) * (2 + 2)  # autocast: both 16-bit
    assert dora.saved_bytes_per_token(tiny, QV, "bf16-true") == (64 + 32) * (2 + 4)  # lora_result in fp32 adapters
    assert dora.saved_bytes_per_token(tiny, QV, "fp32") == (64 + 32) * (4 + 4)


def test_workspace_is_the_largest_module_weight_norm_buffer(tiny):
    # q_proj 64 -> 64: fp32 identity 4*64^2 + 64*64*max(4+2, 3*2) (16-bit base), max(6, 4*2) (4-bit base)
    assert dora.workspace_bytes(tiny, QV, "lora", 2) == 4 * 64 * 64 + 4096 * 6 == 40_960
    assert dora.workspace_bytes(tiny, QV, "qlora", 2) == 4 * 64 * 64 + 4096 * 8 == 49_152


def test_weight_norm_cost_by_hand(tiny):
    flops, bytes_ = dora.weight_norm_cost(tiny, QV, "lora", 8, 2)
    assert flops == 2 * (2 * 8 * 64 * (64 + 64) + 2 * 8 * 64 * (64 + 32)) == 458_752
    # identity written + read (2*4*d_in^2) + 22 bytes per weight element (2*4 + 7*2)
    assert bytes_ == 2 * ((8 * 4096 + 22 * 4096) + (8 * 4096 + 22 * 2048)) == 401_408
    _f, qbytes = dora.weight_norm_cost(tiny, QV, "qlora", 8, 2)
    assert qbytes - bytes_ == 2 * 2.5 * (4096 + 2048)  # NF4 read + 16-bit write of each adapted weight


def test_dropout_decides_the_second_base_matmul(tiny):
    assert dora.base_rematmul_params(tiny, QV, 0.0) == 0
    assert dora.base_rematmul_params(tiny, QV, 0.05) == 2 * (4096 + 2048)
    plain = flops_per_token(tiny, "lora", 32, True)
    again = flops_per_token(tiny, "lora", 32, True, rematmul_params=12_288)
    assert again.per_token - plain.per_token == 6 * 12_288  # forward, input gradient, recompute
    assert dora.saved_weight_bytes(tiny, QV, "qlora", 0.05, 2) == 2 * 6144
    assert dora.saved_weight_bytes(tiny, QV, "lora", 0.05, 2) == 0  # the 16-bit parameter itself
    assert dora.saved_weight_bytes(tiny, QV, "qlora", 0.0, 2) == 0  # base_result reused


def test_memory_components_by_hand(tiny, bare_coef):
    lora = Job(model=tiny, lora_r=8, lora_targets=QV, lora_dropout=0.0, seq_len=32)
    d = lora.with_(use_dora=True)
    a, b = peak.memory_breakdown(lora, "bf16", bare_coef), peak.memory_breakdown(d, "bf16", bare_coef)
    assert b.weights - a.weights == 192 * 4 and b.gradients - a.gradients == 192 * 4
    assert b.optimizer - a.optimizer == 192 * 8
    assert b.quant_workspace - a.quant_workspace == b.dora_workspace == 40_960
    per_token = bare_coef.activation_scale * 192 * 2
    assert peak.layer_bytes_per_token(d, "bf16", bare_coef, peak.resolve_stack(d), 32) == pytest.approx(
        peak.layer_bytes_per_token(lora, "bf16", bare_coef, peak.resolve_stack(lora), 32) + per_token)
    q = d.with_(method="qlora", lora_dropout=0.1, grad_ckpt=False)
    kept = peak.dora_memory_bytes(q, "bf16", bare_coef)[1]
    assert kept == tiny.num_layers * 2 * 6144  # every layer keeps its dequantised q/v weights


def test_dora_is_slower_and_dropout_costs_more(tiny, catalog):
    from frugaltune.estimate.estimator import estimate
    from frugaltune.estimate.records import Hardware

    hw = Hardware(gpu=catalog.gpu("a100-80gb"))
    arch = catalog.model("llama-2-7b")
    base = Job(model=arch, lora_dropout=0.0, seq_len=2048, micro_batch=4)
    speed = {k: estimate(j, hw).throughput.tokens_per_sec for k, j in {
        "lora": base, "dora0": base.with_(use_dora=True), "dora05": base.with_(use_dora=True, lora_dropout=0.05)}.items()}
    assert speed["lora"] > speed["dora0"] > speed["dora05"]


def test_peft_magnitude_count_and_saved_tensors(tiny):
    # a bf16 model without autocast (bf16-true) with peft's fp32 adapters: what each forward saves for backward
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    config = transformers.LlamaConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4,
                                      num_key_value_heads=2, intermediate_size=128, vocab_size=64)
    counts, saved = {}, {}
    for use_dora in (False, True):
        torch.manual_seed(0)
        base = transformers.LlamaForCausalLM(config).to(torch.bfloat16)
        model = peft.get_peft_model(base, peft.LoraConfig(r=8, lora_alpha=16, target_modules=list(QV),
                                                          lora_dropout=0.0, use_dora=use_dora))
        counts[use_dora] = model.get_nb_trainable_parameters()[0]
        module = model.base_model.model.model.layers[0].self_attn.q_proj
        x = torch.randn(3, 7, 64, dtype=torch.bfloat16, requires_grad=True)
        tensors = {}

        def pack(t, tensors=tensors):
            if t.dim() == 3 and t.shape[:2] == (3, 7):  # token-wide: an activation
                tensors[t.data_ptr()] = t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            module(x).float().sum().backward()
        saved[use_dora] = sum(tensors.values())
    assert counts[True] - counts[False] == dora.magnitude_params(tiny, QV)
    assert saved[True] - saved[False] == 3 * 7 * dora.saved_bytes_per_token(tiny, ("q_proj",), "bf16-true")


def test_json_echoes_dora_and_full_is_refused(cli):
    out = cli("estimate", "--model", "llama-2-7b", "--gpu", "a100-80gb", "--dora", "--json")
    job = json.loads(out.stdout)["job"]
    assert job["use_dora"] is True
    assert json.loads(cli("estimate", "--json").stdout)["job"]["use_dora"] is False
    bad = cli("estimate", "--method", "full", "--dora")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--dora" in bad.stderr and "--method lora" in bad.stderr


def test_dropout_warning_names_the_cost_and_the_fix(catalog):
    from frugaltune.estimate.estimator import estimate
    from frugaltune.estimate.records import Hardware

    hw = Hardware(gpu=catalog.gpu("a100-80gb"))
    job = Job(model=catalog.model("llama-2-7b"), method="qlora", use_dora=True, lora_dropout=0.1, grad_ckpt=False,
              lora_targets=("all-linear",))
    warning = next(w for w in estimate(job, hw).warnings if w.startswith("DoRA"))
    # all-linear without recomputation: the second matmul (2 forward + 2 backward per weight) ~ the base's 4 per weight
    assert "+9" in warning and "keeps dequantised weights" in warning and "--lora-dropout 0" in warning
    gb = job.model.num_layers * sum(i * o for i, o in peak.projection_shapes(job.model).values()) * 2 / 1e9
    assert f"+{gb:.1f} GB" in warning
    assert not [w for w in estimate(job.with_(lora_dropout=0.0), hw).warnings if w.startswith("DoRA")]
    assert not [w for w in estimate(job.with_(use_dora=False), hw).warnings if w.startswith("DoRA")]
