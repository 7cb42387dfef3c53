"""Pipeline and context parallelism (estimate/pipeline.py) against arithmetic done by hand: the 1F1B bubble, a stage's
weights and optimizer states, the activations the first stage keeps in flight, the last stage's logits, the pace of
the slowest stage, context parallelism's sequence split; bad inputs name their flag; `estimate --json` echoes them."""

from __future__ import annotations

import json

import pytest

from frugaltune.errors import ConfigError
from frugaltune.estimate import pipeline
from frugaltune.estimate.build import estimate
from frugaltune.estimate.calibration import Coefficients
from frugaltune.estimate.peak import memory_breakdown
from frugaltune.estimate.records import Job
from frugaltune.estimate.throughput import StepWork, throughput

# tiny (tests/estimate/conftest.py): 2 layers, hidden 64, vocabulary 64, untied: 82,240 params, of which the
# embedding and the LM head are 64 x 64 each (8,192) and the layers (with the final norm) 74,048
N, OUTSIDE = 82_240, 2 * 64 * 64
STAGE = (N - OUTSIDE) / 2 + 64 * 64  # pp 2: one layer's share + one V x h matrix = 41,120 params
LAYER_ACTIVATIONS = 2_432 * 2 * 128  # one layer's saved activations, 2_432 B per token (test_estimate_memory.py)


def _job(tiny, **kw) -> Job:
    base = {"model": tiny, "seq_len": 128, "micro_batch": 2, "grad_ckpt": False, "lora_r": 8, "method": "full",
            "num_gpus": 2, "pipeline_parallel": 2}
    return Job(**{**base, **kw})


@pytest.mark.parametrize("pp, vp, m, fraction", [
    (1, 1, 8, 0.0),
    (4, 1, 8, 3 / 11),  # (p - 1) / (m + p - 1)
    (4, 1, 1, 3 / 4),  # one micro-batch: 3 of 4 stage-times idle
    (8, 1, 128, 7 / 135),
    (4, 2, 8, 1.5 / 9.5),  # interleaved: (p - 1) / v idle stage-times
    (8, 5, 128, 1.4 / 129.4),
])
def test_bubble_fraction_of_the_1f1b_schedule(pp, vp, m, fraction):
    assert pipeline.bubble_fraction(pp, vp, m) == pytest.approx(fraction, rel=1e-12)


@pytest.mark.parametrize("layers, pp, vp, m, in_flight", [
    (32, 1, 1, 8, 32),
    (32, 4, 1, 8, 32),  # 8 layers x 4 micro-batches in flight: every layer's worth of one micro-batch
    (32, 4, 1, 2, 16),  # only 2 micro-batches to put in flight
    (80, 4, 5, 16, 92),  # interleaved: 80 x (1 + 3 / 20)
])
def test_first_stage_keeps_pp_micro_batches_in_flight(layers, pp, vp, m, in_flight):
    assert pipeline.first_stage_layers_in_flight(layers, pp, vp, m) == pytest.approx(in_flight, rel=1e-12)


def test_a_stage_holds_its_layers_and_one_vocabulary_matrix(tiny, bare_coef):
    # full bf16 fine-tuning, AdamW, no ZeRO: weights 2 B, gradients 2 B, moments 8 B, fp32 master 4 B per param
    first = memory_breakdown(_job(tiny, grad_accum=4), "bf16", bare_coef)
    assert (first.weights, first.gradients, first.optimizer, first.master) == pytest.approx(
        (STAGE * 2, STAGE * 2, STAGE * 8, STAGE * 4), rel=1e-12)
    # 4 micro-batches per flush: the first stage holds 2 in flight, each with its one layer: 2 layers' worth, as
    # without a pipeline; it computes no logits, and its peak is above the last stage's
    assert first.activations == pytest.approx(2 * LAYER_ACTIVATIONS, rel=1e-12)
    assert first.logits == 0.0
    # one micro-batch per flush: the first stage keeps one layer's; the last stage, one layer plus the logits
    # (256 tokens x 64 logits x logits_bytes_per_element), is now the larger
    last = memory_breakdown(_job(tiny, grad_accum=1), "bf16", bare_coef)
    assert last.activations == pytest.approx(LAYER_ACTIVATIONS, rel=1e-12)
    assert last.logits == pytest.approx(256 * 64 * bare_coef.logits_bytes_per_element, rel=1e-12)


def test_lora_adapters_split_with_the_layers_the_16_bit_base_keeps_a_vocabulary_matrix(tiny, bare_coef):
    lora = memory_breakdown(_job(tiny, method="lora", grad_accum=4), "bf16", bare_coef)
    adapters = 7_168  # r 8 on q, k, v, o of 2 layers (test_estimate_memory.py N_LORA_QKVO_R8), fp32
    assert lora.weights == pytest.approx(STAGE * 2 + adapters / 2 * 4, rel=1e-12)
    assert lora.optimizer == pytest.approx(adapters / 2 * 8, rel=1e-12)


def test_zero_shards_over_the_data_parallel_ranks_of_a_stage(tiny, bare_coef):
    # 8 GPUs, TP 2, PP 2: 2 data-parallel replicas of each stage; ZeRO-1 shards the moments and master over them
    m = memory_breakdown(_job(tiny, num_gpus=8, tensor_parallel=2, zero_stage=1, grad_accum=4), "bf16", bare_coef)
    assert (m.weights, m.optimizer, m.master) == pytest.approx((STAGE * 2 / 2, STAGE * 8 / 4, STAGE * 4 / 4),
                                                               rel=1e-12)


def test_context_parallel_splits_activations_and_logits(tiny, bare_coef):
    one = memory_breakdown(_job(tiny, pipeline_parallel=1), "bf16", bare_coef)
    cp = memory_breakdown(_job(tiny, pipeline_parallel=1, context_parallel=2), "bf16", bare_coef)
    assert cp.activations == pytest.approx(one.activations / 2, rel=1e-12)
    assert cp.logits == pytest.approx(one.logits / 2, rel=1e-12)
    assert cp.weights == one.weights  # every context-parallel rank holds the whole model


def test_the_slowest_stage_sets_the_pace_and_the_bubble_idles_it(tiny, catalog):
    """Per GPU: a micro-batch of T tokens, shared by tp x pp GPUs, takes the last stage's share of the whole model's
    time per micro-batch (X, less the per-micro-batch host time h, which each stage pays in full), and a flush of m
    micro-batches takes m + pp - 1 of those."""
    h100 = catalog.gpu("h100")
    coef = Coefficients()
    fields = dict(flops_per_token=1e9, linear_flops_per_token=0.9e9, tokens_per_micro_batch=4096,
                  elementwise_bytes_per_token=1e5, grad_accum=6, optimizer_state_bytes=0.0, offload_bytes=0.0,
                  tp_bytes=0.0, layer_passes=40)
    kw = dict(arch=tiny, gpu=h100, method="full", precision="bf16", grad_ckpt=False, num_gpus=4, coef=coef)
    whole = throughput(work=StepWork(**fields), **kw)
    staged = throughput(work=StepWork(**fields, pipeline_parallel=4, micro_batches_per_flush=6, stage_share=0.3),
                        **kw)
    x = 4096 * whole.scaling_efficiency / whole.tokens_per_sec_per_gpu
    h = coef.step_overhead_s["full"]
    stage = (x - h) * 0.3 + h
    assert staged.tokens_per_sec_per_gpu == pytest.approx(4096 / 4 / (stage * (6 + 3) / 6), rel=1e-9)
    assert staged.tokens_per_sec == pytest.approx(staged.tokens_per_sec_per_gpu * 4, rel=1e-12)


def test_last_stage_runs_the_lm_head_on_top_of_its_layers():
    assert pipeline.last_stage_share(90.0, 10.0, 1) == 1.0
    assert pipeline.last_stage_share(90.0, 10.0, 3) == pytest.approx((30 + 10) / 100, rel=1e-12)


def test_stage_to_stage_traffic_per_micro_batch():
    # 4096 tokens x hidden 8192 x 2 B, the tp 4 sequence-parallel shard, forward and backward, 5 chunks
    assert pipeline.p2p_bytes(4096, 8192, 2, 4, 4, 5) == 2 * 5 * 4096 * 8192 * 2 / 4
    assert pipeline.p2p_bytes(4096, 8192, 2, 4, 1, 1) == 0.0
    links = {"gpu_link_gb_per_s": "450", "node_gpus": "8", "node_link_gb_per_s": "400"}
    assert pipeline.p2p_link_gb_per_s(links, 32, 4) == 50.0  # 8 GPUs a stage: neighbours on another node
    assert pipeline.p2p_link_gb_per_s(links, 8, 4) == 450.0  # one node


def test_pipeline_estimate_per_gpu_is_the_total_over_all_gpus(catalog):
    kw = dict(model="llama-3.1-70b", gpu="h100", num_gpus=32, method="full", tensor_parallel=4,
              framework="megatron", micro_batch=1, seq_len=4096, grad_accum=16)
    flat = estimate(**kw)
    pp = estimate(**kw, pipeline_parallel=4)
    interleaved = estimate(**kw, pipeline_parallel=4, virtual_pipeline=5)
    for est in (pp, interleaved):
        assert est.throughput.tokens_per_sec == pytest.approx(est.throughput.tokens_per_sec_per_gpu * 32, rel=1e-12)
    # each stage holds a quarter of the layers: less memory per GPU, and a bubble that interleaving shrinks
    assert pp.memory.weights_gb < flat.memory.weights_gb / 3
    assert pp.throughput.tokens_per_sec_per_gpu < interleaved.throughput.tokens_per_sec_per_gpu
    # 32 GPUs / (TP 4 x PP 4) = 2 data-parallel replicas of 16 sequences each per step
    assert pp.job.global_batch_sequences == 32 and flat.job.global_batch_sequences == 128


@pytest.mark.parametrize("kwargs, flag", [
    ({"pipeline_parallel": 3}, "--pipeline-parallel"),  # 3 does not divide 8 GPUs
    ({"pipeline_parallel": 0}, "--pipeline-parallel"),
    ({"pipeline_parallel": 64, "num_gpus": 64}, "--pipeline-parallel"),  # more stages than 32 layers
    ({"tensor_parallel": 4, "pipeline_parallel": 4}, "--pipeline-parallel"),  # 16 > 8 GPUs
    ({"virtual_pipeline": 2}, "--virtual-pipeline"),  # no pipeline to interleave
    ({"pipeline_parallel": 8, "virtual_pipeline": 8}, "--virtual-pipeline"),  # 64 chunks > 32 layers
    ({"context_parallel": 3}, "--context-parallel"),
    ({"context_parallel": 2, "seq_len": 2050}, "--context-parallel"),  # not a multiple of 2 x cp
])
def test_bad_parallel_degrees_name_their_flag(catalog, kwargs, flag):
    with pytest.raises(ConfigError, match=flag):
        estimate(**{"model": "llama-2-7b", "gpu": "h100", "num_gpus": 8, **kwargs})


def test_cli_rejects_a_pipeline_that_does_not_divide_the_gpus_in_one_line(cli):
    proc = cli("estimate", "--model", "llama-2-7b", "--gpu", "h100", "--num-gpus", "8", "--tensor-parallel", "2",
               "--pipeline-parallel", "3")
    assert proc.returncode == 2
    assert "--pipeline-parallel" in proc.stderr and "must divide --num-gpus (8)" in proc.stderr
    assert "To fix: change --pipeline-parallel as stated" in proc.stderr  # the fix names the flag to change
    assert "Traceback" not in proc.stderr


def test_estimate_json_echoes_pipeline_and_context_parallel(cli):
    proc = cli("estimate", "--model", "llama-3.1-70b", "--gpu", "h100", "--num-gpus", "8", "--method", "lora",
               "--framework", "megatron", "--tensor-parallel", "1", "--pipeline-parallel", "4",
               "--virtual-pipeline", "5", "--context-parallel", "2", "--seq-len", "8192", "--grad-accum", "8",
               "--grad-ckpt", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    stack = out["job"]["stack"]
    assert (stack["tensor_parallel"], stack["pipeline_parallel"], stack["virtual_pipeline"],
            stack["context_parallel"]) == (1, 4, 5, 2)
    assert any("pipeline-parallel 4" in w and "context-parallel 2" in w for w in out["warnings"])
    table = cli("estimate", "--model", "llama-3.1-70b", "--gpu", "h100", "--num-gpus", "8", "--method", "lora",
                "--framework", "megatron", "--pipeline-parallel", "4", "--context-parallel", "2", "--grad-ckpt")
    assert table.returncode == 0, table.stderr
    assert "pp 4" in table.stdout and "cp 2" in table.stdout


def test_compare_keeps_only_gpu_counts_the_parallel_degrees_divide(catalog):
    from frugaltune.api import compare

    cmp = compare(model="llama-3.1-70b", method="lora", pipeline_parallel=4, gpu="h100")
    assert cmp.ranked and all(cand.num_gpus % 4 == 0 for cand, _est in cmp.ranked)
    assert all(est.job.stack["pipeline_parallel"] == 4 for _cand, est in cmp.ranked)
    reasons = {r.reason for r in cmp.rejected if r.candidate.num_gpus % 4}
    assert "1 GPU(s) is not a multiple of tensor x pipeline x context parallel (4)" in reasons


def test_recommended_settings_count_data_parallel_replicas(catalog):
    from frugaltune.api import recommend

    rec = recommend(model="llama-3.1-70b", method="lora", pipeline_parallel=4, gpu="h100", rent=True,
                    target_batch=16)
    job = rec.job
    replicas = job.num_gpus // 4
    assert rec.settings.to_json()["global_batch_sequences"] == job.micro_batch * job.grad_accum * replicas
    assert job.micro_batch * job.grad_accum * replicas >= 16
