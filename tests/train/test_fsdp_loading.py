"""How the FSDP engine asks each rank to load the model: rank 0 reads the weights and the others build an empty
(meta) model to receive their shards from it; QLoRA packs its 4-bit weights into the compute dtype on every rank.
The 2-process runs that use this: test_engines.py (their first loss equals DeepSpeed's, which loads normally)."""

from __future__ import annotations

import pytest

from frugaltune.train.config import RunConfig
from frugaltune.train.engines.fsdp import FsdpEngine


class _Rank(FsdpEngine):
    """The FSDP engine's loading decisions for rank `rank` of `world` (no process group needed to ask them)."""

    def __init__(self, cfg, compute_dtype: str, world: int, rank: int):
        self.cfg, self.compute_dtype, self._world, self._rank = cfg, compute_dtype, world, rank

    num_processes = property(lambda self: self._world)
    is_main = property(lambda self: self._rank == 0)


@pytest.mark.parametrize(("method", "dtype", "world", "rank", "options"), [
    ("lora", "bf16", 2, 0, {"on_meta": False}),   # rank 0 reads the weights
    ("lora", "bf16", 2, 1, {"on_meta": True}),    # the others receive them
    ("full", "fp32", 1, 0, {"on_meta": False}),   # alone: nobody to receive from
    ("qlora", "bf16", 2, 1, {"quant_storage": "bf16", "device_map": "cpu"}),  # every rank loads 4-bit
    ("qlora", "bf16-true", 4, 0, {"quant_storage": "bf16", "device_map": "cpu"}),
    ("qlora", "fp32", 2, 0, {"quant_storage": "fp32", "device_map": "cpu"}),
])
def test_load_options_per_rank(method, dtype, world, rank, options):
    cfg = RunConfig.from_dict({"method": {"kind": method}, "distributed": {"engine": "fsdp", "num_processes": world}})
    assert _Rank(cfg, dtype, world, rank).load_options() == options


@pytest.mark.slow
def test_an_empty_model_has_the_shapes_and_no_weights(tmp_path):
    import torch

    from frugaltune.train import model as M
    from frugaltune.train.presets import build_preset

    cfg = RunConfig.from_dict({"model": {"source": "preset:tiny-llama"}, "method": {"kind": "full"}})
    src = M.resolve_source(cfg, preset_dir=build_preset("tiny-llama", tmp_path / "preset", seed=0))
    empty = M.load_base_model(cfg, src, "fp32", on_meta=True)
    real = M.load_base_model(cfg, src, "fp32")
    assert {p.device.type for p in empty.parameters()} == {"meta"}
    assert {n: (p.shape, p.dtype) for n, p in empty.named_parameters()} == \
        {n: (p.shape, p.dtype) for n, p in real.named_parameters()}
    assert empty.config.use_cache is False and real.dtype == torch.float32


def test_qlora_packs_its_4bit_weights_into_the_storage_asked(tmp_path):
    import torch

    from frugaltune.train import model as M

    cfg = RunConfig.from_dict({"method": {"kind": "qlora"}})
    assert M._bnb_config(cfg, "bf16").bnb_4bit_quant_storage == torch.uint8  # bitsandbytes' default: one GPU
    assert M._bnb_config(cfg, "bf16", "bf16").bnb_4bit_quant_storage == torch.bfloat16
    assert M._bnb_config(cfg, "fp32", "fp32").bnb_4bit_quant_storage == torch.float32
