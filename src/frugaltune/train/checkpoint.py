"""Checkpoints that are either complete or ignored.

A checkpoint is a directory `step-000120/` under `<run>/checkpoints/`. It is written into a hidden staging
directory, every file is fsynced, a `manifest.json` listing every file with its size and sha256 is written LAST,
and only then is the directory renamed into place with `os.replace` (atomic on POSIX) and the parent fsynced.
A directory without a valid manifest, or whose files disagree with it (a truncated file, a flipped byte), is not
a checkpoint: listing skips it and resume falls back to the previous one with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from frugaltune.errors import CheckpointError

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
STEP_RE = re.compile(r"^step-(\d{6,})$")
STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"


def step_dir_name(step: int) -> str:
    return f"step-{step:06d}"


def step_of(path: str | Path) -> int | None:
    m = STEP_RE.match(Path(path).name)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class SavedCheckpoint:
    path: Path
    step: int
    bytes: int
    seconds: float


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def fsync_path(path: Path) -> None:
    """Flush a file's (or directory's) data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a directory entry (after a rename) where the filesystem allows it."""
    try:
        fsync_path(path)
    except OSError:  # some filesystems do not allow fsync on a directory; the rename is still atomic
        pass


def build_manifest(root: Path, step: int, extra: dict | None = None) -> dict:
    """File list (relative path -> bytes, sha256) of everything under `root` except the manifest itself."""
    files = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            files[p.relative_to(root).as_posix()] = {"size": p.stat().st_size, "sha256": sha256_file(p)}
    return {"format": MANIFEST_FORMAT, "step": step, "created_unix": time.time(), "files": files, **(extra or {})}


def write_checkpoint(ckpt_root: Path, step: int, write_files: Callable[[Path], None],
                     extra_manifest: dict | None = None) -> SavedCheckpoint:
    """Stage, fsync, mark complete, then atomically publish `ckpt_root/step-NNNNNN` (one process).

    Args:
        ckpt_root: the run's `checkpoints/` directory.
        step: optimizer steps done.
        write_files: writes the checkpoint's files into the staging directory it is given.
        extra_manifest: more keys for the manifest (e.g. the method).

    Returns:
        Where it went, its size and how long the save took.
    """
    t0 = time.perf_counter()
    staging = begin_checkpoint(ckpt_root, step)
    write_files(staging)
    return publish_checkpoint(ckpt_root, step, extra_manifest, started=t0)


def staging_dir(ckpt_root: Path, step: int) -> Path:
    """Where step `step` is written before it is published; the same path on every rank of a run, so that all
    ranks of a sharded engine write their parts of one checkpoint into it."""
    return ckpt_root / f"{STAGING_PREFIX}{step_dir_name(step)}"


def begin_checkpoint(ckpt_root: Path, step: int) -> Path:
    """An empty staging directory for `step` (rank 0 calls this; the others write into it after a barrier)."""
    ckpt_root.mkdir(parents=True, exist_ok=True)
    staging = staging_dir(ckpt_root, step)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def publish_checkpoint(ckpt_root: Path, step: int, extra_manifest: dict | None = None,
                       started: float | None = None) -> SavedCheckpoint:
    """fsync every staged file, write the manifest LAST, then rename the staging directory into place (rank 0, after
    every rank has written its part)."""
    t0 = time.perf_counter() if started is None else started
    staging, final = staging_dir(ckpt_root, step), ckpt_root / step_dir_name(step)
    for p in staging.rglob("*"):
        if p.is_file():
            fsync_path(p)
    manifest = build_manifest(staging, step, extra_manifest)
    _write_json_durable(staging / MANIFEST, manifest)  # last: its presence means every other file is whole
    fsync_dir(staging)
    if final.exists():  # a corrupt or older save of the same step: move it aside, then replace
        trash = ckpt_root / f"{TRASH_PREFIX}{final.name}-{os.getpid()}"
        os.replace(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    os.replace(staging, final)
    fsync_dir(ckpt_root)
    size = sum(f["size"] for f in manifest["files"].values())
    return SavedCheckpoint(final, step, size, time.perf_counter() - t0)


def _write_json_durable(path: Path, obj: dict) -> None:
    with path.open("w") as f:
        json.dump(obj, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


def verify(path: Path, *, hashes: bool = True) -> str | None:
    """Why `path` is not a complete checkpoint, or None when it is.

    Args:
        path: a step directory.
        hashes: also compare sha256 (listing only checks sizes; loading checks hashes).
    """
    mpath = path / MANIFEST
    if not mpath.is_file():
        return "no manifest (the save did not finish)"
    try:
        manifest = json.loads(mpath.read_text())
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as err:
        return f"unreadable manifest ({err})"
    for rel, meta in files.items():
        p = path / rel
        if not p.is_file():
            return f"missing file {rel}"
        if p.stat().st_size != meta["size"]:
            return f"{rel} has {p.stat().st_size} bytes, manifest says {meta['size']} (truncated?)"
        if hashes and sha256_file(p) != meta["sha256"]:
            return f"{rel} does not match its sha256 (corrupt)"
    return None


def list_checkpoints(ckpt_root: Path) -> list[Path]:
    """Every `step-NNNNNN` directory under `ckpt_root`, oldest first, complete or not."""
    if not ckpt_root.is_dir():
        return []
    dirs = [p for p in ckpt_root.iterdir() if p.is_dir() and step_of(p) is not None]
    return sorted(dirs, key=lambda p: step_of(p) or 0)


def complete_checkpoints(ckpt_root: Path) -> list[Path]:
    """Checkpoints whose manifest and file sizes check out, oldest first (hashes are checked when loading)."""
    return [p for p in list_checkpoints(ckpt_root) if verify(p, hashes=False) is None]


def newest_valid(ckpt_root: Path, warn: Callable[[str], None] = log.warning) -> Path | None:
    """The newest checkpoint that passes a full (sha256) check; each newer broken one is reported through `warn`."""
    for path in reversed(list_checkpoints(ckpt_root)):
        problem = verify(path)
        if problem is None:
            return path
        warn(f"skipping checkpoint {path.name}: {problem}; falling back to the previous one.")
    return None


def prune(ckpt_root: Path, keep_last: int, keep: Path | None = None) -> list[Path]:
    """Delete all but the newest `keep_last` complete checkpoints, and broken ones older than those.

    Args:
        ckpt_root: the checkpoints directory.
        keep_last: how many complete checkpoints stay.
        keep: a checkpoint never deleted (e.g. one a background upload is still reading).

    Returns:
        The directories removed.
    """
    complete = complete_checkpoints(ckpt_root)
    kept = set(complete[-keep_last:]) | ({keep} if keep else set())
    oldest_kept = min((step_of(p) or 0 for p in kept), default=0)
    removed = []
    for path in list_checkpoints(ckpt_root):
        if path in kept or (path not in complete and (step_of(path) or 0) > oldest_kept):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def clean_staging(ckpt_root: Path) -> list[Path]:
    """Remove staging/trash directories left by a save that was killed."""
    if not ckpt_root.is_dir():
        return []
    stale = [p for p in ckpt_root.iterdir() if p.name.startswith((STAGING_PREFIX, TRASH_PREFIX))]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


def read_state(path: Path) -> dict:
    """The `trainer_state.json` of a verified checkpoint."""
    try:
        return json.loads((path / "trainer_state.json").read_text())
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{path}: cannot read trainer_state.json ({err}).",
                              fix="Resume from another checkpoint (--resume PATH) or start over (--resume never).")


# ----- random number generators (accelerate checkpointing.py: python, numpy, torch, cuda) -----

def rng_file_name(rank: int) -> str:
    """Each process has its own generators: rank 0's (and a single process's) go in rng.pt, rank N's in
    rng-rank-N.pt, so every rank of a multi-process run resumes its own random streams (dropout masks)."""
    return "rng.pt" if rank == 0 else f"rng-rank-{rank}.pt"


def rng_state() -> dict:
    import random

    import numpy as np
    import torch

    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import random

    import numpy as np
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
