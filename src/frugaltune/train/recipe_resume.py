"""Resuming a run (recipe.Recipe.setup's last part): which checkpoint (the newest complete one on disk or in the
mirror, or the one --resume names), and restoring weights, optimizer, scheduler, generators and data position."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from frugaltune.errors import CheckpointError
from frugaltune.train import checkpoint as ckpt
from frugaltune.train import faults
from frugaltune.train.state import TrainProgress, config_differences, rng_from_tensors

log = logging.getLogger("frugaltune.train")


def resume(r) -> None:
    """Load the checkpoint `r.resume` asks for: "never" none, "auto" the newest usable, else that directory."""
    if r.resume == "never":
        return
    if r.resume != "auto":
        path = Path(r.resume)
        problem = ckpt.verify(path) if path.is_dir() else "no such directory"
        if problem:
            raise CheckpointError(f"--resume {path}: not a usable checkpoint ({problem}).",
                                  fix=f"Pick a complete step-NNNNNN directory under {r.ckpt_root}, or use "
                                      "--resume auto.")
        return r.load_checkpoint(path, source="path")
    path = ckpt.newest_valid(r.ckpt_root, warn=log.warning)
    source = "local"
    if r.mirror is not None:  # a new disk, or an old one that the mirror has moved past
        mirrored = _download_from_mirror(r, newer_than=ckpt.step_of(path) if path else -1)
        if mirrored is not None:
            path, source = mirrored, "mirror"
    if r.engine.num_processes > 1:  # rank 0 may have downloaded from the mirror: all load the same
        r.engine.barrier()
        path = path if r.is_main else ckpt.newest_valid(r.ckpt_root, warn=log.warning)
    if path is not None:
        r.load_checkpoint(path, source=source)


def load_rng(r, path: Path, saved_processes: int) -> None:
    """This rank's generator states; a run resumed with another process count cannot continue every stream."""
    rank, processes = r.engine.process_index, r.engine.num_processes
    if saved_processes != processes and r.is_main:
        log.warning("checkpoint %s was written by %d process(es) and this run has %d: training continues "
                    "correctly, but not bit for bit as an uninterrupted run would (data order, dropout).",
                    path.name, saved_processes, processes)
    own = path / ckpt.rng_file_name(rank)
    rng_path = own if own.is_file() else path / ckpt.rng_file_name(0)
    ckpt.set_rng_state(rng_from_tensors(r.torch.load(rng_path, weights_only=True)))


def _download_from_mirror(r, newer_than: int) -> Path | None:
    """The newest usable mirrored checkpoint past step `newer_than`, downloaded; None when there is none."""
    names = [n for n in r.mirror.list_complete() if (ckpt.step_of(n) or -1) > newer_than]
    for name in reversed(names):
        try:
            path = r.mirror.download(name, r.ckpt_root)
        except CheckpointError as err:
            log.warning("mirror checkpoint %s unusable (%s); trying the previous one.", name, err)
            continue
        problem = ckpt.verify(path)
        if problem is None:
            return path
        log.warning("mirror checkpoint %s unusable (%s); trying the previous one.", name, problem)
    return None


def load_checkpoint(r, path: Path, source: str = "local") -> None:
    """Restore weights (adapter or full), optimizer, scheduler, RNG and data position from `path`."""
    t0 = time.perf_counter()
    state = ckpt.read_state(path)
    _check_state(r, path, state)
    r.engine.check_resume(path, state)
    r.engine.load_state(path, r.model, r.optimizer, trainable_only=r.cfg.method.kind != "full")
    r.scheduler.load_state_dict(r.torch.load(path / "scheduler.pt", weights_only=True))
    load_rng(r, path, state.get("num_processes", 1))
    r.progress = TrainProgress.from_json(state["progress"])
    r.attempt.last_saved_step = r.progress.step
    if source == "mirror" and r.ledger.attempt == 1:  # a new machine: adopt the past
        faults.restore_history(r.mirror, r.ledger, path)
    seconds = time.perf_counter() - t0
    r.ledger.write("resume", durable=True, from_step=r.progress.step, checkpoint=path.name, source=source,
                   seconds=seconds, **r.counters())
    r._echo(f"resumed from {path.name} ({source}, step {r.progress.step}/{r.total_steps}) in {seconds:.2f}s")


def _check_state(r, path: Path, state: dict) -> None:
    """A checkpoint of another method is refused; another config or other training examples are warned about."""
    if state.get("method") != r.cfg.method.kind:
        raise CheckpointError(f"{path} was written by a {state.get('method')} run; this config trains "
                              f"{r.cfg.method.kind}.", fix="Use a new --output-dir, or the config that "
                              "wrote this run (its config.yaml).")
    for diff in config_differences(state.get("config", {}), r.cfg.model_dump(mode="json")):
        log.warning("config differs from checkpoint %s in %s; the config's value is used.", path.name, diff)
    if state.get("data_fingerprint") not in (None, r._data_fingerprint()):
        log.warning("the training examples differ from those checkpoint %s was trained on (data file or "
                    "tokenizer changed); resuming on the new data, so the run will not match an "
                    "uninterrupted one.", path.name)
