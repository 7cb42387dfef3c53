"""What each engine can run: one table that the config validator, the planner and the launcher all ask.

Pure standard library (no torch, no pydantic), so `plan`/`compare` can filter their search with it at no start-up
cost. `problem(...)` says why a combination cannot run, or None when it can; `supported(...)` is its boolean.

The rules, and where they come from:
- ddp: plain data parallel (torch DistributedDataParallel through accelerate); nothing is sharded or offloaded.
- fsdp: FSDP2 (`torch.distributed.fsdp.fully_shard`) through accelerate. `zero_stage` 3 = reshard parameters after
  forward (FULL_SHARD), 2 = keep them gathered until backward (SHARD_GRAD_OP). Its CPU offload
  (`CPUOffloadPolicy`) moves parameters, gradients and the optimizer step to the CPU together: there is no
  optimizer-only offload. bitsandbytes' 8-bit optimizers do not take FSDP2's DTensor shards. QLoRA's 4-bit base
  is sharded like any weight (FSDP-QLoRA, bitsandbytes docs): the runner packs it into a floating `quant_storage`
  dtype equal to the compute dtype, so FSDP splits it and its mixed-precision cast leaves it alone; 8-bit
  (LLM.int8) weights are integer tensors and are not sharded.
- deepspeed: ZeRO stages 1-3. Optimizer offload works from stage 1, parameter offload only at stage 3
  (DeepSpeed config docs, `offload_param`). Offloaded optimizer steps run DeepSpeed's own CPU Adam, so an
  offloaded run uses AdamW (no 8-bit or SGD); bitsandbytes 8-bit optimizers are not run under ZeRO at all, and
  QLoRA's 4-bit base is not partitioned by ZeRO-3 here (stages 1-2 leave the frozen base alone and work; fsdp
  shards it).

Resuming on another process count: fsdp reshards (torch.distributed.checkpoint); deepspeed converts ZeRO-1/2
checkpoints to its universal format first; ZeRO-3 ones need the count that wrote them.
"""

from __future__ import annotations

ENGINES = ("ddp", "fsdp", "deepspeed")
OFFLOADS = ("none", "optimizer", "params")
EIGHT_BIT = ("adamw8bit", "paged_adamw8bit")
DEFAULT_ZERO_STAGE = {"ddp": 0, "fsdp": 3, "deepspeed": 2}
STAGES = {"ddp": (0,), "fsdp": (2, 3), "deepspeed": (1, 2, 3)}


def problem(engine: str, zero_stage: int | None = None, offload: str = "none", optimizer: str = "adamw",
            method: str = "lora", quant_bits: int = 4) -> str | None:
    """Why `engine` cannot run this combination (one sentence with what would), or None when it can.

    Args:
        engine: ddp, fsdp or deepspeed.
        zero_stage: ZeRO stage (None: the engine's default, `DEFAULT_ZERO_STAGE`).
        offload: none, optimizer or params (params offloads the optimizer too).
        optimizer: adamw, adamw8bit, paged_adamw8bit or sgd.
        method: lora, qlora or full.
        quant_bits: qlora's base weight bits (4 or 8).
    """
    if engine not in ENGINES:
        return f"unknown engine {engine!r}; engines: {', '.join(ENGINES)}."
    if offload not in OFFLOADS:
        return f"unknown cpu_offload {offload!r}; use one of: {', '.join(OFFLOADS)}."
    stage = DEFAULT_ZERO_STAGE[engine] if zero_stage is None else zero_stage
    if stage not in STAGES[engine]:
        return _stage_problem(engine, stage)
    if engine == "fsdp" and method == "qlora" and quant_bits != 4:
        return (f"qlora's {quant_bits}-bit base weights are integer tensors, which fsdp cannot shard; use "
                "method.quant.bits 4, or engine deepspeed with zero_stage 2.")
    check = {"ddp": _ddp, "fsdp": _fsdp, "deepspeed": _deepspeed}[engine]
    return check(stage, offload, optimizer, method)


def supported(engine: str, zero_stage: int | None = None, offload: str = "none", optimizer: str = "adamw",
              method: str = "lora", quant_bits: int = 4) -> bool:
    """True when `engine` runs this combination (see `problem` for why not)."""
    return problem(engine, zero_stage, offload, optimizer, method, quant_bits) is None


def _stage_problem(engine: str, stage: int) -> str:
    if engine == "ddp":
        return (f"zero_stage {stage} needs a sharding engine: ddp replicates everything (stage 0); use engine "
                "deepspeed (stages 1-3) or fsdp (2 or 3).")
    if engine == "fsdp":
        return (f"fsdp shards gradients and optimizer state (zero_stage 2) or parameters too (3), not stage "
                f"{stage}; use 2 or 3, or engine deepspeed for stage 1.")
    return f"deepspeed runs ZeRO stages 1, 2 and 3, not {stage}; for no sharding use engine ddp."


def _ddp(stage: int, offload: str, optimizer: str, method: str) -> str | None:
    if offload != "none":
        return "ddp keeps everything on the GPU; CPU offload needs engine deepspeed (or fsdp for params)."
    return None


def _fsdp(stage: int, offload: str, optimizer: str, method: str) -> str | None:
    if offload == "optimizer":
        return ("fsdp offloads parameters, gradients and optimizer state together (cpu_offload: params); for an "
                "optimizer-only offload use engine deepspeed.")
    if optimizer in EIGHT_BIT:
        return f"{optimizer} (bitsandbytes) does not run on fsdp's sharded parameters; use adamw, or engine ddp."
    return None


def _deepspeed(stage: int, offload: str, optimizer: str, method: str) -> str | None:
    if offload == "params" and stage != 3:
        return (f"deepspeed offloads parameters only at zero_stage 3 (this is {stage}); use 3, or cpu_offload: "
                "optimizer.")
    if offload != "none" and optimizer != "adamw":
        return (f"an offloaded deepspeed optimizer runs DeepSpeed's CPU Adam, not {optimizer}; use optimizer adamw "
                "or cpu_offload: none.")
    if optimizer in EIGHT_BIT:
        return (f"{optimizer} (bitsandbytes) is not run under deepspeed ZeRO; use adamw (with cpu_offload to save "
                "memory).")
    if method == "qlora" and stage == 3:
        return ("qlora's 4-bit base weights are not partitioned by deepspeed ZeRO-3 here; use engine fsdp (it shards "
                "them), or zero_stage 2 (the adapters shard).")
    return None


def plan_section(num_gpus: int, zero_stage: int, cpu_offload: bool, optimizer: str = "adamw",
                 method: str = "lora") -> dict:
    """The `distributed:` config section for a planned job (GPUs on one machine, the ZeRO stage the estimate priced).

    Stage 0 is ddp; any sharding runs on deepspeed, which has every stage the estimator prices and optimizer
    offload (parameters too at stage 3), except QLoRA at stage 3: fsdp shards its 4-bit base (FSDP-QLoRA), with
    the parameters on the CPU when offloaded. An offload priced at stage 0 runs as DeepSpeed ZeRO-Offload (stage 2
    with the optimizer on the CPU): on one GPU it holds exactly what stage 0 would, on several it holds less. Raises
    ValueError when no engine runs the combination (8-bit optimizers with offload, ...): the planner must not
    propose it (`supported` tells it).
    """
    engine = "ddp" if zero_stage == 0 and not cpu_offload else "deepspeed"
    if method == "qlora" and zero_stage == 3:
        engine = "fsdp"
    stage = (zero_stage or 2) if engine != "ddp" else 0
    offload = "none" if not cpu_offload else ("params" if stage == 3 else "optimizer")
    why = problem(engine, stage, offload, optimizer, method)
    if why:
        raise ValueError(why)
    section = {"engine": engine, "num_processes": num_gpus, "num_nodes": 1}
    if engine != "ddp":
        section.update(zero_stage=stage, cpu_offload=offload)
    return section
