"""`estimate(job, hardware)`: memory, speed, time and dollars for one fine-tuning job on one offer.

Pure: no I/O beyond the (cached) calibration file, no torch. The JSON contract is built in records.py.
"""

from __future__ import annotations

import math
from datetime import date

from frugaltune.checks import GPU_HOURS_WARN
from frugaltune.errors import ConfigError
from frugaltune.estimate import dora
from frugaltune.estimate import memory as mem
from frugaltune.estimate import peak
from frugaltune.estimate import records as rec
from frugaltune.estimate.calibration import Coefficients, load_coefficients
from frugaltune.estimate.flops import flops_per_token, packed_attention_length
from frugaltune.estimate.gpu_class import gpu_class
from frugaltune.estimate.shapes import expand_targets, total_params
from frugaltune.estimate.stack import (documents_attend_alone, resolve_stack, sharded_precision, stack_problems,
                                      stack_warnings)
from frugaltune.estimate.steps import optimizer_steps, sequences_per_epoch
from frugaltune.estimate.throughput import throughput
from frugaltune.estimate.work import step_work
from frugaltune.record import asdict, record, replace

GB = 1e9


def validate_job(job: rec.Job) -> None:
    """Every impossible value at once (ConfigError names each field); a job that trains nothing is one too."""
    rec.check_job(job)
    if job.method != "full" and job.lora_targets and not expand_targets(job.model, job.lora_targets):
        raise ConfigError(f"invalid job: lora_targets (--lora-targets) = {','.join(job.lora_targets)!r} names no "
                          "module: the job would train zero parameters.", fix="name modules, e.g. --lora-targets "
                          "q_proj,v_proj, or --lora-targets all-linear.")


def sanity_warnings(job: rec.Job, hours: float, warnings: list[str]) -> None:
    """Say so when the job is physically implausible (checks.GPU_HOURS_WARN): a mistyped size, most likely."""
    gpu_hours = hours * job.num_gpus
    if gpu_hours > GPU_HOURS_WARN:
        warnings.append(f"this job needs {gpu_hours:,.3g} GPU-hours, more than a million: check --dataset-size "
                        f"({job.dataset_size:,}), --tokens-per-sample ({job.tokens_per_sample:g}) and --epochs "
                        f"({job.epochs:g})")


def effective_precision(precision: str, gpu, warnings: list[str]) -> str:
    """bf16 (mixed or pure) on a GPU without bf16 (T4, V100) falls back to fp16 mixed precision with a warning
    (pure fp16 training diverges without loss scaling on fp32 master weights)."""
    if precision in ("bf16", "bf16-true") and not gpu.bf16_supported:
        warnings.append(f"{gpu.name} has no bf16 support: estimated with fp16 mixed precision instead")
        return "fp16"
    return precision


def memory_breakdown(job: rec.Job, precision: str, coef: Coefficients, stack=None) -> mem.MemoryBytes:
    """Per-GPU bytes of each component (estimate/peak.py)."""
    return peak.memory_breakdown(job, precision, coef, stack)


def optimizer_traffic_bytes(job: rec.Job, memory: mem.MemoryBytes) -> float:
    """What one optimizer step reads and rewrites: states, gradients and the weights it updates (the fp32 master
    copy under mixed precision; the weights themselves in full fine-tuning without one: fp32, bf16-true)."""
    updated = memory.master if memory.master or job.method != "full" else memory.weights
    return memory.optimizer + updated + memory.gradients + memory.cpu_offload


embedding_training_params = peak.embedding_training_params


def trainable_count(job: rec.Job) -> int:
    return (mem.trainable_params(job.model, job.method, job.lora_r, job.lora_targets, job.use_dora)
            + embedding_training_params(job))


def checkpoint_bytes(job: rec.Job, precision: str) -> float:
    """One resumable checkpoint: adapter (fp32) + AdamW states for LoRA; weights (+ fp32 master under mixed
    precision) + optimizer states for full."""
    n_train = trainable_count(job)
    if job.method == "full":
        return (mem.weights_bytes(job.model, "full", precision) + mem.master_bytes("full", precision, n_train)
                + mem.optimizer_bytes(job.optimizer, n_train, "full", precision))
    return n_train * mem.ADAPTER_BYTES + mem.optimizer_bytes(job.optimizer, n_train)


def token_counts(job: rec.Job) -> tuple[int, float, float, int]:
    """(real tokens total, tokens computed incl. padding, tokens per micro-batch, optimizer steps)."""
    per_sample = min(job.tokens_per_sample, job.seq_len)
    real_total = job.dataset_size * per_sample * job.epochs
    if job.packing:
        computed, per_micro = real_total, job.seq_len * job.micro_batch
    else:
        padded = min(job.padded_tokens_per_sample or per_sample, job.seq_len)
        computed, per_micro = job.dataset_size * padded * job.epochs, padded * job.micro_batch
    sequences = sequences_per_epoch(job.dataset_size, per_sample, job.seq_len, job.packing)
    steps = optimizer_steps(sequences, job.micro_batch, job.grad_accum, data_parallel_size(job), job.epochs)
    return round(real_total), computed, per_micro, steps


def data_parallel_size(job: rec.Job) -> int:
    """Model replicas that each take their own micro-batches: num_gpus / (tp x pp x cp) (Megatron-Core
    parallel_state; tensor-, pipeline- and context-parallel ranks share a micro-batch)."""
    return max(job.num_gpus // job.model_parallel, 1)


def estimate(job: rec.Job, hw: rec.Hardware, *, catalog=None, today: date | None = None,
             coef: Coefficients | None = None, advice: bool = True) -> rec.Estimate:
    """Estimate peak memory per GPU, tokens/s, hours and dollars for `job` on `hw`.

    Args:
        job: what to train (model shape, method, batch, data size, training stack).
        hw: the GPU, GPU count and (optionally) the offer that prices it.
        catalog: the loaded catalog (for storage prices and stale-price checks); optional.
        today: the date stale-price warnings are measured against (default: today).
        coef: calibrated coefficients (default: the shipped fit).
        advice: when the job does not fit, add the warning that says what would (a planner that only records why
            an option was rejected skips it: it estimates a dozen alternatives).
    Returns:
        An Estimate; `.to_json()` is the JSON contract.
    Raises:
        ConfigError: an impossible job (non-positive sizes, unknown method/optimizer/LoRA target/stack value).
    """
    job = job.with_(num_gpus=hw.num_gpus) if job.num_gpus != hw.num_gpus else job
    coef = coef or load_coefficients()
    ph, priced, warnings = _priced(job, hw, catalog, today, coef, advice)
    stack, precision, memory, tp, fits = ph.stack, ph.precision, ph.memory, ph.tp, ph.fits
    real_tokens, steps = ph.real_tokens, ph.steps
    result = rec.Estimate(
        model=rec.ModelOut(job.model.name, total_params(job.model), ph.trainable),
        job=_job_out(job, precision, real_tokens, steps, stack),
        hardware=priced.hardware,
        memory=_memory_out(memory, fits, hw.gpu.memory_gb),
        throughput=rec.ThroughputOut(tp.flops_per_token, round(tp.mfu, 4), tp.tokens_per_sec_per_gpu,
                                     tp.tokens_per_sec, tp.source, tp.peak_flops / 1e12, tp.scaling_efficiency,
                                     tp.runs, gpu_class=gpu_class(hw.gpu)),
        time=priced.time,
        cost_breakdown=priced.cost,
        warnings=warnings,
    )
    from frugaltune.estimate.bands import apply_bands

    return apply_bands(result, job, hw, coef)


def _priced(job: rec.Job, hw: rec.Hardware, catalog, today: date | None, coef: Coefficients, advice: bool):
    """(physics, pricing, warnings) of `job` (on hw.num_gpus GPUs) on `hw`: every number of its estimate."""
    ph = physics(job, hw.gpu, coef)
    warnings = list(ph.warnings)
    if not ph.fits and advice:
        from frugaltune.estimate.advice import does_not_fit_warning

        warnings.append(does_not_fit_warning(job, hw, ph.memory.peak, coef))
    from frugaltune.estimate.pricing import price_job

    priced = price_job(job, hw, ph.hours, ph.checkpoint_bytes, ph.real_tokens, catalog, today, warnings)
    _require_finite(("peak memory", ph.memory.peak), ("tokens/s", ph.tp.tokens_per_sec), ("hours", ph.hours),
                    ("total cost", priced.cost.total_cost or 0.0))
    return ph, priced, warnings


@record(frozen=True)
class Physics:
    """What an estimate needs that depends on the job and the GPU, not on the offer that prices it (`warnings`
    leave out the advice on what would fit, which `estimate` adds when the job does not fit)."""

    stack: object
    precision: str
    memory: mem.MemoryBytes
    tp: object  # _Speed
    real_tokens: float
    steps: int
    hours: float
    fits: bool
    warnings: tuple[str, ...]
    trainable: int
    checkpoint_bytes: float


@record(frozen=True)
class _Core:
    """The part of Physics that does not depend on how much data is trained (dataset_size, epochs)."""

    stack: object
    precision: str
    memory: mem.MemoryBytes
    tp: object  # _Speed
    fits: bool
    warnings: tuple[str, ...]
    trainable: int
    checkpoint_bytes: float


_PHYSICS: dict[tuple, Physics] = {}
_CORES: dict[tuple, _Core] = {}
_GPU_FREE: dict[tuple, tuple] = {}  # (stack, precision, memory) per job x precision x coefficients: _gpu_free
_STEPS: dict[tuple, tuple] = {}  # (FLOPs, step work) per job x precision x coefficients: _step
_KEPT: dict[int, object] = {}  # the model, GPU and coefficient objects keyed by id(): kept alive, so no id is reused
PHYSICS_MEMO_SIZE = 4096
_SIZE_FIELDS = ("model", "dataset_size", "epochs")


def _settings_of(values: dict) -> tuple:
    """The job's field values but the model and its data size, in field order (one C call: itemgetter)."""
    global _SETTINGS_GETTER
    if _SETTINGS_GETTER is None:
        from operator import itemgetter  # imported by collections already: no start-up cost

        _SETTINGS_GETTER = itemgetter(*[f for f in rec.Job.__record_fields__ if f not in _SIZE_FIELDS])
    return _SETTINGS_GETTER(values)


_SETTINGS_GETTER = None


def physics(job: rec.Job, gpu, coef: Coefficients) -> Physics:
    """Memory, speed and hours of `job` on `gpu`, computed once per (job, GPU, coefficients, the user's measured
    calibration): a planner prices the same job on the same GPU at many platforms, regions and pricings. Memory and
    speed are computed once per job whatever its data size (`afford` prices one job at many sizes)."""
    from frugaltune.estimate.measured import throughput_correction

    # The catalog's model and GPU records are shared objects: keyed by identity (hashing them field by field costs
    # more than a lookup saves); the job's own settings by value.
    values = job.__dict__
    settings = _settings_of(values)
    core_key = (id(job.model), id(gpu), id(coef), settings, throughput_correction(gpu.name, job.method))
    key = (core_key, values["dataset_size"], values["epochs"])
    try:
        hit = _PHYSICS.get(key)
    except TypeError:  # a setting given as a list (a YAML config's targets): computed without the memo
        return _sized(_compute_core(job, rec.Hardware(gpu=gpu, num_gpus=job.num_gpus), coef), job)
    if hit is None:
        if len(_PHYSICS) >= PHYSICS_MEMO_SIZE:
            _forget_all()
        core = _CORES.get(core_key)
        if core is None:
            core = _CORES[core_key] = _compute_core(job, rec.Hardware(gpu=gpu, num_gpus=job.num_gpus), coef)
        _KEPT.update({id(job.model): job.model, id(gpu): gpu, id(coef): coef})  # after: a nested memo may empty it
        hit = _PHYSICS[key] = _sized(core, job)
    return hit


def _gpu_free(job: rec.Job, effective: str, coef: Coefficients) -> tuple:
    """(stack, precision, memory) of `job` run in `effective` precision, validated: none of it depends on the GPU
    but through that precision (peak.memory_breakdown takes no GPU), so it is computed once per (job, precision,
    coefficients)."""
    return _memo(_GPU_FREE, job, coef, effective, lambda: _compute_gpu_free(job, effective, coef))


def _memo(memo: dict, job: rec.Job, coef: Coefficients, extra, compute):
    """compute(), once per (every field of `job`, `coef`, `extra`): the model and coefficients by identity, kept
    alive in _KEPT (so no id is reused while its key is remembered); all memos are emptied together when full."""
    key = (id(job.model), id(coef), _settings_of(job.__dict__), job.dataset_size, job.epochs, extra)
    try:
        hit = memo.get(key)
    except TypeError:  # a setting given as a list (a YAML config's targets): computed without the memo
        return compute()
    if hit is None:
        hit = compute()
        if len(memo) >= PHYSICS_MEMO_SIZE:
            _forget_all()
        _KEPT.update({id(job.model): job.model, id(coef): coef})
        memo[key] = hit
    return hit


def _compute_gpu_free(job: rec.Job, effective: str, coef: Coefficients) -> tuple:
    validate_job(job)
    validate_stack(job)
    stack = resolve_stack(job)
    precision = sharded_precision(job, effective, stack)
    return stack, precision, peak.memory_breakdown(job, precision, coef, stack)


def _forget_all() -> None:  # every memo at once: no id() in a key outlives the object _KEPT holds
    for memo in (_PHYSICS, _CORES, _GPU_FREE, _STEPS, _KEPT):
        memo.clear()


def _compute_core(job: rec.Job, hw: rec.Hardware, coef: Coefficients) -> _Core:
    warnings: list[str] = []
    effective = effective_precision(job.precision, hw.gpu, warnings)
    stack, precision, memory = _gpu_free(job, effective, coef)  # validates the job first
    if precision != effective:
        warnings.append("bf16-true under ZeRO/FSDP through accelerate trains fp32 master weights (accelerate upcasts "
                        "trainable 16-bit parameters): estimated as bf16 mixed precision")
    warnings += stack_warnings(stack, job, hw.gpu)
    tp = _throughput(job, hw, precision, stack, memory, coef)
    warnings += peak.dora_warnings(job, precision, coef, tp.flops_per_token, stack.tensor_parallel)
    fits = memory.peak <= hw.gpu.memory_gb * GB
    return _Core(stack, precision, memory, tp, fits, tuple(warnings), trainable_count(job),
                 checkpoint_bytes(job, precision))


def _sized(core: _Core, job: rec.Job) -> Physics:
    """The core's job trained on `job`'s data: tokens, steps, hours (and the warning for an implausible size)."""
    real_tokens, computed_tokens, _per_micro, steps = token_counts(job)
    hours = computed_tokens / core.tp.tokens_per_sec / 3600.0
    warnings = list(core.warnings)
    sanity_warnings(job, hours, warnings)
    return Physics(core.stack, core.precision, core.memory, core.tp, real_tokens, steps, hours, core.fits,
                   tuple(warnings), core.trainable, core.checkpoint_bytes)


def _require_finite(*figures: tuple[str, float]) -> None:
    """The last line of defence: an estimate never prints NaN or infinity (a bad catalog or model row would)."""
    bad = [f"{name} = {value}" for name, value in figures if not math.isfinite(value)]
    if bad:
        raise ConfigError(f"the estimate is not a finite number ({', '.join(bad)}): a catalog or model figure it "
                          "uses is out of range.", fix="check the GPU, offer and model rows of your --catalog "
                          "directory (`frugaltune catalog gpus|prices|models`).")


def job_flops(job: rec.Job, seq: float):
    """FLOPs per token of `job` at sequence length `seq` (flops.py): adapters, a trained LM head, DoRA's second base
    matmul under dropout (dora.py)."""
    n_train = trainable_count(job)
    n_lora = 0 if job.method == "full" else n_train - embedding_training_params(job)
    head_trained = embedding_training_params(job) and job.model.vocab_size * job.model.hidden_size
    rematmul = dora.base_rematmul_params(job.model, job.lora_targets, peak.lora_dropout(job)) if peak.uses_dora(
        job) else 0
    return flops_per_token(job.model, job.method, seq, job.grad_ckpt, n_lora, head_trained, rematmul)


def _throughput(job: rec.Job, hw: rec.Hardware, precision: str, stack, memory: mem.MemoryBytes, coef: Coefficients):
    """Tokens/s with the stack's physics, scaled by the user's own measured runs of this GPU x method."""
    from frugaltune.estimate.measured import throughput_correction

    flops, work = _step(job, precision, stack, memory, coef)
    tp = throughput(arch=job.model, gpu=hw.gpu, method=job.method, precision=precision, grad_ckpt=job.grad_ckpt,
                    work=work, num_gpus=job.num_gpus, coef=coef, zero_stage=job.zero_stage, stack=stack)
    ratio, runs = throughput_correction(hw.gpu.name, job.method)
    if runs:
        tp = replace(tp, tokens_per_sec_per_gpu=tp.tokens_per_sec_per_gpu * ratio,
                     tokens_per_sec=tp.tokens_per_sec * ratio, mfu=tp.mfu * ratio, source="calibrated")
    return _Speed(flops.per_token, tp.mfu, tp.tokens_per_sec_per_gpu, tp.tokens_per_sec, tp.source, tp.peak_flops,
                  tp.scaling_efficiency, runs)


def _step(job: rec.Job, precision: str, stack, memory: mem.MemoryBytes, coef: Coefficients) -> tuple:
    """(FLOPs, work) of one micro-batch: nothing of the GPU's (work.step_work takes none), so computed once per (job,
    precision, coefficients), which stack and memory follow from (_gpu_free)."""
    return _memo(_STEPS, job, coef, precision, lambda: micro_batch_work(job, precision, stack, memory, coef))


def attention_length(job: rec.Job, stack, seq: float) -> float:
    """The sequence length attention is charged at: the micro-batch's row length, except for packed documents a varlen
    flash kernel attends one by one (stack.documents_attend_alone), charged at their own lengths
    (flops.packed_attention_length: E[L^2] / E[L] where the dataset's lengths are known, else the mean)."""
    if not documents_attend_alone(job, stack):
        return seq
    return packed_attention_length(seq, min(job.tokens_per_sample, seq), job.attended_tokens_per_sample)


def micro_batch_work(job: rec.Job, precision: str, stack, memory: mem.MemoryBytes, coef: Coefficients) -> tuple:
    """(FLOPs, work) of one micro-batch (the estimator's and the calibration fit's): tokens and memory at the row
    length, attention's FLOPs and kernel time at attention_length."""
    n_train = trainable_count(job)
    _real, _computed, per_micro, _steps = token_counts(job)
    seq = min(job.seq_len, per_micro / job.micro_batch)
    attended = attention_length(job, stack, seq)
    flops = job_flops(job, attended)
    per_token_layer = peak.layer_bytes_per_token(job, precision, coef, stack, int(seq))
    return flops, step_work(job, precision, stack, flops, seq, per_micro, optimizer_traffic_bytes(job, memory),
                            coef, per_token_layer, n_train, attention_seq=attended)


@record(frozen=True)
class _Speed:
    flops_per_token: float
    mfu: float
    tokens_per_sec_per_gpu: float
    tokens_per_sec: float
    source: str
    peak_flops: float
    scaling_efficiency: float
    runs: int


def validate_stack(job: rec.Job) -> None:
    problems = stack_problems(job)
    if problems:
        # each problem starts "field (--flag) = value: ..." (stack_problems); no `re`: it costs start-up time
        flags = dict.fromkeys(p.split("(--", 1)[1].split(")", 1)[0] for p in problems if "(--" in p)
        named = ", ".join(f"--{f}" for f in flags) or "the listed values"
        raise ConfigError("invalid job: " + "; ".join(problems), fix=f"change {named} as stated")


def _job_out(job: rec.Job, precision: str, real_tokens: int, steps: int, stack) -> rec.JobOut:
    lora = job.method != "full"
    return rec.JobOut(
        method=job.method, precision=precision, seq_len=job.seq_len, micro_batch=job.micro_batch,
        grad_accum=job.grad_accum, grad_ckpt=job.grad_ckpt, optimizer=job.optimizer, tokens_total=real_tokens,
        epochs=job.epochs, num_gpus=job.num_gpus, zero_stage=job.zero_stage,
        lora_r=job.lora_r if lora else None,
        lora_targets=list(expand_targets(job.model, job.lora_targets)) if lora else None,
        lora_dropout=peak.lora_dropout(job) if lora else None, use_dora=peak.uses_dora(job) if lora else None,
        packing=job.packing, cpu_offload=job.cpu_offload,
        global_batch_sequences=job.micro_batch * job.grad_accum * data_parallel_size(job), steps_total=steps,
        stack=asdict(stack),
    )


def _memory_out(m: mem.MemoryBytes, fits: bool, gpu_memory_gb: float) -> rec.MemoryOut:
    return rec.MemoryOut(
        weights_gb=m.weights / GB, gradients_gb=m.gradients / GB, optimizer_gb=(m.optimizer + m.master) / GB,
        activations_gb=m.activations / GB, logits_gb=m.logits / GB,
        overhead_gb=(m.overhead + m.quant_workspace) / GB, peak_gb_per_gpu=m.peak / GB, fits=fits,
        master_weights_gb=m.master / GB, quant_workspace_gb=m.quant_workspace / GB,
        usable_gb_per_gpu=gpu_memory_gb, cpu_offload_gb=m.cpu_offload / GB, peak_allocated_gb=m.allocated / GB,
        peak_reserved_gb=m.reserved / GB, cuda_context_gb=m.context / GB, fits_band_high=fits,
        dora_workspace_gb=m.dora_workspace / GB, optimizer_step_gb=m.optimizer_step / GB,
    )
