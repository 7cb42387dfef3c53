"""A checkpoint's manifest: the file that lists its files with sizes and sha256, written last as its completion mark.

Format written by `write_manifest` (and the one `read_manifest` prefers):
    {"format": "frugaltune-checkpoint", "version": 1,
     "files": {"adapter_model.safetensors": {"size": 123, "sha256": "ab..."}, "sub/dir/file.pt": {...}}, ...}
`read_manifest` also accepts "files" as a list of {"path" | "name", "size" | "bytes" | "size_bytes", "sha256"}
so a checkpoint writer may use either shape and add its own top-level keys (step, time, ...).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from frugaltune.errors import CheckpointError

MANIFEST_NAME = "manifest.json"
CHUNK_BYTES = 8 * 2**20
STEP_NAME = re.compile(r"^(?:step|checkpoint)-(\d+)$")
"""Names of checkpoint directories (step-000120/). Only these are ever deleted without a manifest."""


@dataclass(frozen=True)
class FileEntry:
    """One file of a checkpoint as its manifest lists it."""

    path: str
    """Relative POSIX path inside the step directory."""
    size_bytes: int
    sha256: str | None
    """Hex digest, or None when the manifest gives none (then only the size is checked)."""


def step_sort_key(name: str) -> tuple[int, str]:
    """Order step directories by their number (step-000120 -> 120), then by name; others sort first."""
    m = re.search(r"(\d+)$", name)
    return (int(m.group(1)) if m else -1, name)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a local file, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(step_dir: str | Path, *, name: str = MANIFEST_NAME, extra: dict | None = None) -> dict:
    """List every file under `step_dir` (sizes, sha256) into its manifest, atomically (temp, fsync, os.replace).

    Write it after every other file of the checkpoint is complete: its presence marks the checkpoint complete.

    Returns:
        The manifest written.
    """
    root = Path(step_dir)
    files = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel != name and not p.name.startswith(f".{name}."):
            files[rel] = {"size": p.stat().st_size, "sha256": sha256_file(p)}
    manifest = {"format": "frugaltune-checkpoint", "version": 1, **(extra or {}), "files": files}
    tmp = root / f".{name}.tmp"
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, root / name)
    return manifest


def read_manifest(data: bytes, where: str, *, name: str = MANIFEST_NAME) -> list[FileEntry]:
    """Parse manifest bytes into its file entries (the manifest itself excluded).

    Raises:
        CheckpointError: not JSON, no "files", or an entry without a size or with an unsafe path.
    """
    try:
        doc = json.loads(data)
        files = doc["files"]
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{where}: not a checkpoint manifest ({e!r}).",
                              fix="delete this checkpoint directory; it was not written by frugaltune.") from e
    items = files.items() if isinstance(files, dict) else ((_entry_path(f), f) for f in files)
    entries = [_entry(path, info, where) for path, info in items]
    return [e for e in entries if e.path != name]


def _entry_path(info: object) -> str | None:
    if isinstance(info, dict):
        return info.get("path") or info.get("name") or info.get("file")
    return None


def _entry(path: str | None, info: object, where: str) -> FileEntry:
    size = info if isinstance(info, int) else None
    sha = None
    if isinstance(info, dict):
        size = next((info[k] for k in ("size", "bytes", "size_bytes") if k in info), None)
        sha = info.get("sha256")
    parts = (path or "").split("/")
    if not path or path.startswith("/") or ".." in parts or not isinstance(size, int) or isinstance(size, bool):
        raise CheckpointError(f"{where}: bad manifest entry {path!r}: {info!r}.",
                              fix="each file needs a relative path inside the checkpoint and an integer size.")
    return FileEntry(path=path, size_bytes=size, sha256=sha)
