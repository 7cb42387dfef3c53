"""Local-disk side of the checkpoint mirror: upload snapshots, verified streaming downloads, atomic placement."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from frugaltune.train.checkpoint import fsync_dir
from frugaltune.errors import CheckpointError
from frugaltune.train.mirror_manifest import CHUNK_BYTES

LOCAL_LEFTOVERS = (".mirror-", ".download-", ".replaced-")


def clean_local_leftovers(ckpt_root: str | Path) -> list[Path]:
    """Remove the upload snapshots and download staging dirs a killed process left in a checkpoints directory.

    Call it at start-up, before any upload or download of this process begins.
    """
    root = Path(ckpt_root)
    stale = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(LOCAL_LEFTOVERS)] if root.is_dir() else []
    for p in stale:
        shutil.rmtree(p, ignore_errors=True)
    return stale


def snapshot(step_dir: Path, rel_paths: list[str]) -> Path | None:
    """Hard-link the files into a private sibling directory; None when hard links are not possible there."""
    snap = Path(tempfile.mkdtemp(dir=step_dir.parent, prefix=f".mirror-{step_dir.name}-"))
    try:
        for rel in rel_paths:
            (snap / rel).parent.mkdir(parents=True, exist_ok=True)
            os.link(step_dir / rel, snap / rel)
        return snap
    except FileNotFoundError as e:
        shutil.rmtree(snap, ignore_errors=True)
        raise CheckpointError(f"{step_dir}: {e.filename} is listed in its manifest but missing.",
                              fix="the local checkpoint is incomplete; save a new one.") from e
    except OSError:
        shutil.rmtree(snap, ignore_errors=True)
        return None  # e.g. a filesystem without hard links: upload from the directory itself


def fetch(fs: Any, remote: str, local: Path) -> tuple[int, str]:
    """Stream a remote file to a local one (fsynced); return its size and sha256."""
    sha, size = hashlib.sha256(), 0
    with fs.open(remote, "rb") as src, local.open("wb") as dst:
        while chunk := src.read(CHUNK_BYTES):
            sha.update(chunk)
            size += len(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    return size, sha.hexdigest()


def move_into_place(staging: Path, final: Path) -> Path:
    """os.replace staging -> final; an existing final is moved aside first (os.replace needs an empty target)."""
    old = None
    if final.exists():
        old = final.with_name(f".replaced-{final.name}-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
    os.replace(staging, final)
    fsync_dir(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final
