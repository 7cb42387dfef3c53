"""FSDP2: `torch.distributed.fsdp.fully_shard` on every transformer block and the root, as accelerate's
`fsdp2_prepare_model` does (accelerate applies it on accelerators only; calling it here runs the same engine on
CPU processes too). Checkpoints are torch.distributed.checkpoint (DCP) sharded state dicts, which DCP reshards
when a run resumes with another process count.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from frugaltune.train.engines.base import Engine

DCP_DIR = "dcp"
CAST = {"bf16": "bfloat16", "fp16": "float16"}


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

    def prepare(self, model, make_optimizer):
        """Shard each block, then the root; the optimizer is built on the shards (DTensor parameters)."""
        from torch.distributed.fsdp import CPUOffloadPolicy, MixedPrecisionPolicy, fully_shard

        torch = self.torch
        kwargs = {"reshard_after_forward": self.zero_stage() == 3}
        if self.compute_dtype in CAST:
            kwargs["mp_policy"] = MixedPrecisionPolicy(param_dtype=getattr(torch, CAST[self.compute_dtype]),
                                                       reduce_dtype=torch.float32)
        if self.cfg.distributed.cpu_offload == "params":
            kwargs["offload_policy"] = CPUOffloadPolicy()
        elif torch.cuda.is_available():
            model.to(self.device)
        for block in transformer_blocks(model):
            fully_shard(block, **kwargs)
        fully_shard(model, **kwargs)
        return model, make_optimizer(model)

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

    def full_state_dict(self, model) -> dict | None:
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        return get_model_state_dict(model, options=self._options(False, full_state_dict=True, cpu_offload=True))


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
