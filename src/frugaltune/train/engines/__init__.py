"""Engines: how the model is spread over processes (ddp, fsdp, deepspeed), behind one small interface.

The recipe only calls these (`base.Engine` documents each): `load_options()` (how this rank loads the model),
`prepare(model, make_optimizer)`, `micro_step(last)`, `backward(loss)`, `step(max_grad_norm)`, `eval_model(model)`,
`save_state(out, ...)` / `load_state(path, ...)` (every rank takes part), `full_state_dict(model, ...)` (for the
final model), `note_params(model)`, `check_shared_dir(run_dir)`, `barrier()`, `sum_over_ranks(...)`,
`gather_objects(...)`, and the properties `device`, `num_processes`, `process_index`, `is_main`.

`support.py` (no torch) says which combinations each engine runs; `files.py` (no torch) writes the engine
settings as the configuration files a user can read and reuse.
"""

from __future__ import annotations


def resolve_precision(precision: str) -> str:
    """training.precision as run here: `auto` = bf16 on GPUs that have it, fp16 on older GPUs, fp32 on CPU.

    Raises:
        ConfigError: bf16-true on a GPU without bf16.
    """
    import torch

    from frugaltune.errors import ConfigError

    if precision == "bf16-true" and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        raise ConfigError("training.precision: bf16-true needs a GPU with bf16 (this one has none).",
                          fix="Use precision fp16 (mixed precision) or auto.")
    if precision != "auto":
        return precision
    if not torch.cuda.is_available():
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def make_engine(cfg, compute_dtype: str):
    """The engine `cfg.distributed.engine` names, with its process group set up.

    Args:
        cfg: the RunConfig.
        compute_dtype: fp32, bf16, fp16 or bf16-true (the recipe's resolved precision).
    """
    import os

    import torch

    if not torch.cuda.is_available():  # say it, so DeepSpeed (imported by some libraries) does not warn that it guessed
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    engine = cfg.distributed.engine
    if engine == "fsdp":
        from frugaltune.train.engines.fsdp import FsdpEngine

        return FsdpEngine(cfg, compute_dtype)
    if engine == "deepspeed":
        from frugaltune.train.engines.deepspeed import DeepSpeedEngine

        return DeepSpeedEngine(cfg, compute_dtype)
    from frugaltune.train.engines.base import Engine

    return Engine(cfg, compute_dtype)
