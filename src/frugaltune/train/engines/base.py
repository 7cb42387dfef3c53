"""The engine interface, and its plain data-parallel implementation (one process, or DDP through accelerate).

Every method here is what the recipe may call; fsdp.py and deepspeed.py override the ones that differ. Methods
marked "collective" must be called by every rank in the same order.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager, nullcontext
from pathlib import Path

from frugaltune.errors import CheckpointError

log = logging.getLogger("frugaltune.train")
# accelerate's autocast setting per compute dtype: bf16-true has bf16 weights already (nothing to autocast).
MIXED_PRECISION = {"fp32": "no", "bf16": "bf16", "fp16": "fp16", "bf16-true": "no"}


class Engine:
    """Plain data parallel: every rank holds the whole model and optimizer; rank 0 writes them."""

    name = "ddp"
    reshards = True  # a checkpoint can be resumed with another process count (everything is replicated)

    def __init__(self, cfg, compute_dtype: str):
        import torch
        from accelerate import Accelerator

        self.cfg, self.torch, self.compute_dtype = cfg, torch, compute_dtype
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=self.autocast_precision())

    def autocast_precision(self) -> str:
        """accelerate's mixed_precision for this engine (sharding engines cast through their own policies)."""
        return MIXED_PRECISION[self.compute_dtype]

    def ensure_process_group(self) -> None:
        """A one-process group when no launcher made one: sharding engines (FSDP's device mesh, DeepSpeed) need a
        process group even alone, e.g. one GPU with CPU offload, or a resume on fewer processes."""
        import torch.distributed as dist

        if dist.is_initialized():
            return
        store = dist.HashStore()
        dist.init_process_group("nccl" if self.torch.cuda.is_available() else "gloo", store=store, rank=0,
                                world_size=1)

    # ------------------------------------------------------------------ processes

    @property
    def device(self):
        return self.accelerator.device

    @property
    def num_processes(self) -> int:
        return self.accelerator.num_processes

    @property
    def process_index(self) -> int:
        return self.accelerator.process_index

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def main_process_first(self):
        """Context: rank 0 runs the block first, the others after it (e.g. building a preset model once)."""
        return self.accelerator.main_process_first()

    def barrier(self) -> None:
        """Collective: wait until every rank gets here."""
        self.accelerator.wait_for_everyone()

    def sum_over_ranks(self, *values: float) -> list[float]:
        """Collective: the sums over all ranks of `values` (the values themselves in a single process)."""
        if self.num_processes == 1:
            return list(values)
        t = self.torch.tensor(values, dtype=self.torch.float64, device=self.device)
        return self.accelerator.reduce(t, reduction="sum").tolist()

    def gather_objects(self, obj) -> list:
        """Collective: every rank's `obj`, in rank order, on every rank."""
        if self.num_processes == 1:
            return [obj]
        from accelerate.utils import gather_object

        return gather_object([obj])

    def check_shared_dir(self, run_dir: Path) -> None:
        """Collective, on several machines: every rank must see the run directory rank 0 writes (every rank writes
        its part of a checkpoint into one step directory, and every rank resumes from it).

        Raises:
            ConfigError: on every rank, naming the machines that do not see it.
        """
        if self.cfg.distributed.num_nodes == 1:
            return
        import os
        import uuid

        token = Path(run_dir) / ".shared-dir-check"
        nonce = self.gather_objects(uuid.uuid4().hex if self.is_main else None)[0]  # rank 0's, on every rank
        if self.is_main:
            token.write_text(nonce)
        self.barrier()
        seen = self.gather_objects((token.is_file() and token.read_text() == nonce, os.uname().nodename))
        self.barrier()
        if self.is_main:
            token.unlink(missing_ok=True)
        problem = unshared_problem(run_dir, seen)
        if problem:
            from frugaltune.errors import ConfigError

            raise ConfigError(problem, fix="With num_nodes > 1, put output.dir on storage every machine mounts "
                                           "(NFS, EFS/Filestore, a cluster's shared disk), the same path on each.")

    def describe(self) -> dict:
        """What ran, for summary.json and the checkpoint (engine, world size, ZeRO stage, offload, and the bytes of
        parameters rank 0 holds once the engine has spread them)."""
        d = self.cfg.distributed
        return {"engine": self.name, "world_size": self.num_processes, "num_nodes": d.num_nodes,
                "zero_stage": self.zero_stage(), "cpu_offload": d.cpu_offload,
                "param_bytes_per_rank": getattr(self, "param_bytes", None)}

    def note_params(self, model) -> None:
        """Count the parameter bytes this rank holds after `prepare`: its shards under fsdp (DTensor local parts)
        and deepspeed ZeRO-3 (`ds_tensor` partitions), everything otherwise; a 4-bit weight counts its packed bytes."""
        total = 0
        for p in model.parameters():
            local = p.to_local() if hasattr(p, "to_local") else getattr(p, "ds_tensor", p)
            total += local.numel() * local.element_size()
        self.param_bytes = total

    def zero_stage(self) -> int:
        return 0

    # ------------------------------------------------------------------ training

    def optimizer_class(self, name: str):
        """The optimizer class for config name `name` (an engine may need its own, e.g. an offloaded Adam)."""
        torch = self.torch
        if name == "adamw":
            return torch.optim.AdamW
        if name == "sgd":
            return torch.optim.SGD
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit if name == "adamw8bit" else bnb.optim.PagedAdamW8bit

    def load_options(self) -> dict:
        """Keywords for model.load_base_model on this rank (a sharding engine may load differently)."""
        return {}

    def prepare(self, model, make_optimizer):
        """Spread `model` over the processes and build its optimizer (`make_optimizer(model)`) on what each rank
        trains; returns (model to call, torch optimizer that a scheduler can drive)."""
        optimizer = make_optimizer(model)
        return self.accelerator.prepare(model, optimizer)

    @contextmanager
    def micro_step(self, model, last: bool):
        """Context of one micro-batch's forward and backward; gradients are synchronised on the `last` one only."""
        with (nullcontext() if last else self.accelerator.no_sync(model)), self.accelerator.autocast():
            yield

    def backward(self, model, loss) -> None:
        self.accelerator.backward(loss)

    def step(self, model, optimizer, max_grad_norm: float | None) -> bool:
        """Clip, step and zero the gradients; False when the step was skipped (fp16 overflow)."""
        if max_grad_norm:
            self.accelerator.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        applied = not self.accelerator.optimizer_step_was_skipped
        optimizer.zero_grad(set_to_none=True)
        return applied

    def unwrap(self, model):
        """The transformers / peft model under the engine's wrapper."""
        return self.accelerator.unwrap_model(model)

    def eval_model(self, model):
        """What evaluation calls (every rank evaluates the same batches)."""
        return self.unwrap(model)

    # ------------------------------------------------------------------ checkpoints

    def save_state(self, out: Path, model, optimizer, trainable_only: bool) -> None:
        """Collective: write the weights (the adapter when `trainable_only`) and optimizer state into `out`."""
        if not self.is_main:
            return
        model = self.unwrap(model)
        if trainable_only:
            from peft import get_peft_model_state_dict
            from safetensors.torch import save_file

            weights = {k: v.detach().contiguous().cpu() for k, v in get_peft_model_state_dict(
                model, save_embedding_layers=False).items()}  # the base (incl. lm_head) is frozen: adapter only
            save_file(weights, str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
            model.peft_config["default"].save_pretrained(str(out))
        else:
            from safetensors.torch import save_model

            save_model(model, str(out / "model.safetensors"))
            model.config.to_json_file(out / "config.json")
        self.torch.save(optimizer.state_dict(), out / "optimizer.pt")

    def load_state(self, path: Path, model, optimizer, trainable_only: bool) -> None:
        """Collective: restore what `save_state` wrote (every rank reads the same files)."""
        from safetensors.torch import load_file, load_model

        inner = self.unwrap(model)
        if trainable_only:
            from peft import set_peft_model_state_dict

            result = set_peft_model_state_dict(inner, load_file(path / "adapter_model.safetensors"))
            if getattr(result, "unexpected_keys", None):
                raise CheckpointError(f"{path}: adapter does not match this model ({result.unexpected_keys[:3]}).",
                                      fix="Resume with the same model and LoRA settings.")
        else:
            load_model(inner, path / "model.safetensors", device=str(self.device))
        optimizer.load_state_dict(self.torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))

    def full_state_dict(self, model, trainable_only: bool = False) -> dict | None:
        """Collective: the whole model's state (its trained weights only when `trainable_only`) on rank 0 when the
        engine shards it; None when `unwrap` has it all."""
        return None

    def check_resume(self, path: Path, state: dict) -> None:
        """Raise CheckpointError when this engine cannot load checkpoint `path` (its trainer_state `state`)."""
        saved = state.get("distributed") or {"engine": "ddp", "world_size": state.get("num_processes", 1)}
        if saved.get("engine", "ddp") != self.name:
            raise CheckpointError(
                f"{path} was written by engine {saved['engine']}; this run uses {self.name}, whose checkpoint "
                "format differs.", fix=f"Resume with distributed.engine={saved['engine']} (--set "
                f"distributed.engine={saved['engine']}), or start a new run with --output-dir.")
        if not self.reshards and saved.get("world_size") != self.num_processes:
            raise CheckpointError(self.reshard_problem(path, saved), fix=(
                f"Resume with {saved.get('world_size')} processes (--set distributed.num_processes="
                f"{saved.get('world_size')}), or start a new run with --output-dir."))

    def reshard_problem(self, path: Path, saved: dict) -> str:
        return (f"{path} was written by {saved.get('world_size')} processes and cannot be loaded by "
                f"{self.num_processes}.")


def unshared_problem(run_dir: Path, seen: list[tuple[bool, str]]) -> str | None:
    """What `check_shared_dir` says when some ranks (`seen`: per rank, (sees rank 0's file, host)) do not share
    `run_dir` with rank 0; None when all do."""
    blind = [(rank, host) for rank, (ok, host) in enumerate(seen) if not ok]
    if not blind:
        return None
    hosts = sorted({host for _, host in blind})
    ranks = ", ".join(str(rank) for rank, _ in blind)
    return (f"output.dir: {run_dir} is not shared by every machine: rank(s) {ranks} on {', '.join(hosts)} do not "
            f"see what rank 0 ({seen[0][1]}) writes there, so a checkpoint would be split between disks.")
