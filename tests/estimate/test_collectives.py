"""Data-parallel collectives against hand arithmetic: the DDP / ZeRO-1/2 gradient all-reduce (estimate/work.py
grad_sync_bytes) and the slowest link a collective crosses once a job spans nodes (throughput.collective_seconds,
per-node network adapters from catalog/data/interconnect.csv)."""

from __future__ import annotations

import pytest

from frugaltune.estimate.build import build_job, estimate
from frugaltune.estimate.calibration import Coefficients, load_coefficients
from frugaltune.estimate.datafile import interconnect
from frugaltune.estimate.stack import resolve_stack
from frugaltune.estimate.throughput import collective_seconds
from frugaltune.estimate.work import grad_sync_bytes

N7 = 6_738_415_616  # Llama 2 7B (config.json)


def test_ddp_all_reduces_every_gradient_once_per_step():
    job = build_job("llama-2-7b", method="full", micro_batch=1, seq_len=512, num_gpus=4, zero_stage=0)
    # a ring all-reduce of 16-bit gradients on 4 GPUs moves 2 x 3/4 of them per GPU
    assert grad_sync_bytes(job, resolve_stack(job), "bf16", N7) == pytest.approx(2 * N7 * 2 * 3 / 4, rel=1e-9)
    # ZeRO-2 moves the same volume (reduce-scatter of gradients + all-gather of the updated parameters)
    z2 = job.with_(zero_stage=2)
    assert grad_sync_bytes(z2, resolve_stack(z2), "bf16", N7) == pytest.approx(2 * N7 * 2 * 3 / 4, rel=1e-9)
    # LoRA adapters (and their gradients) are fp32 under peft
    lora = build_job("llama-2-7b", method="lora", micro_batch=1, seq_len=512, num_gpus=2, zero_stage=0)
    assert grad_sync_bytes(lora, resolve_stack(lora), "bf16", 4_194_304) == pytest.approx(2 * 4_194_304 * 4 / 2)


def test_no_gradient_all_reduce_on_one_gpu_or_under_full_sharding():
    for kw in ({"num_gpus": 1, "zero_stage": 0}, {"num_gpus": 4, "zero_stage": 3}):
        job = build_job("llama-2-7b", method="full", micro_batch=1, seq_len=512, **kw)
        assert grad_sync_bytes(job, resolve_stack(job), "bf16", N7) == 0.0


def test_across_nodes_the_network_adapters_bound_the_collective():
    links, coef = interconnect("H100-SXM"), Coefficients(link_efficiency=0.5, staged_link_efficiency=0.5)
    assert int(links["node_gpus"]) == 8 and float(links["node_link_gb_per_s"]) == 400.0  # 8 x 400 Gb/s
    ring = 7e9  # bytes each GPU moves in an 8-rank ring: payload 8e9 x 7/8
    # one node: NVLink 4 at 450 GB/s per direction
    assert collective_seconds(ring, 8, 1, links, coef) == pytest.approx(7e9 / (450e9 * 0.5))
    # 16 GPUs with tensor parallel 2: 8 data-parallel ranks, 4 per node; each node takes in half the 8 GB payload
    # through the 4 of its 8 adapters this group owns (200 GB/s), slower than NVLink
    assert collective_seconds(ring, 16, 2, links, coef) == pytest.approx(4e9 / (200e9 * 0.5))
    # 16 GPUs without tensor parallelism: 8 ranks per node own all 8 adapters (400 GB/s): NVLink still binds
    ring16 = 8e9 * 15 / 16
    assert collective_seconds(ring16, 16, 1, links, coef) == pytest.approx(ring16 / (450e9 * 0.5))
    # a GPU whose row names no node network keeps its GPU-to-GPU link
    assert collective_seconds(ring, 16, 1, interconnect("RTX-4090"), coef) == pytest.approx(7e9 / (15e9 * 0.5))


def _step_s(num_gpus: int) -> tuple[float, int]:
    est = estimate(model="qwen2.5-0.5b", gpu="rtx-4090", method="full", num_gpus=num_gpus, zero_stage=0,
                   micro_batch=1, seq_len=256, grad_ckpt=False, packing=True)
    # the step's own time, before the fitted data-parallel scaling factor (throughput.scaling_efficiency)
    return 256 * est.throughput.scaling_efficiency / est.throughput.tokens_per_sec_per_gpu, est.model.params


def test_ddp_over_a_host_staged_link_adds_the_all_reduce_not_hidden_behind_compute():
    one, params = _step_s(1)
    two, _ = _step_s(2)
    # on 2 GPUs a ring all-reduce moves 2 x 1/2 of the 16-bit gradients at 15 GB/s x the host-staged efficiency
    sync_s = 2 * params * 2 * 0.5 / (15e9 * load_coefficients().staged_link_efficiency)
    assert 0.5 * sync_s < two - one <= sync_s * (1 + 1e-9)
