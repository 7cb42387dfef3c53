"""What `frugaltune train --dry-run` checks beyond the config and the data rows, so that "config OK" means the run
will start: the output directory can be created (and is not a file, nor someone else's directory whose config.yaml
a run would overwrite), the classification prompt template renders, the checkpoint mirror answers a write test
within a short timeout, the thread count suits this machine, and the package a flash model.attention needs is
installed. Nothing is written locally.

Hard failures raise the error the real run would raise at start-up; soft findings come back as notes.
"""

from __future__ import annotations

import os
from pathlib import Path

MIRROR_TIMEOUT_S = 10.0


def preflight(cfg, here: bool = True) -> list[str]:
    """Check what a run of `cfg` will touch; return notes for the user (warnings that do not stop the run).

    Args:
        cfg: the run config.
        here: the run will happen on this machine (`train --dry-run`); False for `launch`, whose job runs elsewhere
            (its disk, credentials and cores are not this machine's): then only machine-independent checks.

    Raises:
        ConfigError / StorageError / CheckpointError: what the run would fail on.
    """
    from frugaltune.train import faults
    from frugaltune.train.data_tokens import check_template

    if cfg.data.format == "classification":
        check_template(cfg.data.prompt_template)
    if not here:
        return []
    faults.check_output_dir(Path(cfg.output.dir))
    if cfg.checkpoints.mirror:
        check_mirror(cfg.checkpoints.mirror)
    return [n for n in (thread_note(cfg.training.cpu_threads), attention_note(cfg.model.attention)) if n]


def check_mirror(url: str, timeout_s: float = MIRROR_TIMEOUT_S) -> None:
    """The mirror's write test (write, read back, delete a probe file), given at most `timeout_s`."""
    from frugaltune.train.faults import with_timeout
    from frugaltune.train.mirror import CheckpointMirror

    mirror = CheckpointMirror(url)
    try:
        with_timeout(mirror.check, timeout_s, "the write test", url)
    finally:
        mirror.close(timeout=0)


# model.attention values transformers loads from an extra package (modeling_utils checks it at from_pretrained).
ATTENTION_PACKAGES = {"flash_attention_2": ("flash_attn", "flash-attn"),
                      "flash_attention_3": ("flash_attn_interface", "flash-attn 3 (its hopper/ build)")}


def attention_note(attention: str) -> str | None:
    """A note when model.attention needs a package this machine lacks: the model load would stop on it."""
    import importlib.util

    module, package = ATTENTION_PACKAGES.get(attention, (None, None))
    if module is None or importlib.util.find_spec(module) is not None:
        return None
    return (f"model.attention is {attention}, which needs {package} (a CUDA GPU package) and it is not installed "
            "here: the run would stop when it loads the model (install it on the GPU machine, or set "
            "model.attention: auto).")


def thread_note(cpu_threads: int | None) -> str | None:
    """A note when training.cpu_threads asks for more threads than this machine has cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cpu_threads and cpu_threads > cores:
        return (f"training.cpu_threads is {cpu_threads} but this machine gives the run {cores} core(s): the extra "
                "threads would only wait on each other (set it to at most the core count, or null).")
    return None
