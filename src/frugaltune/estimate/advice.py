"""What would fit when a job does not: the cheapest single changes that bring the peak under the GPU's memory."""

from __future__ import annotations

from frugaltune.estimate import records as rec
from frugaltune.estimate.calibration import Coefficients
from frugaltune.estimate.estimator import GB


def _candidate_changes(job: rec.Job) -> list[tuple[str, dict]]:
    """Single changes in the order a user would try them: cheapest in speed or quality first."""
    changes: list[tuple[str, dict]] = []
    if not job.grad_ckpt:
        changes.append(("--grad-ckpt", {"grad_ckpt": True}))
    from frugaltune.estimate.stack import resolve_stack

    stack = resolve_stack(job)
    if stack.loss == "hf" and stack.loss_kernel == "hf":
        changes.append(("--loss chunked", {"loss": "chunked"}))  # the logits one chunk at a time
    if job.micro_batch > 1:
        changes.append(("--micro-batch 1", {"micro_batch": 1, "grad_accum": job.grad_accum * job.micro_batch}))
    if not stack.activation_offload:
        changes.append(("--activation-offload", {"activation_offload": True}))
    if job.method == "full" and not stack.optimizer_in_backward and job.grad_accum == 1 and job.num_gpus == 1:
        changes.append(("--optimizer-in-backward", {"optimizer_in_backward": True}))
    if job.method == "full" and job.optimizer == "adamw":
        changes.append(("--optimizer adamw8bit", {"optimizer": "adamw8bit"}))
    if job.method == "full" and job.precision in ("bf16", "fp16"):
        changes.append(("--precision bf16-true", {"precision": "bf16-true"}))  # no fp32 master, bf16 states
    if job.method == "full":
        changes.append(("--method lora", {"method": "lora"}))
    if job.method in ("full", "lora"):
        changes.append(("--method qlora --grad-ckpt --micro-batch 1",
                        {"method": "qlora", "grad_ckpt": True, "micro_batch": 1}))
    if job.seq_len > 512:
        changes.append((f"--seq-len {job.seq_len // 2}", {"seq_len": job.seq_len // 2}))
    return changes


def what_would_fit(job: rec.Job, hw: rec.Hardware, coef: Coefficients, max_gpus: int = 8) -> list[str]:
    """Flags (with their peak) that make the job fit on hw.gpu; then the fewest GPUs under ZeRO-3 that do."""
    from frugaltune.estimate.estimator import effective_precision, memory_breakdown

    capacity = hw.gpu.memory_gb * GB
    precision = effective_precision(job.precision, hw.gpu, [])
    found = []
    for flag, change in _candidate_changes(job):
        trial = job.with_(**change)
        trial_precision = effective_precision(trial.precision, hw.gpu, [])
        if trial.precision != job.precision and trial_precision != trial.precision:
            continue  # e.g. bf16-true on a GPU without bf16
        peak = memory_breakdown(trial, trial_precision, coef).peak
        if peak <= capacity:
            found.append(f"{flag} (peak {peak / GB:.1f} GB)")
    for gpus in (2, 4, 8):
        if gpus <= max_gpus and gpus > job.num_gpus:
            trial = job.with_(num_gpus=gpus, zero_stage=3)
            peak = memory_breakdown(trial, precision, coef).peak
            if peak <= capacity:
                found.append(f"--num-gpus {gpus} --zero-stage 3 (peak {peak / GB:.1f} GB per GPU)")
                break
    return found


def does_not_fit_warning(job: rec.Job, hw: rec.Hardware, peak_bytes: float, coef: Coefficients) -> str:
    options = what_would_fit(job, hw, coef)
    head = (f"does not fit: {job.method} {job.model.name} needs {peak_bytes / GB:.1f} GB per GPU, "
            f"{hw.gpu.name} has {hw.gpu.memory_gb:g} GB")
    if not options:
        return head + "; nothing tried fits on this GPU: use a larger GPU or more GPUs with --zero-stage 3"
    return head + "; would fit with: " + "; ".join(options)
