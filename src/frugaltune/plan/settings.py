"""Training settings that fit: enumerate micro-batch x gradient checkpointing x optimizer x ZeRO stage, keep the ones
whose estimated peak stays a safety margin below GPU memory, rank by estimated tokens/s, explain the winner.

Fixed choices, each with its reason:
- precision: bf16 where the GPU has it, else fp16 (T4/V100 lack bf16; fp16 mixed precision with loss scaling,
  Micikevicius et al. 2018). fp32 is never chosen: it halves tensor-core throughput for no memory gain here.
  A job asking for bf16-true (pure bf16, no fp32 master) keeps it where the GPU has bf16.
- LoRA targets: every linear projection; Dettmers et al. 2023 (QLoRA, section 4) find adapters on all linear layers
  are needed to match full fine-tuning quality. Rank stays as given (default 16).
- gradient accumulation: ceil(target global batch / (micro-batch x GPUs)), so the optimizer sees the target batch.
"""

from __future__ import annotations

import math
from frugaltune.record import field, record
from itertools import product

from frugaltune.errors import InfeasiblePlanError
from frugaltune.estimate.records import LORA_TARGETS, Estimate, Hardware, Job
from frugaltune.plan.engines import as_run, engine_problem

DEFAULT_SAFETY_MARGIN = 0.10  # fraction of GPU memory kept free: the estimator's memory error bar (<=12 % median)
DEFAULT_GLOBAL_BATCH = 16  # sequences per optimizer step: a moderate default (--target-batch changes it)
MAX_MICRO_BATCH = 64


@record
class Trial:
    job: Job
    estimate: Estimate
    reason: str | None  # None: fits with the margin


@record
class Settings:
    """The chosen job (settings applied), its estimate, and every trial with why it lost."""

    job: Job
    estimate: Estimate
    trials: list[Trial]
    safety_margin: float
    target_global_batch: int
    why: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        j = self.job
        return {"method": j.method, "precision": self.estimate.job.precision, "micro_batch": j.micro_batch,
                "grad_accum": j.grad_accum, "global_batch_sequences": j.micro_batch * j.grad_accum * _replicas(j),
                "grad_ckpt": j.grad_ckpt, "optimizer": j.optimizer, "zero_stage": j.zero_stage,
                "cpu_offload": j.cpu_offload, "lora_r": j.lora_r if j.method != "full" else None,
                "lora_targets": list(j.lora_targets) if j.method != "full" else None,
                "peak_gb_per_gpu": self.estimate.memory.peak_gb_per_gpu,
                "limit_gb_per_gpu": self.estimate.hardware.gpu_memory_gb * (1 - self.safety_margin),
                "tokens_per_sec": self.estimate.throughput.tokens_per_sec, "safety_margin": self.safety_margin,
                "why": list(self.why), "trials": len(self.trials)}


def _replicas(job: Job) -> int:
    """Data-parallel replicas that take their own micro-batches: num_gpus / (tensor x pipeline x context parallel)."""
    from frugaltune.estimate.estimator import data_parallel_size

    return data_parallel_size(job)


def _options(job: Job, num_gpus: int, target_global_batch: int) -> dict[str, list]:
    """Every setting tried. On one GPU, ZeRO stage 2 is there for its CPU offload of the optimizer (ZeRO-Offload,
    Ren et al. 2021); on several, QLoRA may shard its 4-bit base and keep the shards in CPU memory (FSDP-QLoRA with
    CPU offload: Answer.AI's 70B on two 24 GB GPUs); combinations no engine runs are dropped by
    `enumerate_trials`."""
    per_gpu = max(1, target_global_batch // _replicas(job.with_(num_gpus=num_gpus)))
    mbs = [2 ** k for k in range(7) if 2 ** k <= min(per_gpu, MAX_MICRO_BATCH)]
    full = job.method == "full"
    sharded_qlora = job.method == "qlora" and num_gpus > 1
    if num_gpus == 1:
        zero = [0, 2] if full else [0]
    else:
        zero = [0, 1, 2, 3] if full else [0, 2, 3]
    return {"micro_batch": mbs, "grad_ckpt": [False, True],
            "optimizer": ["adamw", "adamw8bit"] if full else ["adamw"],
            "zero_stage": zero, "cpu_offload": [False, True] if full or sharded_qlora else [False]}


def _complexity(job: Job) -> int:
    """Prefer the simplest setup among equally fast ones: no offload, low ZeRO stage, plain AdamW."""
    return 4 * job.cpu_offload + job.zero_stage + (job.optimizer != "adamw")


def enumerate_trials(job: Job, hw: Hardware, catalog, *, target_global_batch: int, safety_margin: float,
                     estimator) -> list[Trial]:
    opts = _options(job, hw.num_gpus, target_global_batch)
    limit_gb = hw.gpu.memory_gb * (1 - safety_margin)
    trials = []
    for mb, ckpt, opt, zero, offload in product(*opts.values()):
        accum = math.ceil(target_global_batch / (mb * _replicas(job.with_(num_gpus=hw.num_gpus))))
        trial = job.with_(micro_batch=mb, grad_ckpt=ckpt, optimizer=opt, zero_stage=zero, cpu_offload=offload,
                          grad_accum=accum, num_gpus=hw.num_gpus)
        if engine_problem(trial) or (zero and hw.num_gpus == 1 and not offload):
            continue  # no engine runs it; or sharding over one GPU, which only pays with offload
        trial = as_run(trial)  # estimated as the engine runs it
        if any(t.job == trial for t in trials):
            continue
        est = estimator(trial, hw, catalog)
        peak, band = est.memory.peak_gb_per_gpu, est.memory.peak_gb_range
        reason = None if peak <= limit_gb else f"peak {peak:.1f} GB > {limit_gb:.1f} GB (memory minus margin)"
        if reason is None and band and band[1] > hw.gpu.memory_gb:  # the 80 % band's high end must fit too
            reason = f"the 80 % band of the peak reaches {band[1]:.1f} GB > {hw.gpu.memory_gb:g} GB"
        trials.append(Trial(trial, est, reason))
    return trials


def base_job(job: Job, gpu) -> Job:
    """The fixed choices of the module docstring applied to `job`."""
    precision = "bf16" if gpu.bf16_supported else "fp16"
    if job.precision == "bf16-true" and gpu.bf16_supported:
        precision = "bf16-true"
    targets = LORA_TARGETS if job.method != "full" else job.lora_targets
    return job.with_(precision=precision, lora_targets=targets)


def pick_settings(job: Job, hw: Hardware, catalog, *, target_global_batch: int = DEFAULT_GLOBAL_BATCH,
                  safety_margin: float = DEFAULT_SAFETY_MARGIN, estimator=None) -> Settings:
    """The fastest settings whose peak memory stays `safety_margin` below the GPU's memory.

    Raises:
        InfeasiblePlanError: no combination fits; names the smallest peak seen and what to change.
    """
    from frugaltune.plan.search import _default_estimator

    estimator = estimator or _default_estimator
    job = base_job(job, hw.gpu)
    trials = enumerate_trials(job, hw, catalog, target_global_batch=target_global_batch,
                              safety_margin=safety_margin, estimator=estimator)
    ok = [t for t in trials if t.reason is None]
    if not ok:
        low = min(trials, key=lambda t: t.estimate.memory.peak_gb_per_gpu)
        band = low.estimate.memory.peak_gb_range
        band_text = f", 80 % band up to {band[1]:.1f} GB" if band else ""
        raise InfeasiblePlanError(
            f"no settings fit {job.method} {job.model.name} on {hw.num_gpus}x {hw.gpu.name} with a "
            f"{safety_margin:.0%} margin: the smallest peak is {low.estimate.memory.peak_gb_per_gpu:.1f} GB"
            f"{band_text} (micro-batch 1, grad ckpt, {low.job.optimizer}, ZeRO {low.job.zero_stage}).",
            fix="use --method qlora, more GPUs (--num-gpus with ZeRO-3), a GPU with more memory, or a shorter "
                "--seq-len; `frugaltune compare` lists what fits.")
    best = min(ok, key=lambda t: (-t.estimate.throughput.tokens_per_sec, _complexity(t.job), -t.job.micro_batch))
    return Settings(best.job, best.estimate, trials, safety_margin, target_global_batch, _why(best, trials))


def _why(best: Trial, trials: list[Trial]) -> list[str]:
    j, e = best.job, best.estimate
    n_fit = sum(t.reason is None for t in trials)
    lines = [(f"{n_fit} of {len(trials)} setting combinations fit; this one is the fastest "
              f"({e.throughput.tokens_per_sec:,.0f} tokens/s, peak {e.memory.peak_gb_per_gpu:.1f} GB per GPU).")]
    no_ckpt_fits = any(t.reason is None and not t.job.grad_ckpt for t in trials)
    if j.grad_ckpt:
        lines.append("gradient checkpointing is on: nothing fits without it" if not no_ckpt_fits else
                     "gradient checkpointing is on: its larger micro-batch outruns every setting without it")
    else:
        lines.append("gradient checkpointing is off: it fits without, and recomputation would cost ~1/3 more compute")
    replicas = _replicas(j)
    copies = f"{j.num_gpus} GPU(s)" if replicas == j.num_gpus else f"{replicas} data-parallel replica(s)"
    lines.append(f"grad accumulation {j.grad_accum} x micro-batch {j.micro_batch} x {copies} = "
                 f"{j.grad_accum * j.micro_batch * replicas} sequences per optimizer step")
    if j.zero_stage:
        lines.append(f"ZeRO stage {j.zero_stage}: lower stages do not fit or are slower")
    if j.optimizer != "adamw":
        lines.append(f"{j.optimizer}: AdamW's fp32 moments do not fit")
    if j.cpu_offload:
        held = "parameter shards and optimizer states" if j.zero_stage == 3 else "optimizer states"
        lines.append(f"{held} offloaded to CPU RAM: nothing fits on the GPU alone")
    return lines
