"""Training that notices it is broken: a loss or gradient that is not finite stops the run before the optimizer
step that would spread it into the weights, and a checkpoint is never written from weights that are not finite, so
the newest checkpoint is always a good one. The run ends with DivergedError (exit 65), its message naming the step,
what was not finite, the last finite loss and the checkpoint kept; the ledger records a `diverged` event.

As the HF Trainer's nan checks and torchtune's: cheap (one fused norm over the gradients, one host sync, which a
CUDA step already has), and exact across processes (every rank stops at the same step). Under fp16 mixed precision
an overflowing gradient is the loss scaler's to skip, so only the loss is checked there.
"""

from __future__ import annotations

import math

from frugaltune.errors import DivergedError


def _grads(model) -> list:
    return [p.grad for p in model.parameters() if p.grad is not None]


def nonfinite_grad_norm(torch, model) -> float | None:
    """The 2-norm of this rank's gradients when it is not finite, else None (no gradients: None)."""
    grads = _grads(model)
    if not grads:
        return None
    local = [g.to_local() if hasattr(g, "to_local") else g for g in grads]  # FSDP2: this rank's shard
    norms = torch._foreach_norm([g.detach() for g in local if g.numel()])
    if not norms:
        return None
    total = float(torch.linalg.vector_norm(torch.stack([n.float() for n in norms])).item())
    return None if math.isfinite(total) else total


def scaler_active(engine) -> bool:
    """fp16 mixed precision with a loss scaler: an inf gradient means "skip this step", not divergence."""
    accelerator = getattr(engine, "accelerator", None)
    return getattr(accelerator, "scaler", None) is not None or getattr(engine, "name", "") == "deepspeed"


def problem_before_step(recipe, loss) -> str | None:
    """What is not finite in the step about to be applied ("the loss is nan"), or None."""
    value = float(loss.item()) if hasattr(loss, "item") else float(loss)
    if not math.isfinite(value):
        return f"the loss is {value}"
    if not scaler_active(recipe.engine):
        norm = nonfinite_grad_norm(recipe.torch, recipe.model)
        if norm is not None:
            return f"the gradient norm is {norm}"
    return None


def check_step(recipe, loss) -> None:
    """Before the optimizer step: stop (every rank alike) when the loss or the gradients are not finite.

    Raises:
        DivergedError: with the step, what was not finite, the last finite loss and the checkpoint kept.
    """
    problem = problem_before_step(recipe, loss)
    if recipe._agree(problem is not None):
        raise diverged(recipe, recipe.progress.step + 1, problem or "a loss or gradient on another process is "
                       "not finite", "stopped before this step changed the weights")


def check_weights(recipe) -> None:
    """Before a checkpoint: every trainable weight finite, else stop without writing it (every rank alike)."""
    torch = recipe.torch
    params = [p for p in recipe.model.parameters() if p.requires_grad]
    local = [p.to_local() if hasattr(p, "to_local") else p for p in params]
    norms = torch._foreach_norm([p.detach() for p in local if p.numel()]) if local else []
    bad = bool(norms) and not math.isfinite(float(torch.linalg.vector_norm(torch.stack([n.float() for n in norms]))))
    if recipe._agree(bad):
        raise diverged(recipe, recipe.progress.step, "the trained weights are no longer finite",
                       "this checkpoint was not written")


def diverged(recipe, step: int, problem: str, what_was_done: str) -> DivergedError:
    from frugaltune.train import checkpoint as ckpt

    last = recipe.ledger.tally.last_step if hasattr(recipe.ledger, "tally") else None
    loss = f"; the last logged loss was {last['loss']:.4g} at step {last['step']}" if last and last.get(
        "loss") is not None and math.isfinite(last["loss"]) else ""
    kept = ckpt.complete_checkpoints(recipe.ckpt_root)
    checkpoint = f"the last good checkpoint, {kept[-1].name}, is kept" if kept else "no checkpoint was written yet"
    resume = f"it resumes from {kept[-1].name}" if kept else "it starts over"
    return DivergedError(f"training diverged at step {step}: {problem}{loss}; {what_was_done}, and {checkpoint}.",
                         fix=f"lower training.lr (now {recipe.cfg.training.lr:g}) or check the data, then run the same"
                         f" command ({resume}; --resume never starts over).",
                         at_step=step, checkpoint=kept[-1].name if kept else None)
