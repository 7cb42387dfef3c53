"""FSDP2: `torch.distributed.fsdp.fully_shard` on every transformer block and the root, as accelerate's
`fsdp2_prepare_model` does (accelerate applies it on accelerators only; calling it here runs the same engine on
CPU processes too). Checkpoints are torch.distributed.checkpoint (DCP) sharded state dicts, which DCP reshards
when a run resumes with another process count.

Loading (`load_options`): the model stays on the CPU until `fully_shard` moves it to the GPU one block at a time,
already split. With several processes, only rank 0 reads the weights; the others build the model on the meta
device and receive their shards from rank 0 (torch `set_model_state_dict(broadcast_from_rank0=True)`, what
accelerate's `cpu_ram_efficient_loading` does), so a machine holds one full copy in CPU memory, not one per GPU.

QLoRA (FSDP-QLoRA, bitsandbytes docs and Answer.AI): the 4-bit weights are packed into the compute dtype
(`bnb_4bit_quant_storage`), so FSDP shards them like any weight and its mixed-precision cast (to that same dtype)
leaves them intact; each block's packed weights are all-gathered for its forward and bitsandbytes re-attaches
their quantisation constants (kept whole on every rank: `Linear4bit.quant_state`). Every rank loads the 4-bit
model (a quarter of the 16-bit size) on the CPU: its quantisation constants are not parameters, so rank 0 cannot
broadcast them through a state dict.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from frugaltune.train.engines.base import Engine

DCP_DIR = "dcp"
CAST = {"bf16": "bfloat16", "fp16": "float16"}
# QLoRA's packed 4-bit storage per compute dtype: the dtype MixedPrecisionPolicy casts parameters to (a no-op on it)
PACKED_AS = {"fp32": "fp32", "bf16": "bf16", "fp16": "fp16", "bf16-true": "bf16"}


class FsdpEngine(Engine):
    name = "fsdp"
    reshards = True

    def __init__(self, cfg, compute_dtype: str):
        super().__init__(cfg, compute_dtype)
        self.ensure_process_group()

    def autocast_precision(self) -> str:
        return "no"  # MixedPrecisionPolicy casts the sharded parameters instead

    def zero_stage(self) -> int:
        return self.cfg.distributed.stage

    @property
    def loads_on_meta(self) -> bool:
        """This rank builds the model empty and receives its weights from rank 0 (every rank loads under QLoRA)."""
        return self.num_processes > 1 and self.cfg.method.kind != "qlora"

    def load_options(self) -> dict:
        """How this rank loads the base model (model.load_base_model's keywords): see the module docstring."""
        if self.cfg.method.kind == "qlora":
            return {"quant_storage": PACKED_AS[self.compute_dtype], "device_map": "cpu"}
        return {"on_meta": self.loads_on_meta and not self.is_main}

    def prepare(self, model, make_optimizer):
        """Shard each block, then the root (moving each to the GPU as it goes); fill the shards from rank 0 when the
        other ranks hold an empty model; the optimizer is built on the shards (DTensor parameters)."""
        from torch.distributed.fsdp import fully_shard

        from frugaltune.train.engines import fsdp_load

        fsdp_load.check_4bit_storage(model)
        full = model.state_dict() if self.loads_on_meta and self.is_main else None  # rank 0's weights, before sharding
        kwargs = self._shard_options()
        for block in transformer_blocks(model):
            fully_shard(block, **kwargs)
        fully_shard(model, **kwargs)
        if self.loads_on_meta:
            fsdp_load.fill_from_rank0(model, full, self._param_device(), self.device)
        return model, make_optimizer(model)

    def _shard_options(self) -> dict:
        from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy

        torch = self.torch
        kwargs = {"reshard_after_forward": self.zero_stage() == 3}
        if self.compute_dtype in CAST:
            kwargs["mp_policy"] = MixedPrecisionPolicy(param_dtype=getattr(torch, CAST[self.compute_dtype]),
                                                       reduce_dtype=torch.float32)
        if self.cfg.distributed.cpu_offload == "params":
            kwargs["offload_policy"] = CPUOffloadPolicy(pin_memory=torch.cuda.is_available())
        return kwargs

    def _param_device(self):
        """Where the shards live: the CPU when offloaded, else this rank's device."""
        return self.torch.device("cpu") if self.cfg.distributed.cpu_offload == "params" else self.device

    @contextmanager
    def micro_step(self, model, last: bool):
        model.set_requires_gradient_sync(last)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)

    def backward(self, model, loss) -> None:
        loss.backward()

    def step(self, model, optimizer, max_grad_norm: float | None) -> bool:
        if max_grad_norm:
            self.torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return True

    def unwrap(self, model):
        return model  # fully_shard wraps in place: the module is still the transformers / peft model

    def _options(self, trainable_only: bool, **kwargs):
        from torch.distributed.checkpoint.state_dict import StateDictOptions

        return StateDictOptions(ignore_frozen_params=trainable_only, **kwargs)

    def save_state(self, out: Path, model, optimizer, trainable_only: bool) -> None:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict

        model_sd, optim_sd = get_state_dict(model, optimizer, options=self._options(trainable_only))
        dcp.save({"model": model_sd, "optimizer": optim_sd}, checkpoint_id=str(out / DCP_DIR))

    def load_state(self, path: Path, model, optimizer, trainable_only: bool) -> None:
        import torch.distributed.checkpoint as dcp
        from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

        options = self._options(trainable_only, strict=not trainable_only)  # the frozen base comes from the model
        model_sd, optim_sd = get_state_dict(model, optimizer, options=options)
        state = {"model": model_sd, "optimizer": optim_sd}
        dcp.load(state, checkpoint_id=str(path / DCP_DIR))  # reads each rank's slices: any process count
        set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"],
                       options=options)

    def full_state_dict(self, model, trainable_only: bool = False) -> dict | None:
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        # an adapter run gathers its adapter only: never the whole (maybe 70B) base onto rank 0's CPU
        options = self._options(trainable_only, full_state_dict=True, cpu_offload=True)
        return get_model_state_dict(model, options=options)


def transformer_blocks(model) -> list:
    """The repeated blocks to shard one by one: the classes transformers lists in `_no_split_modules` (what
    accelerate's TRANSFORMER_BASED_WRAP uses), else the children of the model's `layers` list."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = set(getattr(inner, "_no_split_modules", None) or [])
    blocks = [m for m in model.modules() if type(m).__name__ in names]
    if blocks:
        return blocks
    import torch

    lists = [m for name, m in model.named_modules() if name.endswith("layers") and isinstance(m, torch.nn.ModuleList)]
    return list(lists[0]) if lists else []
