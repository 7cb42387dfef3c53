"""`plan -o run.yaml`: a Recommendation written as the runner's one config schema (train/config.py's RunConfig)."""

from __future__ import annotations

from frugaltune.record import record
from pathlib import Path
from typing import Any

from frugaltune.estimate.records import LORA_TARGETS
from frugaltune.estimate.steps import DEFAULT_EVAL_FRACTION
from frugaltune.plan.engines import distributed_section
from frugaltune.plan.recommend import LEARNING_RATE, Recommendation
from frugaltune.plan.search import total_usd, wall_hours

# Checkpoint cadence without spot: the runner's default (30 min) bounds what any crash loses.
ON_DEMAND_CHECKPOINT_MINUTES = 30.0


@record
class PlannedRun:
    """`frugaltune plan`: the recommendation, the training config written from it, and that config's YAML text."""

    recommendation: Recommendation
    config_data: dict  # the config as plain data (every key, defaults filled), as written
    yaml: str
    path: Path | None = None  # where the YAML was written, if it was

    @property
    def config(self) -> Any:
        """The config as train/config.py's RunConfig (validated; imports pydantic, so only on demand)."""
        from frugaltune.train.config import RunConfig

        return RunConfig.from_dict(self.config_data, origin="plan")

    def to_json(self) -> dict:
        """`frugaltune plan --json`: the recommendation, the config as a mapping, and where it was written."""
        return {**self.recommendation.to_json(), "config": self.config_data,
                "written_to": None if self.path is None else str(self.path)}


def _targets(job) -> list[str]:
    targets = list(job.lora_targets)
    return ["all-linear"] if set(targets) == set(LORA_TARGETS) else targets


def _runner_stack(stack: dict) -> dict:
    """The planned stack options the runner applies itself (train/stack_runtime.py); the others (kernels, FP8,
    tensor parallelism) stay planning inputs and are not written (attention: _runner_attention)."""
    out = {"loss": stack.get("loss", "hf")} if stack.get("loss", "hf") != "hf" else {}
    out.update({k: True for k in ("activation_offload", "optimizer_in_backward", "compile") if stack.get(k)})
    return out


def _runner_attention(stack: dict) -> dict:
    """Flash attention, where the plan estimated it, as the runner's model.attention (flash_attention_2: the varlen
    kernel that also keeps packed examples apart); sdpa, sdpa-masked and eager are the runner's default batching
    under transformers' default attention and are not written."""
    return {"attention": "flash_attention_2"} if stack.get("attention") == "flash" else {}


def _checkpoint_minutes(rec: Recommendation) -> float:
    """The Young-Daly interval under spot (estimate/spot.py), else the on-demand default."""
    spot = rec.estimate.cost_breakdown.spot
    if spot and spot.get("checkpoint_interval_min"):
        return round(max(1.0, spot["checkpoint_interval_min"]), 1)
    return ON_DEMAND_CHECKPOINT_MINUTES


def to_run_config(rec: Recommendation, **kwargs):
    """The RunConfig for `rec` (validated by pydantic, imported here; see `run_config_data` for the arguments)."""
    from frugaltune.train.config import RunConfig

    return RunConfig.from_dict(run_config_data(rec, **kwargs), origin="plan")


def run_config_data(rec: Recommendation, *, model_source: str, data_path: str, output_dir: str,
                    data_format: str = "auto", name: str | None = None,
                    eval_fraction: float = DEFAULT_EVAL_FRACTION, complete: bool = False) -> dict:
    """The run config for `rec` as plain data: the keys the plan sets, or with `complete` every key with its default
    (train/config_snapshot.py: no pydantic import)."""
    from frugaltune.train.config_snapshot import complete as fill, snapshot

    job, est, cand = rec.job, rec.estimate, rec.candidate
    method = {"kind": job.method}
    if job.method != "full":
        method["lora"] = {"r": job.lora_r, "alpha": 2 * job.lora_r, "targets": _targets(job)}
        if job.use_dora:
            method["lora"]["use_dora"] = True
    cost = {"gpu": est.hardware.gpu, "num_gpus": job.num_gpus, "pricing": cand.pricing if cand else "on-demand",
            "platform": cand.offer.platform if cand else None, "instance": cand.offer.instance if cand else None,
            "region": cand.offer.region if cand else None}
    if cand is not None and est.hardware.usd_per_gpu_hour is not None:
        from frugaltune.estimate.cost import billed_gpus

        cost["usd_per_hour"] = round(est.hardware.usd_per_gpu_hour * billed_gpus(job.num_gpus, cand.offer), 6)
    raw = {
        "name": name,
        "model": {"source": model_source, **_runner_attention(est.job.stack)},
        "method": method,
        "data": {"path": data_path, "format": data_format, "max_seq_len": job.seq_len, "packing": job.packing,
                 "eval_fraction": eval_fraction},
        "training": {"epochs": job.epochs, "lr": LEARNING_RATE[job.method], "micro_batch": job.micro_batch,
                     "grad_accum": job.grad_accum, "precision": est.job.precision, "grad_ckpt": job.grad_ckpt,
                     "optimizer": job.optimizer, **_runner_stack(est.job.stack)},
        "checkpoints": {"every_steps": None, "every_minutes": _checkpoint_minutes(rec)},
        "output": {"dir": output_dir},
        "cost": cost,
    }
    section = distributed_section(job) if "distributed" in snapshot()["defaults"] else None
    if section is not None:
        raw["distributed"] = section
    return fill(raw) if complete else raw


def engine_words(job) -> str:
    """The engine the distributed section names, in words: DDP, DeepSpeed ZeRO-N or FSDP (QLoRA's sharded base)."""
    try:
        section = distributed_section(job) or {}
    except ValueError:
        section = {}
    engine = section.get("engine", "deepspeed" if job.zero_stage else "ddp")
    if engine == "fsdp":
        return f"FSDP ({'full shard' if job.zero_stage == 3 else 'shard grad op'})"
    return f"DeepSpeed ZeRO-{job.zero_stage}" if engine == "deepspeed" else "DDP (data parallel)"


def header(rec: Recommendation, path: str) -> str:
    """Leading comment lines: the command that runs the config first (STYLE.md rule 5), then the plan's numbers."""
    est, job, cand = rec.estimate, rec.job, rec.candidate
    where = f"your own {job.num_gpus}x {est.hardware.gpu}" if cand is None else (
        f"{job.num_gpus}x {cand.offer.gpu} on {cand.offer.platform} {cand.offer.instance} {cand.offer.region} "
        f"({cand.pricing})")
    usd = "not priced" if est.cost_breakdown.total_cost is None else f"${total_usd(est):,.2f}"
    lines = [f"frugaltune train {path}", "",
             f"Written by `frugaltune plan`: {job.method} on {where}.",
             (f"Estimate: peak {est.memory.peak_gb_per_gpu:.1f} GB per GPU of {est.hardware.gpu_memory_gb:g} GB, "
              f"{est.throughput.tokens_per_sec:,.0f} tokens/s, {wall_hours(est):.2f} h, {usd}."),
             f"Training: {job.dataset_size:,} rows x {job.epochs:g} epochs = {est.job.steps_total:,} optimizer steps "
             f"of {est.job.global_batch_sequences} sequences."]
    if job.zero_stage or job.num_gpus > 1 or job.cpu_offload:
        lines.append(f"Engine: {engine_words(job)}" + (" with CPU offload" if job.cpu_offload else "")
                     + f" on {job.num_gpus} GPU(s), as the distributed section says.")
    if est.cost_breakdown.spot:
        lines.append("checkpoints.every_minutes is the Young-Daly interval for the assumed spot interruption rate.")
    return "\n".join(lines)
