"""The engine settings of a run as the files other tools read: DeepSpeed's JSON config, an accelerate config, and
the torchrun command. `frugaltune train` writes them into `<run>/distributed/` (so a user can read and reuse them)
and the DeepSpeed engine initialises from the same dict. Pure: no torch.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

DIR = "distributed"
DS_PRECISION = {"bf16": "bf16", "bf16-true": "bf16", "fp16": "fp16"}


def deepspeed_config(cfg, compute_dtype: str = "fp32") -> dict:
    """DeepSpeed's config for `cfg` (DeepSpeed config-json docs: batch sizes, ZeRO, offload, precision).

    Clipping is DeepSpeed's (`gradient_clipping`); the learning-rate schedule stays frugaltune's.
    """
    d, t = cfg.distributed, cfg.training
    zero: dict = {"stage": d.stage}
    if d.cpu_offload in ("optimizer", "params"):
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    if d.cpu_offload == "params":
        zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    config = {"train_micro_batch_size_per_gpu": t.micro_batch, "gradient_accumulation_steps": t.grad_accum,
              "train_batch_size": t.micro_batch * t.grad_accum * d.world_size,
              "gradient_clipping": t.max_grad_norm or 0.0, "zero_optimization": zero,
              "zero_allow_untested_optimizer": True, "steps_per_print": 2 ** 31 - 1, "wall_clock_breakdown": False}
    precision = DS_PRECISION.get(compute_dtype)
    if precision:
        config[precision] = {"enabled": True}
    return config


def accelerate_config(cfg, compute_dtype: str = "fp32") -> dict:
    """The same processes and engine as an `accelerate launch --config_file` YAML (accelerate's config keys)."""
    d = cfg.distributed
    mixed = {"bf16": "bf16", "fp16": "fp16"}.get(compute_dtype, "no")
    out = {"compute_environment": "LOCAL_MACHINE", "num_machines": d.num_nodes, "num_processes": d.world_size,
           "machine_rank": 0, "mixed_precision": mixed, "use_cpu": False, "same_network": True,
           "distributed_type": {"ddp": "MULTI_GPU", "fsdp": "FSDP", "deepspeed": "DEEPSPEED"}[d.engine]}
    if d.engine == "fsdp":
        out["fsdp_config"] = {"fsdp_version": 2, "fsdp_reshard_after_forward": d.stage == 3,
                              "fsdp_offload_params": d.cpu_offload == "params",
                              "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
                              "fsdp_state_dict_type": "SHARDED_STATE_DICT", "fsdp_cpu_ram_efficient_loading": False}
    if d.engine == "deepspeed":
        out["deepspeed_config"] = {"deepspeed_config_file": "deepspeed.json"}
    return out


def torchrun_command(cfg, worker: list[str], rdzv_endpoint: str | None = None) -> list[str]:
    """The torchrun command line that starts this run's processes on one machine (`worker` is what each runs)."""
    d = cfg.distributed
    if d.num_nodes == 1:
        return ["torchrun", "--standalone", "--nproc_per_node", str(d.num_processes), *worker]
    return ["torchrun", "--nnodes", str(d.num_nodes), "--nproc_per_node", str(d.num_processes), "--rdzv_backend",
            "c10d", "--rdzv_endpoint", rdzv_endpoint or "$MASTER_ADDR:$MASTER_PORT", "--rdzv_id", cfg.run_name,
            *worker]


def write_all(run_dir: Path, cfg, worker: list[str], compute_dtype: str = "fp32",
              rdzv_endpoint: str | None = None) -> Path:
    """Write accelerate.yaml, deepspeed.json (deepspeed runs) and torchrun.sh into `run_dir/distributed/`."""
    import yaml

    out = Path(run_dir) / DIR
    out.mkdir(parents=True, exist_ok=True)
    header = ("# The processes and engine of this run, for `accelerate launch --config_file` in your own scripts.\n"
              "# frugaltune applies the same settings itself; `frugaltune train` needs no launcher.\n")
    (out / "accelerate.yaml").write_text(header + yaml.safe_dump(accelerate_config(cfg, compute_dtype),
                                                                 sort_keys=False))
    if cfg.distributed.engine == "deepspeed":
        (out / "deepspeed.json").write_text(json.dumps(deepspeed_config(cfg, compute_dtype), indent=2) + "\n")
    command = " ".join(shlex.quote(a) if not a.startswith("$") else a
                       for a in torchrun_command(cfg, worker, rdzv_endpoint))
    (out / "torchrun.sh").write_text("#!/bin/sh\n# What `frugaltune train` ran to start this run's processes "
                                     "(run it on every machine when num_nodes > 1).\n" + command + "\n")
    return out
