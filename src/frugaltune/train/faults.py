"""Faults that end a run cleanly: the local disk (full, read-only, not writable) and the checkpoint mirror (down at
start, down for a while, down at the end). Each ends as one line naming what failed and what to do, with an exit
code a supervisor can act on (errors.py: StorageError 74, MirrorError 69), and the previous checkpoint intact.

The recipe calls these at its edges: `local_writes` around everything it writes, `open_mirror` at start-up,
`after_save` / `report_news` while training, `finish_mirror` at the end.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from frugaltune.errors import CheckpointError, MirrorError, StorageError

log = logging.getLogger("frugaltune.train")

MIRROR_CHECK_TIMEOUT_S = 30.0
"""How long start-up waits for the mirror's write test (an unreachable endpoint can block for minutes)."""
MIRROR_GRACE_S = 10.0
"""At the end of a run whose mirror is failing: how long to keep retrying before exiting (was a ~98 s stall)."""

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


def storage_error(err: OSError, what: str, where: Path | str) -> StorageError:
    """One line for an OSError of the local disk, by kind: full, read-only/not writable, or other."""
    if err.errno in _DISK_FULL:
        problem, fix = "the disk is full", f"free space on the disk holding {where} (or point output.dir elsewhere)"
    elif err.errno in _NOT_WRITABLE:
        problem, fix = "it is not writable", f"make {where} writable, or point output.dir (-o) at a writable directory"
    else:
        problem, fix = err.strerror or str(err), f"check the disk holding {where}"
    return StorageError(f"{what} failed: {problem} ({where}); the previous checkpoint is intact.",
                        fix=fix + ", then run the same command to resume.")


def disk_error(err: BaseException, what: str, where: Path | str) -> StorageError | None:
    """`err` as a StorageError when the run's disk caused it, else None. Writers do not all raise OSError on a full
    disk: torch.save raises RuntimeError("... unexpected pos ..."), safetensors "I/O error ... (os error 28)"; those
    count when their text says so or the disk really has no space left."""
    from frugaltune.errors import FrugalError

    if isinstance(err, StorageError):
        return err
    if isinstance(err, FrugalError):  # already says what went wrong (a bad output.dir on a 0-byte /sys is no full disk)
        return None
    if isinstance(err, OSError):
        return storage_error(err, what, where) if err.errno in _DISK_FULL | _NOT_WRITABLE else None
    text = str(err)
    if "os error 28" in text or "No space left" in text or _no_space_left(Path(where)):
        return storage_error(OSError(errno.ENOSPC, "No space left on device"), what, where)
    return None


def _no_space_left(where: Path, below_bytes: int = 1 << 20) -> bool:
    """True when the filesystem holding `where` has less than `below_bytes` free."""
    import os

    path = next((p for p in [where, *where.parents] if p.exists()), None)
    try:
        st = os.statvfs(path) if path is not None else None
    except OSError:
        return False
    return st is not None and st.f_bavail * st.f_frsize < below_bytes


@contextmanager
def local_writes(what: str, where: Path | str, cleanup=None) -> Iterator[None]:
    """Turn a failure of the run's own disk into a StorageError (exit 74); `cleanup()` first removes what the
    failed write left (a partial checkpoint's staging directory), so the space is free again at once."""
    try:
        yield
    except Exception as err:  # noqa: BLE001 -- re-raised unless the disk caused it
        error = disk_error(err, what, where)
        if error is None:
            raise
        if cleanup is not None:
            cleanup()
        raise error from None


def attempt(what: str, where: Path | str, fn):
    """(fn(), None), or (None, the StorageError) when the run's disk refused it: a rank that fails a save does not
    raise before the others know (they would wait at the next barrier), see `failed_save`."""
    try:
        return fn(), None
    except Exception as err:  # noqa: BLE001 -- re-raised unless the disk caused it
        error = disk_error(err, what, where)
        if error is None:
            raise
        return None, error


def failed_save(err: StorageError | None, what: str, ckpt_root: Path, clean: bool) -> StorageError:
    """The error every rank raises once any rank's part of a save failed; rank 0 removes the partial copy."""
    if clean:
        from frugaltune.train.checkpoint import clean_staging

        clean_staging(ckpt_root)
    return err or StorageError(f"{what} failed on another process; the previous checkpoint is intact.",
                               fix="see that process's error (disk full or not writable), fix it, then run the "
                               "same command to resume.")


def check_output_dir(run_dir: Path) -> None:
    """output.dir must be a directory we may write, and not one holding a config.yaml of the user's own that a run
    would overwrite (`-o .` in a project). A directory that cannot be made there (not writable, read-only, /proc)
    is bad input the user fixes by choosing another (ConfigError, exit 2); only a full disk is a StorageError
    (exit 74: free space and rerun), as a disk that fails a save later is."""
    from frugaltune.errors import ConfigError

    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"output.dir {run_dir} is a file, not a directory.", fix="give -o a new directory name.")
    if (run_dir / "config.yaml").is_file() and not _written_by_a_run(run_dir / "config.yaml"):
        raise ConfigError(f"output.dir {run_dir} holds a config.yaml that no run wrote; a run would overwrite it.",
                          fix="give -o a new directory (or an earlier run's directory to resume it).")
    parent = next((p for p in [run_dir, *run_dir.parents] if p.exists()), Path("."))
    if not parent.is_dir():
        raise ConfigError(f"output.dir {run_dir}: {parent} is a file, so the directory cannot be created.",
                          fix="give -o a path whose parents are directories.")
    import os
    import tempfile

    problem = None if os.access(parent, os.W_OK | os.X_OK) else "it is not writable"
    try:  # access() says yes to places nothing can be made in (/proc): make and remove a directory to be sure
        if problem is None:
            os.rmdir(tempfile.mkdtemp(prefix=".frugaltune-write-test-", dir=parent))
    except OSError as err:
        if err.errno in _DISK_FULL:
            raise storage_error(err, "creating output.dir", run_dir) from None
        problem = "it is not writable" if err.errno in _NOT_WRITABLE else (err.strerror or str(err))
    if problem is not None:
        raise ConfigError(f"output.dir {run_dir} cannot be created in {parent} ({problem}).",
                          fix="point output.dir (-o) at a directory on an ordinary, writable disk.")


def _written_by_a_run(config_yaml: Path) -> bool:
    """A run's own config.yaml starts with `# frugaltune train <run dir>/config.yaml` (recipe._prepare_run_dir);
    a YAML from `frugaltune schema --example` or `plan -o` names no run directory."""
    try:
        with config_yaml.open("rb") as f:
            first = f.readline(4096).rstrip()
    except OSError:
        return False
    return first.startswith(b"# frugaltune train ") and first.endswith(b"/config.yaml")


# ---- the mirror ------------------------------------------------------------------------------------------------

def with_timeout(fn, seconds: float, what: str, url: str):
    """fn() on a daemon thread; a CheckpointError when it has not returned after `seconds`."""
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # noqa: BLE001 -- re-raised in the caller's thread
            box["error"] = err

    thread = threading.Thread(target=run, daemon=True, name="frugaltune-mirror-check")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        from frugaltune.train.mirror import unreachable_fix

        raise MirrorError(f"checkpoint mirror {url}: {what} did not answer within {seconds:g} s.",
                          fix=unreachable_fix(url))
    if "error" in box:
        raise box["error"]
    return box.get("value")


def open_mirror(url: str, keep_last: int, ckpt_root: Path, timeout_s: float = MIRROR_CHECK_TIMEOUT_S):
    """The run's mirror, checked writable within `timeout_s`, its uploads retried with backoff; the upload
    snapshots and download staging a killed process left under `ckpt_root` are removed first."""
    from frugaltune.train.mirror import CheckpointMirror, clean_local_leftovers
    from frugaltune.train.mirror_queue import RETRY_DELAYS_S

    for stale in clean_local_leftovers(ckpt_root):
        log.warning("removed %s left by a mirror upload or download that was interrupted.", stale.name)
    mirror = CheckpointMirror(url, keep_last=keep_last, retry_delays_s=RETRY_DELAYS_S)
    with_timeout(mirror.check, timeout_s, "the write test", url)
    return mirror


def after_save(mirror, saved_path: Path, ledger) -> None:
    """Queue the upload of a new checkpoint, then of the ledger's new lines (mirror_log.py)."""
    from frugaltune.train.mirror_log import upload_log_async

    mirror.upload_async(saved_path)
    upload_log_async(mirror, ledger.path, ledger.size(), ledger.attempt)


def report_news(mirror, ledger, step: int) -> None:
    """Say at once when the mirror starts failing (and when it is back): a warning and a ledger event."""
    if mirror is None:
        return
    for message in mirror.news():
        log.warning("%s", message)
        ledger.write("mirror", durable=True, step=step, ok=mirror.outage_since is None, message=message)


def finish_mirror(mirror, timeout_s: float | None, grace_s: float = MIRROR_GRACE_S) -> None:
    """Wait for the uploads: as long as they take while the mirror works, `grace_s` more while it fails.

    Raises:
        MirrorError: the mirror is still failing (the local checkpoints are complete).
    """
    import time

    try:
        mirror.wait(timeout_s, outage_grace_s=grace_s)
    except CheckpointError as err:
        if mirror.outage_since is None:  # a slow upload or an old failure, not an outage now: a warning
            log.warning("checkpoint mirror: %s", err.message)
            return
        raise MirrorError(f"checkpoint mirror {mirror.url} has been unreachable for "
                          f"{time.time() - mirror.outage_since:.0f} s ({mirror.last_error}): it is behind the local "
                          "checkpoints, which are complete.", fix="when the storage is reachable again, run the same "
                          "command: it uploads the newest checkpoint.") from None


def restore_history(mirror, ledger, checkpoint: Path) -> None:
    """On a new machine: adopt the run's past from the mirror's copy of the ledger (with its loss curve), or from
    the totals the checkpoint carries when the mirror has no copy."""
    from frugaltune.report.ledger import checkpoint_history
    from frugaltune.train.mirror_log import download_log

    try:
        events = download_log(mirror)
    except CheckpointError as err:
        log.warning("could not read the run's log from the mirror (%s); adopting the checkpoint's totals.", err)
        events = []
    history = events or checkpoint_history(checkpoint)
    if history:
        ledger.adopt_history(history)
    mirror.log_uploaded = 0  # this machine's file is new: its first segment starts at byte 0 (overlap is deduped)


def catch_up(mirror, ckpt_root: Path) -> None:
    """Upload the newest local checkpoint when the mirror lacks it (a rerun after an outage at the end of a run)."""
    from frugaltune.train.checkpoint import complete_checkpoints

    local = complete_checkpoints(ckpt_root)
    try:
        if local and local[-1].name not in mirror.list_complete():
            log.warning("the mirror lacks %s: uploading it now.", local[-1].name)
            mirror.upload_async(local[-1])
    except CheckpointError as err:
        log.warning("%s", err.message)


# ---- how a failed attempt ends ----------------------------------------------------------------------------------

def record_failure(recipe, err: BaseException) -> BaseException:
    """The error to raise for `err` (an OSError of the run's disk becomes a StorageError), after the ledger and
    summary.json record why the attempt ended. Writing them may fail on the same full disk: that never hides `err`."""
    from frugaltune.errors import DivergedError, FrugalError

    if isinstance(err, Exception):
        err = disk_error(err, "writing the run's files", recipe.run_dir) or err
    if recipe.ledger is None or isinstance(err, SystemExit):
        return err
    kind = "diverged" if isinstance(err, DivergedError) else "failed"
    message = err.message if isinstance(err, FrugalError) else f"{type(err).__name__}: {err}"
    where = {"diverged_at_step": err.at_step, "last_good_checkpoint": err.checkpoint} if kind == "diverged" else {}
    try:
        recipe.ledger.write(kind, durable=True, step=recipe.progress.step, error=message, **where,
                            **recipe.counters())
        if recipe.is_main and hasattr(recipe, "total_steps"):
            recipe._write_summary()
    except Exception as also:  # noqa: BLE001 -- the disk that failed may refuse these too
        log.debug("could not record the failure (%s)", also)
    return err
