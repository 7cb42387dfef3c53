"""Mirroring checkpoints to any fsspec URL (a local dir, file://, memory://, s3://, gs://) in the background.

A remote checkpoint is complete when its manifest is present and every file the manifest lists is there with the
listed size. Uploads keep that true at every instant: an existing remote manifest is deleted first, the files
are uploaded and verified, and the manifest goes up last, so an interrupted upload is never listed.

Verification after upload: the remote size must match; files up to `verify_bytes` (default 64 MiB) are read
back and their sha256 compared with the manifest; larger ones are checked by size and, when the store reports a
single-part ETag (S3: the MD5 of the content), by that ETag against the MD5 computed while uploading (multipart
ETags are not content hashes, so they are skipped). The sha256 of every file is also computed while it is being
uploaded, so a local file that no longer matches its manifest is never mirrored. Downloads verify sizes and
sha256 of every file before the checkpoint is moved into place.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import tempfile
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

from frugaltune.errors import CheckpointError, ConfigError
from frugaltune.train.mirror_local import clean_local_leftovers, fetch, fsync_dir, move_into_place, snapshot
from frugaltune.train.mirror_queue import Job, UploadQueue
from frugaltune.train.mirror_manifest import (
    CHUNK_BYTES,
    MANIFEST_NAME,
    STEP_NAME,
    FileEntry,
    read_manifest,
    step_sort_key,
)

OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss"}
"""Protocols without real directories; makedirs is skipped there (s3fs's would create a missing bucket)."""
VERIFY_BYTES = 64 * 2**20
"""Files up to this size are read back after upload and their sha256 compared."""
T = TypeVar("T")
__all__ = ["CheckpointMirror", "clean_local_leftovers", "is_local_url", "unreachable_fix"]


def is_local_url(url: str) -> bool:
    """A path on this machine's filesystems (a bare path or file://), not an object store or network endpoint."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return scheme in ("", "file", "local")


def _fix_for(e: BaseException, url: str) -> str:
    """What to do about a failed mirror operation, worded by the URL's kind (a local path has no endpoint)."""
    text = f"{type(e).__name__} {e}".lower()
    denied = isinstance(e, PermissionError) or "denied" in text or "forbidden" in text or "credential" in text
    missing = isinstance(e, FileNotFoundError) or "nosuchbucket" in text or "no such bucket" in text
    if is_local_url(url):
        if denied:
            return "make that directory writable by this user, or point checkpoints.mirror at a writable one."
        if missing:
            return "create the directory first (mkdir -p), or correct checkpoints.mirror."
        return ("check the disk or mount holding that path (a network mount such as NFS may be down or full) and "
                "that the path is right.")
    if denied:
        return ("check the credentials and permissions for this URL (e.g. AWS_PROFILE or AWS_ACCESS_KEY_ID/"
                "AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS) allow listing, reading and writing it.")
    if missing:
        return "create the bucket (or directory) first, or correct checkpoints.mirror."
    return ("check that the storage is reachable from this machine (network, endpoint: AWS_ENDPOINT_URL "
            "or storage_options client_kwargs.endpoint_url) and that the URL is right.")


def unreachable_fix(url: str) -> str:
    """What to do when the mirror at `url` does not answer in time."""
    where = ("the disk or mount holding it (a network mount such as NFS may hang)" if is_local_url(url)
             else "that the storage is reachable from this machine (network, endpoint)")
    return f"check {where}, or remove checkpoints.mirror to train with local checkpoints only."


class CheckpointMirror:
    """A copy of a run's checkpoints at an fsspec URL; one step directory per checkpoint, like the local ones."""

    def __init__(self, url: str, *, storage_options: dict | None = None, manifest_name: str = MANIFEST_NAME,
                 keep_last: int | None = None, verify_bytes: int = VERIFY_BYTES,
                 retry_delays_s: tuple[float, ...] = ()):
        """Open the URL's filesystem; nothing is contacted until the first operation (see `check`).

        Args:
            url: a local path, or file://, memory://, s3://bucket/prefix, gs://bucket/prefix, ...
            storage_options: passed to the fsspec filesystem (e.g. {"client_kwargs": {"endpoint_url": ...}}).
            manifest_name: the checkpoint's completion marker, listing its files with sizes and sha256.
            keep_last: after each successful upload, prune the mirror to this many complete checkpoints.
            verify_bytes: files up to this size are read back after upload and their sha256 compared.
            retry_delays_s: seconds between retries of a failed upload (mirror_queue.RETRY_DELAYS_S for a run);
                empty: a failure is final and `wait()` raises it.

        Raises:
            ConfigError: an unknown protocol, or one whose fsspec package is not installed, or bad keep_last.
        """
        import fsspec

        if keep_last is not None and keep_last < 1:
            raise ConfigError(f"mirror keep_last={keep_last} must be at least 1.", fix="set keep_last to 1 or more.")
        self.url = url
        self.manifest_name = manifest_name
        self.keep_last = keep_last
        self.verify_bytes = verify_bytes
        target = url if "://" in url else os.path.abspath(url)
        try:
            self.fs, root = fsspec.core.url_to_fs(target, **(storage_options or {}))
        except (ImportError, ValueError) as e:
            raise ConfigError(f"checkpoint mirror {url}: cannot open this URL ({e}).",
                              fix="use a local path or file://, memory://, s3:// (s3fs), gs:// (gcsfs) and install "
                              "that protocol's fsspec package.") from e
        self.root = root.rstrip("/") or root
        protocols = {self.fs.protocol} if isinstance(self.fs.protocol, str) else set(self.fs.protocol)
        self._has_dirs = not protocols & OBJECT_STORES
        self._queue = UploadQueue(url, retry_delays_s)
        self.log_uploaded = 0  # bytes of the local metrics.jsonl already on the mirror (mirror_log.py)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run fn, turning storage errors into CheckpointError naming the URL and what to do."""
        try:
            return fn()
        except (CheckpointError, ConfigError):
            raise
        except Exception as e:  # s3fs/gcsfs/botocore raise many types; all mean the same to the user
            raise CheckpointError(f"checkpoint mirror {self.url}: {what} failed: {type(e).__name__}: {e}",
                                  fix=_fix_for(e, self.url)) from e

    def _path(self, *parts: str) -> str:
        return posixpath.join(self.root, *parts)

    def _makedirs(self, path: str) -> None:
        if self._has_dirs:
            self.fs.makedirs(path, exist_ok=True)

    def check(self) -> None:
        """Write, read and delete a probe file, so a bad URL or missing permission fails at start-up, not mid-run.

        Raises:
            CheckpointError: the URL is unreachable or not writable.
        """
        probe = self._path(f".frugaltune-probe-{uuid.uuid4().hex}")

        def go() -> None:
            self._makedirs(self.root)
            self.fs.pipe_file(probe, b"ok")
            if self.fs.cat_file(probe) != b"ok":
                raise OSError("the probe file read back differently")
            self.fs.rm_file(probe)

        self._call("a write test", go)

    # ---- upload -------------------------------------------------------------------------------------------

    def upload_async(self, local_step_dir: str | Path) -> Future:
        """Start copying a complete local checkpoint to the mirror in a background thread; return at once.

        The files are hard-linked into a private snapshot first (same filesystem, no data copied), so the
        caller may delete or rotate the local checkpoint while it uploads. Uploads run one at a time, in order.

        Raises:
            CheckpointError: the directory or its manifest is missing (right away); upload failures come from
                `wait()` (or the returned future).
        """
        step_dir = Path(local_step_dir)
        if not (step_dir / self.manifest_name).is_file():
            raise CheckpointError(f"{step_dir}: no {self.manifest_name}, so it is not a complete checkpoint.",
                                  fix="mirror a checkpoint only after it was written completely.")
        entries = read_manifest((step_dir / self.manifest_name).read_bytes(), str(step_dir / self.manifest_name),
                                name=self.manifest_name)
        snap = snapshot(step_dir, [e.path for e in entries] + [self.manifest_name])
        source, name = snap or step_dir, step_dir.name
        discard = (lambda: shutil.rmtree(snap, ignore_errors=True)) if snap is not None else (lambda: None)
        return self._queue.submit(Job("checkpoint", name, lambda: self._upload_job(source, name, entries), discard))

    def submit(self, job: Job) -> Future:
        """Queue another background upload (mirror_log.py's ledger segments), in order with the checkpoints."""
        return self._queue.submit(job)

    def _upload_job(self, source: Path, name: str, entries: list[FileEntry]) -> str:
        self._call(f"upload of {name}", lambda: self._upload(source, name, entries))
        if self.keep_last:
            self.prune(self.keep_last)
        return name

    def _upload(self, source: Path, name: str, entries: list[FileEntry]) -> None:
        remote_dir = self._path(name)
        manifest_remote = self._path(name, self.manifest_name)
        if self.fs.exists(manifest_remote):  # re-upload: the step is incomplete until its manifest is back
            self.fs.rm_file(manifest_remote)
        for entry in entries:
            self._upload_file(source / entry.path, posixpath.join(remote_dir, entry.path), entry)
        data = (source / self.manifest_name).read_bytes()
        self.fs.pipe_file(manifest_remote, data)
        self.fs.invalidate_cache(remote_dir)
        if self.fs.cat_file(manifest_remote) != data:
            raise CheckpointError(f"checkpoint mirror {self.url}: {manifest_remote} read back differently.",
                                  fix="retry; if it persists, check the storage's health.")

    def _upload_file(self, local: Path, remote: str, entry: FileEntry) -> None:
        self._makedirs(posixpath.dirname(remote))
        sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        with local.open("rb") as src, self.fs.open(remote, "wb") as dst:
            while chunk := src.read(CHUNK_BYTES):
                sha.update(chunk)
                md5.update(chunk)
                dst.write(chunk)
        if entry.sha256 and sha.hexdigest() != entry.sha256:
            raise CheckpointError(f"{local}: its content no longer matches its manifest (sha256), so it was not "
                                  "mirrored.", fix="the local checkpoint is corrupt; save a new one.")
        self._verify_remote(remote, entry, md5.hexdigest())

    def _verify_remote(self, remote: str, entry: FileEntry, md5_hex: str) -> None:
        self.fs.invalidate_cache(remote)
        info = self.fs.info(remote)
        problem = None
        if info.get("size") != entry.size_bytes:
            problem = f"size {info.get('size')} != {entry.size_bytes}"
        elif entry.size_bytes <= self.verify_bytes and entry.sha256:
            if hashlib.sha256(self.fs.cat_file(remote)).hexdigest() != entry.sha256:
                problem = "sha256 of the uploaded copy differs"
        else:
            etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
            if etag and "-" not in etag and len(etag) == 32 and etag != md5_hex:
                problem = f"ETag {etag} != MD5 {md5_hex}"
        if problem:
            raise CheckpointError(f"checkpoint mirror {self.url}: verifying {remote} failed: {problem}.",
                                  fix="retry the upload; if it persists, check the storage's health.")

    def wait(self, timeout: float | None = None, outage_grace_s: float | None = None) -> None:
        """Block until every started upload has finished; re-raise a failure that used up its retries (once).

        Args:
            timeout: give up after this many seconds.
            outage_grace_s: while the store is failing, give up after this many seconds of it (the end of a run
                does not wait out a backoff schedule).

        Raises:
            CheckpointError: an upload failed, or uploads were still going when a limit ran out.
        """
        self._queue.wait(timeout, outage_grace_s)

    def close(self, timeout: float | None = None, outage_grace_s: float | None = None) -> None:
        """wait(...), then stop the upload thread (a daemon: it never holds up the process's exit)."""
        self._queue.close(timeout, outage_grace_s)

    def news(self) -> list[str]:
        """Messages about the store's health since the last call: an outage began (with the error), it ended."""
        return self._queue.news()

    @property
    def outage_since(self) -> float | None:
        """Unix time of the first failure of the outage going on, or None when the last upload worked."""
        return self._queue.outage_since

    @property
    def last_error(self) -> str | None:
        return self._queue.last_error

    # ---- listing, download, pruning -----------------------------------------------------------------------

    def _step_dirs(self) -> list[str]:
        """Names of the directories directly under the mirror root ([] when the root does not exist yet)."""
        self.fs.invalidate_cache(self.root)
        try:
            entries = self.fs.ls(self.root, detail=True)
        except FileNotFoundError:
            return []
        names = [posixpath.basename(e["name"].rstrip("/")) for e in entries if e.get("type") == "directory"]
        return sorted(names, key=step_sort_key)

    def _entries(self, name: str) -> list[FileEntry] | None:
        """The manifest's entries of step `name`, or None when it has no manifest."""
        try:
            data = self.fs.cat_file(self._path(name, self.manifest_name))
        except FileNotFoundError:
            return None
        return read_manifest(data, f"{self.url}/{name}/{self.manifest_name}", name=self.manifest_name)

    def _is_complete(self, name: str) -> bool:
        try:
            entries = self._entries(name)
        except CheckpointError:
            return False  # an unreadable manifest is the same as none: the step is ignored
        if entries is None:
            return False
        remote_dir = self.fs._strip_protocol(self._path(name)).rstrip("/")
        found = self.fs.find(remote_dir, detail=True)
        sizes = {self.fs._strip_protocol(p)[len(remote_dir) + 1:]: info.get("size") for p, info in found.items()}
        return all(sizes.get(e.path) == e.size_bytes for e in entries)

    def list_complete(self) -> list[str]:
        """Step directory names whose manifest is present and whose listed files all exist with the listed sizes,
        oldest first (newest last), ordered by step number.

        Raises:
            CheckpointError: the mirror cannot be listed (unreachable, no permission).
        """
        return self._call("listing", lambda: [n for n in self._step_dirs() if self._is_complete(n)])

    def download(self, step_name: str, dest_dir: str | Path) -> Path:
        """Copy one complete checkpoint to dest_dir/step_name, verified, appearing there all at once.

        Files are downloaded into a staging directory inside dest_dir, each checked against the manifest (size
        and sha256), then the staging directory is renamed into place with os.replace (an existing
        dest_dir/step_name is replaced).

        Returns:
            The local checkpoint directory.

        Raises:
            CheckpointError: the step is missing or incomplete, a file fails verification, or the mirror is
                unreachable.
        """
        dest = Path(dest_dir)
        dest.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=dest, prefix=f".download-{step_name}-"))
        try:
            self._call(f"download of {step_name}", lambda: self._download_into(step_name, staging))
            return move_into_place(staging, dest / step_name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _download_into(self, name: str, staging: Path) -> None:
        entries = self._entries(name)
        if entries is None:
            raise CheckpointError(f"checkpoint mirror {self.url}: {name} has no {self.manifest_name} (missing or "
                                  "an interrupted upload).", fix=f"pick one of list_complete(): {self.list_complete()}.")
        for entry in entries:
            local = staging / entry.path
            local.parent.mkdir(parents=True, exist_ok=True)
            size, sha = fetch(self.fs, self._path(name, entry.path), local)
            if size != entry.size_bytes or (entry.sha256 and sha != entry.sha256):
                what = f"size {size} != {entry.size_bytes}" if size != entry.size_bytes else "sha256 differs"
                raise CheckpointError(f"checkpoint mirror {self.url}: {name}/{entry.path} failed verification "
                                      f"({what}).", fix="the mirrored copy is corrupt; resume from an older "
                                      "checkpoint (delete this one from the mirror).")
        (staging / self.manifest_name).write_bytes(self.fs.cat_file(self._path(name, self.manifest_name)))
        fsync_dir(staging)

    def prune(self, keep_last: int) -> list[str]:
        """Delete all but the newest `keep_last` complete checkpoints, and interrupted uploads older than those kept.

        Incomplete step directories newer than the oldest kept one are left alone (an upload may be running).
        A manifest is deleted before the rest of its directory, so a half-deleted step is never listed.

        Returns:
            The names deleted.
        """
        if keep_last < 1:
            raise ConfigError(f"prune keep_last={keep_last} must be at least 1.", fix="keep at least 1 checkpoint.")

        def go() -> list[str]:
            complete = [n for n in self._step_dirs() if self._is_complete(n)]
            kept = complete[-keep_last:]
            oldest_kept = step_sort_key(kept[0]) if kept else None
            doomed = [n for n in self._step_dirs() if n not in kept and (n in complete or (
                STEP_NAME.match(n) and oldest_kept is not None and step_sort_key(n) < oldest_kept))]
            for n in doomed:
                if self.fs.exists(self._path(n, self.manifest_name)):
                    self.fs.rm_file(self._path(n, self.manifest_name))
                self.fs.rm(self._path(n), recursive=True)
            return doomed

        return self._call("pruning", go)
