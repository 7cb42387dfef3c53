"""ZeRO-3 / FSDP link traffic against hand arithmetic (estimate/work.py shard_traffic_bytes), and its effect: on GeForce
RTX 4090s (no GPU peer-to-peer, traffic staged through host memory; catalog/data/interconnect.csv) a sharded LoRA job
on short batches is bound by the all-gathers, while NVLink A100s and single GPUs are not."""

from __future__ import annotations

import pytest

from frugaltune.estimate.build import build_job, estimate
from frugaltune.estimate.datafile import interconnect
from frugaltune.estimate.stack import resolve_stack
from frugaltune.estimate.work import shard_traffic_bytes

# Llama 2 7B (config.json): 6,738,415,616 parameters
N7 = 6_738_415_616


def _job(**kw):
    return build_job("llama-2-7b", method="lora", micro_batch=2, seq_len=512, **kw)


def test_full_shard_gathers_the_weights_per_pass_and_reduce_scatters_the_gradients():
    job = _job(num_gpus=2, zero_stage=3, grad_ckpt=False)
    trainable = 4_194_304  # r=8 on q_proj and v_proj: 32 layers x 2 x 8 x (4096 + 4096)
    # two passes (forward, backward) of the bf16 weights, one bf16 gradient reduce-scatter; a ring of 2 moves half
    expected = (2 * N7 * 2 + trainable * 2) * (2 - 1) / 2
    assert shard_traffic_bytes(job, resolve_stack(job), "bf16", trainable) == pytest.approx(expected, rel=1e-9)
    # gradient checkpointing recomputes the forward: a third gather; 4 GPUs move 3/4 of each collective
    job4 = _job(num_gpus=4, zero_stage=3, grad_ckpt=True)
    assert shard_traffic_bytes(job4, resolve_stack(job4), "bf16", trainable) == pytest.approx(
        (3 * N7 * 2 + trainable * 2) * 3 / 4, rel=1e-9)


def test_no_link_traffic_without_full_sharding_or_on_one_gpu():
    for job in (_job(num_gpus=2, zero_stage=2), _job(num_gpus=1, zero_stage=3)):
        assert shard_traffic_bytes(job, resolve_stack(job), "bf16", 10) == 0.0


def test_rtx_4090_peer_path_is_host_staged():
    row = interconnect("RTX-4090")
    assert float(row["gpu_link_gb_per_s"]) < float(row["host_link_gb_per_s"])
    assert "peer-to-peer" in row["gpu_link"]


def _tokens_per_s(gpu: str, num_gpus: int, zero_stage: int) -> float:
    return estimate(model="llama-3-8b", gpu=gpu, num_gpus=num_gpus, zero_stage=zero_stage, method="lora",
                    micro_batch=2, seq_len=512, grad_ckpt=False).throughput.tokens_per_sec_per_gpu


def test_sharding_over_a_host_staged_link_is_slower_than_one_gpu():
    one = _tokens_per_s("rtx-4090", 1, 0)
    sharded = _tokens_per_s("rtx-4090", 2, 3)
    # ~16 GB of bf16 weights cross the link per micro-batch (8 GB per GPU per pass) at 15 GB/s x link efficiency:
    # over a second, against ~0.3 s of compute for 1,024 tokens
    assert sharded < one / 2
    # on NVLink the same gathers hide behind compute: sharding costs A100s far less
    assert _tokens_per_s("a100-80gb", 2, 3) / _tokens_per_s("a100-80gb", 1, 0) > 2 * sharded / one


def test_tensor_parallel_ranks_gather_and_reduce_their_own_slice():
    # FSDP x TP 2 on 8 GPUs: each rank holds half of every matrix, so both the weight gathers and the gradient
    # reduce-scatter move half the bytes, among 8 / 2 = 4 data-parallel ranks (3/4 of each collective)
    job = build_job("llama-2-7b", method="full", micro_batch=1, seq_len=512, num_gpus=8, zero_stage=3,
                    grad_ckpt=False, tensor_parallel=2)
    expected = (2 * N7 * 2 / 2 + N7 * 2 / 2) * 3 / 4
    assert shard_traffic_bytes(job, resolve_stack(job), "bf16", N7) == pytest.approx(expected, rel=1e-9)


def test_rtx_3090_without_its_nvlink_bridge_stages_peer_traffic_through_the_host():
    row = interconnect("RTX-3090")
    assert float(row["gpu_link_gb_per_s"]) == pytest.approx(31.5 * 0.48, abs=0.2)  # host-staged share of PCIe 4.0
    assert "NVLink bridge" in row["gpu_link"] and row["source"] and row["data_date"]
    # the professional GA102 cards keep peer-to-peer over PCIe: no host-staged row
    assert interconnect("RTX-A6000")["gpu"] == "default"


@pytest.mark.parametrize("gpu", ["RTX-3090", "RTX-4080", "RTX-4090", "RTX-5090"])
def test_geforce_peers_exchange_data_through_host_memory(gpu):
    # no GPU peer-to-peer on GeForce cards: about 48 % of the card's own PCIe link per direction
    row = interconnect(gpu)
    assert "via host memory" in row["gpu_link"] and row["peer_path"] == "host-staged"
    assert float(row["gpu_link_gb_per_s"]) == pytest.approx(0.48 * float(row["host_link_gb_per_s"]), rel=0.02)


def test_host_staged_peer_traffic_runs_at_its_own_efficiency():
    from frugaltune.estimate.calibration import Coefficients
    from frugaltune.estimate.throughput import peer_seconds

    coef = Coefficients(link_efficiency=0.7, staged_link_efficiency=0.25)
    # RTX 4090: 15 GB/s host-staged path at 25 %: 3 GB take 3e9 / (15e9 x 0.25) = 0.8 s
    assert interconnect("RTX-4090")["peer_path"] == "host-staged"
    assert peer_seconds(3e9, interconnect("RTX-4090"), coef) == pytest.approx(0.8)
    # A100 SXM: direct NVLink 3 at 300 GB/s x 0.7
    assert interconnect("A100-80GB")["peer_path"] == "direct"
    assert peer_seconds(3e9, interconnect("A100-80GB"), coef) == pytest.approx(3e9 / (300e9 * 0.7))
    # the shipped fit sets the staged efficiency from the measured GeForce multi-GPU rows: a real number in (0, 1]
    from frugaltune.estimate.calibration import load_coefficients

    assert 0.0 < load_coefficients().staged_link_efficiency <= 1.0
