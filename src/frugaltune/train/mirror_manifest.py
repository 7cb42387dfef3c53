"""A checkpoint's manifest: the file that lists its files with sizes and sha256, written last as its completion mark.

The runner writes it (train/checkpoint.py: `build_manifest`):
    {"format": 1, "step": 120, "created_unix": ...,
     "files": {"adapter_model.safetensors": {"size": 123, "sha256": "ab..."}, "sub/dir/file.pt": {...}}, ...}
`read_manifest` also accepts "files" as a list of {"path" | "name", "size" | "bytes" | "size_bytes", "sha256"}
and any other top-level keys, so a checkpoint another writer made is read too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

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
