"""The estimate for a run's own job, and measured / estimated beside each measured figure."""

from __future__ import annotations

import inspect
import logging
from typing import Any

from frugaltune.estimate.steps import sequences_per_epoch

log = logging.getLogger(__name__)

# summary key -> path of the same figure in the estimate JSON
COMPARED = {
    "tokens_per_sec": "throughput.tokens_per_sec",
    "peak_memory_gb": "memory.peak_gb_per_gpu",
    "train_hours": "time.hours",
    "billed_hours": "time.billed_hours",
    "cost_usd": "cost_breakdown.compute_cost",
}


def job_kwargs(cfg, *, model_ref: str, n_examples: int, tokens_per_sample: float, padded_tokens_per_sample: float,
               steps: int | None = None, world_size: int | None = None,
               longest_sample_tokens: int | None = None,
               attended_tokens_per_sample: float | None = None) -> dict[str, Any]:
    """The estimator's inputs for this run: the same model, method, batch, engine and the rows it trains on.

    The inverse of `frugaltune plan`'s config writer (plan/runconfig.py): a planned config maps back to the job
    the plan estimated. `epochs` is the config's; a run cut by `max_steps` is estimated for the epochs its
    `steps` cover (steps x global batch / sequences per epoch, over `world_size` processes, default
    cost.num_gpus), so it is estimated for the work it does, not for a full pass.
    """
    t, m = cfg.training, cfg.method
    # The estimator counts LoRA on the transformer blocks' projections; an lm_head adapter (presets) is left out.
    targets = [x for x in m.lora.targets if x != "lm_head"] or ["q_proj", "v_proj"]
    precision = t.precision if t.precision != "auto" else "bf16"
    epochs = t.epochs or 1.0
    if t.max_steps is not None and steps:
        world = world_size or cfg.cost.num_gpus
        per_epoch = sequences_per_epoch(n_examples, tokens_per_sample, cfg.data.max_seq_len, cfg.data.packing)
        epochs = steps * t.micro_batch * t.grad_accum * world / per_epoch
    return {"model": model_ref, "method": m.kind, "gpu": cfg.cost.gpu, "platform": cfg.cost.platform,
            "pricing": cfg.cost.pricing, "num_gpus": cfg.cost.num_gpus, "precision": precision,
            "seq_len": cfg.data.max_seq_len, "micro_batch": t.micro_batch, "grad_accum": t.grad_accum,
            "grad_ckpt": t.grad_ckpt, "optimizer": t.optimizer, "lora_r": m.lora.r, "lora_targets": targets,
            "lora_dropout": m.lora.dropout if m.kind != "full" else None,
            "use_dora": getattr(m.lora, "use_dora", False) and m.kind != "full",
            "dataset_size": n_examples, "tokens_per_sample": tokens_per_sample,
            "padded_tokens_per_sample": padded_tokens_per_sample, "longest_sample_tokens": longest_sample_tokens,
            "attended_tokens_per_sample": attended_tokens_per_sample,
            "epochs": epochs, "packing": cfg.data.packing, **distributed_kwargs(cfg), **offer_kwargs(cfg),
            **stack_kwargs(t), **attention_kwargs(cfg)}


def stack_kwargs(training) -> dict[str, Any]:
    """The training-stack options the runner applies (train/stack_runtime.py), as the estimator's stack inputs."""
    return {"framework": "frugaltune", "loss": getattr(training, "loss", "hf"),
            "activation_offload": getattr(training, "activation_offload", False),
            "optimizer_in_backward": getattr(training, "optimizer_in_backward", False),
            "compile": getattr(training, "compile", False)}


# model.attention -> the estimator's --attention; sdpa and auto are left to the estimator, which resolves them by the
# batching (estimate/stack.py padded_batches)
RUNNER_ATTENTION = {"eager": "eager", "flash_attention_2": "flash", "flash_attention_3": "flash"}


def attention_kwargs(cfg) -> dict[str, Any]:
    """The estimator's attention for the config's model.attention, where it names one the estimator must not guess."""
    attention = RUNNER_ATTENTION.get(getattr(getattr(cfg, "model", None), "attention", "auto"))
    return {"attention": attention} if attention else {}


def distributed_kwargs(cfg) -> dict[str, Any]:
    """ZeRO stage and CPU offload of the config's engine section (none: plain data parallel)."""
    section = getattr(cfg, "distributed", None)
    if section is None:
        return {}
    stage = getattr(section, "stage", None)  # the engine's default when unset: fsdp 3, deepspeed 2, ddp 0
    offload = getattr(section, "cpu_offload", "none")
    return {"zero_stage": stage or 0, "cpu_offload": offload not in (None, False, "none")}


def offer_kwargs(cfg) -> dict[str, Any]:
    """The exact catalog offer a planned config names (instance and region), when it names one."""
    return {k: getattr(cfg.cost, k, None) for k in ("instance", "region") if getattr(cfg.cost, k, None)}


def estimate_for_run(kwargs: dict[str, Any], fallback_model: str | None = None) -> tuple[dict | None, str | None]:
    """Call `frugaltune.estimate.build.estimate` with the run's job; (estimate JSON, None) or (None, why there is none).

    Arguments the estimator does not take are dropped; a model the catalog does not know is retried as
    `fallback_model` (a directory holding the run's config.json).
    """
    if not kwargs.get("gpu"):
        return None, ("no estimate: set cost.gpu to the GPU to estimate for (a CPU run has no GPU in the "
                      "catalog)")
    try:
        from frugaltune.estimate.build import estimate
    except ImportError as err:
        return None, f"no estimate: the estimator is not available ({err})"
    accepted = inspect.signature(estimate).parameters
    takes_all = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    args = {k: v for k, v in kwargs.items() if v is not None and (takes_all or k in accepted)}
    from frugaltune.errors import FrugalError

    for model in dict.fromkeys([args["model"], fallback_model]):
        if model is None:
            continue
        try:
            return _to_json(estimate(**{**args, "model": model})), None
        except FrugalError as err:
            problem = str(err)
        except (TypeError, ValueError) as err:  # an estimator API that changed under us must not stop training
            problem = f"{type(err).__name__}: {err}"
    return None, f"no estimate: {problem}"


def _to_json(est: Any) -> dict:
    return est.to_json() if hasattr(est, "to_json") else dict(est)


def _dig(obj: dict | None, dotted: str) -> Any:
    for key in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def vs_estimate(summary: dict, estimate: dict | None) -> dict[str, dict]:
    """{figure: {measured, estimated, ratio}} with ratio = measured / estimated (None where either is missing).

    The estimate is for a GPU; on a CPU smoke run the ratios show how far the machine is from it, not an error.
    """
    out = {}
    for key, path in COMPARED.items():
        measured, estimated = summary.get(key), _dig(estimate, path)
        ratio = measured / estimated if isinstance(measured, (int, float)) and estimated else None
        out[key] = {"measured": measured, "estimated": estimated, "ratio": ratio}
    return out
