"""A run's books (the parts of recipe.Recipe that rank 0 keeps): the estimate of this run beside what it measures,
the fingerprint of its training examples, summary.json, and the RunResult it ends with."""

from __future__ import annotations

import logging

from frugaltune.report import compare, hardware, ledger

log = logging.getLogger("frugaltune.train")


def estimate(r) -> None:
    """r.estimate: the estimator's answer for this run's job on the GPU measured (rank 0; like for like only)."""
    if not r.is_main:
        return
    ex = r.train_set
    lengths = [len(e["input_ids"]) for e in ex]
    n_tokens = sum(lengths)
    attended = sum(n * n for n in lengths) / n_tokens if n_tokens else None  # E[L^2] / E[L] (dataset_hist)
    padded = _padded_tokens_per_sample(r)
    ref = r.source.path if r.source.kind == "hub" else _config_dir(r)
    kwargs = compare.job_kwargs(r.cfg, model_ref=ref, n_examples=len(ex), tokens_per_sample=n_tokens / len(ex),
                                padded_tokens_per_sample=padded, steps=r.total_steps,
                                world_size=r.engine.num_processes,
                                attended_tokens_per_sample=attended)
    r.estimate_job = kwargs
    kwargs["gpu"], not_applicable = hardware.estimate_gpu(r.cfg.cost.gpu, r.hardware)
    if kwargs["gpu"] != r.cfg.cost.gpu and kwargs["gpu"] is not None:
        kwargs.update(platform=None, instance=None, region=None)  # the GPU measured, at its cheapest offer
    r.estimate, r.estimate_note = compare.estimate_for_run(kwargs, fallback_model=_config_dir(r))
    r.estimate_applies = r.estimate is not None and not_applicable is None
    if r.estimate_note and r.engine.is_main:
        log.warning("%s", r.estimate_note)
    r.estimate_note = r.estimate_note or not_applicable


def data_fingerprint(train_set: list[dict]) -> str:
    """sha256 of the tokenized training examples (what the data order indexes into)."""
    import hashlib
    import json

    h = hashlib.sha256()
    for ex in train_set:
        h.update(json.dumps([ex["input_ids"], ex["labels"]]).encode())
    return h.hexdigest()


def _padded_tokens_per_sample(r) -> float:
    """Mean padded length per sequence under this run's batching (the estimator's compute per sample); a flat
    packed micro-batch (data.collate_packed) has no padding."""
    mb, order, total = r.cfg.training.micro_batch, r.plan.order(0), 0
    flat = getattr(r, "layout", "padded") == "flat"
    for start in range(0, len(order), mb):
        chunk = [len(r.train_set[i]["input_ids"]) for i in order[start:start + mb]]
        total += sum(chunk) if flat else max(chunk) * len(chunk)
    return total / len(order)


def _config_dir(r) -> str:
    """A directory with the base model's config.json (what the estimator reads to size the model)."""
    if r.source.kind in ("local", "preset"):
        return r.source.path
    out = r.run_dir / "base-config"
    out.mkdir(exist_ok=True)
    model = r.engine.unwrap(r.model)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    cfg = base.config.to_dict()
    cfg.pop("quantization_config", None)
    import json

    (out / "config.json").write_text(json.dumps(cfg, indent=1, default=str))
    return str(out)


def write_summary(r) -> dict:
    """summary.json: the ledger's running totals, priced, beside this run's estimate."""
    cfg = r.cfg
    extra = {"run_name": cfg.run_name, "model": cfg.model.source, "method": cfg.method.kind,
             "total_steps": r.total_steps, "trainable_params": r.trainable_params,
             "total_params": r.total_params, "compute_dtype": r.compute_dtype,
             "device": str(r.engine.device), "num_processes": r.engine.num_processes,
             "distributed": r.engine.describe(),
             "gpu": cfg.cost.gpu, "platform": cfg.cost.platform, "hardware": r.hardware,
             "estimate_applies": r.estimate_applies}
    price, extra["price_source"] = hardware.run_price(cfg, r.estimate, r.estimate_applies)
    summary = r.ledger.summary(usd_per_hour=price, extra=extra)  # running totals: no re-read of the log
    summary["estimate"] = r.estimate
    summary["estimate_note"] = r.estimate_note
    summary["vs_estimate"] = compare.vs_estimate(summary, r.estimate if r.estimate_applies else None)
    ledger.write_summary(r.run_dir, summary)
    return summary


def finished_before(r) -> bool:
    """A restarted run that had already finished this step (a supervisor restarting a completed job)."""
    step, attempts = r.progress.step, r.ledger.tally.attempts.values()
    return any(a["ended"] == "finished" and a["last_step"] == step and a["attempt"] != r.ledger.attempt
               for a in attempts)
