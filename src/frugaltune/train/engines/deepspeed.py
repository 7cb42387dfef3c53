"""DeepSpeed ZeRO (stages 1-3, CPU offload) through `deepspeed.initialize` on a process group accelerate set up.

Gradient accumulation follows DeepSpeed's manual-boundary pattern (`set_gradient_accumulation_boundary`, see
DeepSpeedEngine's docstring): the recipe's per-step loss normalisation is kept (`scale_wrt_gas=False`), DeepSpeed
clips (`gradient_clipping`) and steps at the boundary. Checkpoints are DeepSpeed's own format
(`save_checkpoint`/`load_checkpoint`): a model-states file and one optimizer partition per rank. ZeRO partitions
only load into the process count that wrote them; a resume with another count converts the checkpoint to
DeepSpeed's universal format first (`deepspeed.checkpoint.ds_to_universal`, ZeRO stages 1-2: one file per
parameter and optimizer state) and loads that (`load_universal`), beside the untouched step directory.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

from frugaltune.train.engines.base import Engine
from frugaltune.train.engines.files import deepspeed_config

TAG = "deepspeed"
UNIVERSAL_TAG = "deepspeed_universal"


class DeepSpeedEngine(Engine):
    name = "deepspeed"
    reshards = True  # through a universal checkpoint (stages 1-2); stage 3 cannot (check_resume says so)

    def __init__(self, cfg, compute_dtype: str):
        super().__init__(cfg, compute_dtype)
        self.ensure_process_group()
        import os

        os.environ.setdefault("LOCAL_RANK", "0")  # DeepSpeed asserts a launcher set it; alone, we are rank 0
        import deepspeed
        import deepspeed.ops

        logging.getLogger("DeepSpeed").setLevel(logging.WARNING)
        warnings.filterwarnings("ignore", message=r".*all_gather_into_tensor. is deprecated", category=FutureWarning)
        if not self.torch.cuda.is_available():
            # CPU processes talk over gloo: skip DeepSpeed's shared-memory collective, a C++ op compiled at first use
            deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
        deepspeed.init_distributed(dist_backend="nccl" if self.torch.cuda.is_available() else "gloo")
        self.deepspeed = deepspeed

    def autocast_precision(self) -> str:
        return "no"  # DeepSpeed keeps bf16/fp16 weights with fp32 master copies itself

    def zero_stage(self) -> int:
        return self.cfg.distributed.stage

    def optimizer_class(self, name: str):
        if self.cfg.distributed.cpu_offload != "none":  # an offloaded step runs on the CPU: DeepSpeed's CPU Adam
            from deepspeed.ops.adam import DeepSpeedCPUAdam

            return DeepSpeedCPUAdam
        return super().optimizer_class(name)

    def prepare(self, model, make_optimizer):
        """DeepSpeed wraps the model and the optimizer; the returned torch optimizer's param groups are the ones
        ZeRO steps, so a scheduler built on it sets the learning rate DeepSpeed uses."""
        optimizer = make_optimizer(model)
        config = deepspeed_config(self.cfg, self.compute_dtype)
        config["train_batch_size"] = self.cfg.training.micro_batch * self.cfg.training.grad_accum * self.num_processes
        engine, _, _, _ = self.deepspeed.initialize(model=model, optimizer=optimizer, config=config)
        return engine, optimizer

    @contextmanager
    def micro_step(self, model, last: bool):
        model.set_gradient_accumulation_boundary(last)
        yield

    def backward(self, model, loss) -> None:
        model.backward(loss, scale_wrt_gas=False)

    def step(self, model, optimizer, max_grad_norm: float | None) -> bool:
        model.step()  # clips (gradient_clipping), steps and zeroes the gradients at the boundary
        return bool(model.was_step_applied())

    def unwrap(self, model):
        return model.module if hasattr(model, "module") else model

    def eval_model(self, model):
        return model  # the engine's forward gathers ZeRO-3 partitions

    def save_state(self, out: Path, model, optimizer, trainable_only: bool) -> None:
        model.save_checkpoint(str(out), tag=TAG, save_latest=False, exclude_frozen_parameters=trainable_only)

    def load_state(self, path: Path, model, optimizer, trainable_only: bool) -> None:
        saved = getattr(self, "_saved", None) or {}
        if saved.get("world_size", self.num_processes) == self.num_processes:
            model.load_checkpoint(str(path), tag=TAG, load_module_strict=not trainable_only,
                                  load_optimizer_states=True, load_lr_scheduler_states=False)
            return
        universal = self._to_universal(path)
        model._config.load_universal_checkpoint = True  # read at load time (DeepSpeedEngine.load_universal_checkpoint)
        try:
            model.load_checkpoint(str(universal), tag=UNIVERSAL_TAG, load_module_strict=not trainable_only,
                                  load_optimizer_states=True, load_lr_scheduler_states=False)
        finally:
            model._config.load_universal_checkpoint = False
            self.barrier()
            if self.is_main:
                import shutil

                shutil.rmtree(universal, ignore_errors=True)

    def _to_universal(self, path: Path) -> Path:
        """Rank 0 converts `path`'s ZeRO partitions into one file per parameter and state; every rank gets the path."""
        import argparse
        import shutil

        out = path.parent / f".universal-{path.name}"
        if self.is_main:
            from deepspeed.checkpoint import ds_to_universal

            shutil.rmtree(out, ignore_errors=True)
            args = argparse.Namespace(input_folder=str(path / TAG), output_folder=str(out / UNIVERSAL_TAG),
                                      num_extract_workers=1, num_merge_workers=1, keep_temp_folder=False,
                                      strict=True, inject_missing_state=True)
            try:
                with _quiet_stdout():
                    ds_to_universal.main(args)
            except Exception as err:  # noqa: BLE001 -- a layout the converter does not know: say what to do instead
                from frugaltune.errors import CheckpointError

                shutil.rmtree(out, ignore_errors=True)
                saved = self._saved.get("world_size")
                raise CheckpointError(
                    f"{path}: DeepSpeed could not convert its ZeRO partitions of {saved} processes for "
                    f"{self.num_processes} ({type(err).__name__}: {err}).",
                    fix=f"Resume with --set distributed.num_processes={saved}.") from None
        self.barrier()
        return out

    def full_state_dict(self, model, trainable_only: bool = False) -> dict | None:
        if self.zero_stage() < 3:
            return None  # stages 1-2 keep whole parameters on every rank
        return model._zero3_consolidated_16bit_state_dict()

    def check_resume(self, path: Path, state: dict) -> None:
        super().check_resume(path, state)
        saved = self._saved = state.get("distributed") or {}
        if saved.get("world_size", self.num_processes) != self.num_processes and self.zero_stage() == 3:
            from frugaltune.errors import CheckpointError

            raise CheckpointError(self.reshard_problem(path, saved), fix=(
                f"Resume with {saved.get('world_size')} processes (--set distributed.num_processes="
                f"{saved.get('world_size')}), or start a new run with --output-dir."))
        if saved.get("zero_stage") not in (None, self.zero_stage()):
            from frugaltune.errors import CheckpointError

            raise CheckpointError(
                f"{path} holds ZeRO stage {saved['zero_stage']} partitions; this run uses stage {self.zero_stage()}.",
                fix=f"Resume with --set distributed.zero_stage={saved['zero_stage']}, or start a new --output-dir.")

    def reshard_problem(self, path: Path, saved: dict) -> str:
        return (f"{path} holds DeepSpeed ZeRO-3 partitions of {saved.get('world_size')} processes and this run has "
                f"{self.num_processes}: DeepSpeed loads ZeRO partitions only into the process count that wrote them, "
                "and its universal-checkpoint conversion is done here for stages 1-2 only.")


@contextmanager
def _quiet_stdout():
    """ds_to_universal prints its progress; a training run's output keeps to what the user can act on."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        yield
