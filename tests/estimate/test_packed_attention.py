"""Packed documents attended one by one by varlen flash attention cost the attention of their own lengths, by hand
arithmetic (estimate/flops.py packed_attention_length, estimate/stack.py VARLEN_PACKING_FRAMEWORKS).

Tiny shape (conftest.py), full fine-tuning without checkpointing: per token 6 N + 3 A with
  N = 77,824 matmul params (decoder layers + head), so 6 N = 466,944;
  A = 2 x s x (4 heads x 16) x 2 layers = 256 s (causal attention forward; backward 2 A).
A 4,096-token packed row: A = 1,048,576, total 466,944 + 3,145,728 = 3,612,672 FLOPs per token.
The same row of 512-token documents attended one by one: A = 131,072, total 466,944 + 393,216 = 860,160.
"""

from __future__ import annotations

import json

import pytest

from frugaltune.estimate import dataset_stats
from frugaltune.estimate.build import build_job
from frugaltune.estimate.calibration import load_coefficients
from frugaltune.estimate.dataset_hist import attended_length
from frugaltune.estimate.estimator import estimate, micro_batch_work
from frugaltune.estimate.flops import packed_attention_length
from frugaltune.estimate.peak import memory_breakdown
from frugaltune.estimate.records import Hardware, Job
from frugaltune.estimate.stack import resolve_stack
from frugaltune.record import replace

SIX_N = 466_944
WHOLE_ROW = SIX_N + 3 * 256 * 4096  # 3,612,672
DOCS_512 = SIX_N + 3 * 256 * 512  # 860,160


@pytest.fixture
def tiny8k(tiny):
    return replace(tiny, max_position_embeddings=8192)


def _job(arch, **kw) -> Job:
    values = dict(method="full", grad_ckpt=False, seq_len=4096, micro_batch=1, packing=True, tokens_per_sample=512.0,
                  attention="flash")
    values.update(kw)
    return Job(model=arch, **values)


def _flops(job: Job, catalog) -> float:
    return estimate(job, Hardware(gpu=catalog.gpu("H100-SXM"), num_gpus=1)).throughput.flops_per_token


def test_hand_numbers():
    assert WHOLE_ROW == 3_612_672 and DOCS_512 == 860_160


def test_a_packed_row_of_512_token_documents_under_flash_costs_512_token_attention(tiny8k, catalog):
    assert _flops(_job(tiny8k), catalog) == DOCS_512
    assert _flops(_job(tiny8k, framework="frugaltune"), catalog) == DOCS_512
    # exactly what one unpacked 512-token sequence costs
    unpacked = _job(tiny8k, packing=False, seq_len=512, padded_tokens_per_sample=512.0)
    assert _flops(unpacked, catalog) == DOCS_512
    # documents that fill the row cost the row
    assert _flops(_job(tiny8k, tokens_per_sample=4096.0), catalog) == WHOLE_ROW


@pytest.mark.parametrize("framework", ["trl", "axolotl"])
def test_padding_free_packing_of_trl_and_axolotl(tiny8k, catalog, framework):
    assert _flops(_job(tiny8k, framework=framework), catalog) == DOCS_512


@pytest.mark.parametrize("changes", [
    {"attention": None},  # frugaltune's runner under sdpa: a block-diagonal mask, the whole matrix computed
    {"attention": "sdpa-masked"},
    {"attention": "eager"},
    {"framework": "llama-factory"},  # packing without neat_packing: documents attend to each other
    {"framework": "hf-trainer"},
    {"framework": "megatron"},
])
def test_masked_kernels_and_cross_document_packing_still_cost_the_whole_row(tiny8k, catalog, changes):
    job = _job(tiny8k, **changes)
    assert _flops(job, catalog) == WHOLE_ROW
    assert _flops(job.with_(tokens_per_sample=4096.0), catalog) == WHOLE_ROW


def test_masked_sdpa_step_is_unchanged_by_document_length(tiny8k, catalog):
    """The sdpa-masked packed row: same FLOPs, same kernel slowdown (the whole 4,096 x 4,096 matrix) and same speed
    whatever the documents' length."""
    hw = Hardware(gpu=catalog.gpu("H100-SXM"), num_gpus=1)
    short, full = (estimate(_job(tiny8k, attention=None, tokens_per_sample=t), hw) for t in (512.0, 4096.0))
    assert short.job.stack["attention"] == "sdpa-masked"
    assert short.throughput.tokens_per_sec_per_gpu == full.throughput.tokens_per_sec_per_gpu


def test_attention_time_uses_the_document_length_and_the_matmuls_the_row(tiny8k):
    """compute_seconds times attention as flops_per_token - linear_flops_per_token: 3 A of the documents; the weight
    matmuls and the tokens per micro-batch stay the row's."""
    coef = load_coefficients()
    works = {}
    for tokens in (512.0, 4096.0):
        job = _job(tiny8k, tokens_per_sample=tokens)
        stack = resolve_stack(job)
        works[tokens] = micro_batch_work(job, "bf16", stack, memory_breakdown(job, "bf16", coef, stack), coef)[1]
    short, full = works[512.0], works[4096.0]
    assert short.flops_per_token - short.linear_flops_per_token == 3 * 256 * 512
    assert full.flops_per_token - full.linear_flops_per_token == 3 * 256 * 4096
    assert short.linear_flops_per_token == full.linear_flops_per_token == SIX_N
    assert short.tokens_per_micro_batch == full.tokens_per_micro_batch == 4096
    assert short.attention_slowdown == full.attention_slowdown == 1.0


def test_memory_is_unchanged_and_speed_rises(tiny8k, catalog):
    """Flash attention keeps no s^2 tensor: the activations are the row's tokens whatever the documents."""
    hw = Hardware(gpu=catalog.gpu("H100-SXM"), num_gpus=1)
    short, full = (estimate(_job(tiny8k, tokens_per_sample=t), hw) for t in (512.0, 4096.0))
    assert short.memory.peak_gb_per_gpu == full.memory.peak_gb_per_gpu
    assert short.memory.activations_gb == full.memory.activations_gb
    assert short.throughput.tokens_per_sec_per_gpu > full.throughput.tokens_per_sec_per_gpu


def test_e_l2_over_e_l_from_the_length_histogram(tiny8k, catalog):
    # documents of 256 and 768 tokens, one each: E[L] = 512, E[L^2] = (65,536 + 589,824) / 2 = 327,680 -> 640
    assert attended_length({256: 1, 768: 1}) == 640
    # the exact causal count: positions read per token = sum L (L + 1) / 2 / sum L = (640 + 1) / 2
    assert (256 * 257 / 2 + 768 * 769 / 2) / 1024 == (640 + 1) / 2
    assert packed_attention_length(4096, 512, 640) == 640
    assert packed_attention_length(4096, 512) == 512  # no histogram: the mean, a lower bound
    assert packed_attention_length(1024, 2000, 3000) == 1024  # never past the row
    assert _flops(_job(tiny8k, attended_tokens_per_sample=640.0), catalog) == SIX_N + 3 * 256 * 640  # 958,464


def test_dataset_statistics_carry_e_l2_over_e_l_into_the_job(tmp_path, tiny8k, catalog, monkeypatch):
    """--dataset: chars/4 lengths 10, 5 and 2 tokens: E[L^2] / E[L] = (100 + 25 + 4) / 17."""
    monkeypatch.setattr(dataset_stats, "_tokenizer_counter", lambda arch: None)
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps({"text": t}) for t in ("a" * 40, "b" * 20, "c" * 7)) + "\n")
    stats = dataset_stats.dataset_token_stats(path, tiny8k, seq_len=4096, micro_batch=1)
    assert stats.attended_tokens == pytest.approx(129 / 17)
    assert stats.summary()["attended_tokens"] == pytest.approx(129 / 17)
    assert dataset_stats.attended_mean([10, 5, 2]) == pytest.approx(129 / 17)
    monkeypatch.setattr(catalog, "model", lambda name: tiny8k)
    job = build_job("tiny", catalog, dataset=path, method="full", seq_len=4096, packing=True, attention="flash")
    assert job.attended_tokens_per_sample == pytest.approx(129 / 17)
