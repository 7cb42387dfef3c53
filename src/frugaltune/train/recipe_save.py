"""Saving a run (recipe.Recipe.save_checkpoint and the end of a run): the atomic checkpoint written by every rank
and published by rank 0, `final/` (the adapter or the full model, with the tokenizer), waiting for the mirror."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from frugaltune.errors import MirrorError
from frugaltune.report import ledger
from frugaltune.train import checkpoint as ckpt
from frugaltune.train import faults, guards
from frugaltune.train.recipe_step import agree
from frugaltune.train.state import rng_to_tensors

log = logging.getLogger("frugaltune.train")


def save_checkpoint(r, reason: str) -> Path | None:
    """Write `checkpoints/step-NNNNNN/` atomically, keep the last K, start its mirror upload.

    A collective: rank 0 opens the staging directory, every rank writes its part (the engine's state: whole on
    rank 0 under ddp, shards under fsdp/deepspeed), then rank 0 writes the manifest and publishes the step.
    """
    p = r.progress
    if p.step == r.attempt.last_saved_step or p.step == 0:
        return None
    guards.check_weights(r)  # never a checkpoint of weights that are not finite
    t0, saved, eng = time.perf_counter(), None, r.engine
    rng_states = eng.gather_objects(rng_to_tensors(ckpt.rng_state()))  # every rank's generators, in rank order
    what = f"saving checkpoint {ckpt.step_dir_name(p.step)}"  # a full disk fails every rank alike (faults.py)
    staging, failed = faults.attempt(what, r.ckpt_root, lambda: ckpt.begin_checkpoint(
        r.ckpt_root, p.step) if eng.is_main else ckpt.staging_dir(r.ckpt_root, p.step))
    eng.barrier()
    if failed is None:
        failed = faults.attempt(what, r.ckpt_root, lambda: r._write_checkpoint_files(staging, rng_states))[1]
    eng.barrier()
    if eng.is_main and failed is None:
        saved, failed = faults.attempt(what, r.ckpt_root, lambda: _publish(r, p.step, reason, t0))
    if agree(r, failed is not None):
        raise faults.failed_save(failed, what, r.ckpt_root, clean=eng.is_main)
    eng.barrier()
    r.attempt.last_saved_step = p.step
    r.attempt.last_save_time = time.monotonic()
    r.attempt.train_seconds_at_save = r.attempt.train_seconds
    return saved.path if saved else None


def _publish(r, step: int, reason: str, t0: float):
    """Rank 0: manifest + atomic rename, the ledger's record, the mirror upload, pruning and the summary."""
    saved = ckpt.publish_checkpoint(r.ckpt_root, step, {"method": r.cfg.method.kind, "reason": reason,
                                                        "engine": r.engine.name}, started=t0)
    r.ledger.write("checkpoint", durable=True, step=step, path=saved.path.name, reason=reason,
                   seconds=saved.seconds, bytes=saved.bytes, **r.counters())
    if r.mirror is not None:  # hard-link snapshot: pruning below cannot race it
        faults.after_save(r.mirror, saved.path, r.ledger)
    ckpt.prune(r.ckpt_root, r.cfg.checkpoints.keep_last)
    r._write_summary()
    return saved


def write_checkpoint_files(r, out: Path, rng_states: list[dict]) -> None:
    """Every rank: the engine's model and optimizer state; rank 0 also the scheduler, the generators of every rank,
    the progress and the run's totals."""
    import json

    r.engine.save_state(out, r.model, r.optimizer, trainable_only=r.cfg.method.kind != "full")
    if not r.engine.is_main:
        return
    torch = r.torch
    torch.save(r.scheduler.state_dict(), out / "scheduler.pt")
    for rank, rng in enumerate(rng_states):
        torch.save(rng, out / ckpt.rng_file_name(rank))
    # The run's totals travel with its checkpoint (a few KB, whatever the run's length): a new machine adopts them.
    (out / ledger.HISTORY).write_text(json.dumps(r.ledger.history()))
    state = {"progress": r.progress.to_json(r.plan.batches_per_epoch, r.cfg.training.seed),
             "total_steps": r.total_steps, "method": r.cfg.method.kind, "time": time.time(),
             "config": r.cfg.model_dump(mode="json"), "data_fingerprint": r._data_fingerprint(),
             "num_processes": len(rng_states), "distributed": r.engine.describe()}
    (out / "trainer_state.json").write_text(json.dumps(state, indent=1))


def save_final(r) -> None:
    """`final/`: the adapter (peft format) or the full model, with the tokenizer; written beside, then swapped in.
    A collective: a sharding engine gathers the whole state onto rank 0 first."""
    import shutil

    full = r.engine.full_state_dict(r.model, trainable_only=r.cfg.method.kind != "full")
    if not r.engine.is_main:
        return
    final, tmp = r.run_dir / "final", r.run_dir / f".final-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model = r.engine.unwrap(r.model)
    kwargs = {} if full is None else {"state_dict": full}
    if r.cfg.method.kind == "full":
        model.save_pretrained(tmp, **kwargs)
    else:
        model.save_pretrained(tmp, save_embedding_layers=False, **kwargs)
    r.tokenizer.save_pretrained(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def wait_mirror(r, timeout: float | None) -> MirrorError | None:
    """Wait for the uploads (a few seconds' grace when the mirror is failing); the MirrorError if it still is."""
    if r.mirror is None:
        return None
    try:
        faults.finish_mirror(r.mirror, timeout)
    except MirrorError as err:
        r.ledger.write("mirror", durable=True, step=r.progress.step, ok=False, message=err.message)
        log.warning("%s", err.message)
        return err
    return None
