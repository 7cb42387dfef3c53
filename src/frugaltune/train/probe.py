"""`frugaltune probe CONFIG`: run the config's first steps on this machine, with its real data, model and settings,
and price the whole run from what they measured.

It sets the run up exactly as `frugaltune train` would (in a scratch run directory, so no real run is touched),
times optimizer steps until their speed settles (or `steps` of them), one checkpoint save, the final model save and
one evaluation pass (on a slice of the held-out set, scaled to all of it), then projects the full run
(report/projection.py) beside the catalog estimate for this machine, with measured / estimated ratios, and
records the measurement in the calibration store so later estimates for this GPU x method use it. Nothing is left
behind unless `keep` is set.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from frugaltune.report import projection as P
from frugaltune.train.config import RunConfig, load_config

MAX_PROBE_SECONDS = 180.0  # "at most a few minutes" of steps when no step count is given
MIN_MEASURED_STEPS = 10
EVAL_SLICE = 32  # held-out examples timed; the time is scaled to the whole held-out set


def probe(config: RunConfig | str | Path, *, steps: int | None = None, keep: bool = False,
          max_seconds: float = MAX_PROBE_SECONDS, started_at: float | None = None, record: bool = True,
          alternatives: int = 3) -> dict:
    """Measure the first steps of `config` here and project the whole run.

    Args:
        config: a RunConfig or the path of a run YAML.
        steps: optimizer steps to time (default: until the speed settles, at most `max_seconds`).
        keep: keep the probe's run directory (checkpoint, ledger) instead of removing it.
        max_seconds: time limit of the stepping when `steps` is not given.
        started_at: this process's start (unix time), so start-up is measured as a run would bill it.
        record: append the measurement to the calibration store.
        alternatives: how many of the planner's cheapest options to re-price from the measurement (GPU only).

    Returns:
        The probe's JSON: measured figures, the projection, the estimate, ratios, alternatives, record path.
    """
    from frugaltune.train.recipe import Recipe

    started_at = started_at or time.time()
    cfg, world, origin = _probe_config(config)
    scratch = Path(tempfile.mkdtemp(prefix="frugaltune-probe-"))
    cfg.output.dir = str(scratch / cfg.run_name)
    recipe = Recipe(cfg, resume="never", quiet=True, started_at=started_at)
    try:
        recipe.setup()
        setup_seconds = time.time() - started_at
        costs, tokens, seconds, ends = _time_steps(recipe, steps, max_seconds)
        result = _result(recipe, origin, _measure(recipe, costs, tokens, seconds, ends, setup_seconds), world,
                         alternatives)
        result["calibration_record"] = _record(recipe, result) if record else None
    finally:
        recipe.cleanup()
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
    result["kept"] = str(scratch) if keep else None
    return result


def _probe_config(config: RunConfig | str | Path) -> tuple[RunConfig, int, str]:
    """A copy of the config that touches nothing outside the scratch directory: no mirror, no remote loggers."""
    cfg = config.model_copy(deep=True) if isinstance(config, RunConfig) else load_config(config)
    cfg.checkpoints.mirror = None
    world = cfg.distributed.world_size
    if world > 1:  # one process does the global batch the run's processes split (more micro-batches per step)
        cfg.distributed.num_processes, cfg.distributed.num_nodes, cfg.distributed.engine = 1, 1, "ddp"
        cfg.distributed.zero_stage, cfg.distributed.cpu_offload = None, "none"
        cfg.training.grad_accum *= world
    if hasattr(cfg, "logging"):
        cfg.logging = type(cfg.logging)(tensorboard=False)
    return cfg, world, str(config) if not isinstance(config, RunConfig) else cfg.run_name


def _padded_tokens(recipe, first: int, count: int) -> list[int]:
    """Padded tokens (longest x rows) of optimizer steps first .. first+count-1 (what each step computes on)."""
    ga, out = recipe.cfg.training.grad_accum, []
    for step in range(first, first + count):
        total = 0
        for g in range(step * ga, (step + 1) * ga):
            lengths = [len(recipe.train_set[i]["input_ids"]) for i in recipe.plan.indices(g)]
            total += max(lengths) * len(lengths)
        out.append(total)
    return out


def _time_steps(recipe, steps: int | None, max_seconds: float) -> tuple[list[float], list[int], list[float],
                                                                       list[float]]:
    """Run steps; (seconds per padded token, tokens, seconds) of each, and the unix times they ended (the first
    entry: when stepping began). Stops after `steps`, or once settled."""
    limit = min(steps or recipe.total_steps, recipe.total_steps)
    costs, tokens, seconds = [], [], []
    recipe.model.train()
    t_start = time.monotonic()
    ends = [time.time()]
    while len(costs) < limit:
        padded = _padded_tokens(recipe, len(costs), 1)[0]
        n, s = recipe.run_step()
        ends.append(time.time())
        costs.append(s / max(padded, 1))
        tokens.append(n)
        seconds.append(s)
        if steps is None and (_enough(costs) or time.monotonic() - t_start > max_seconds):
            break
    return costs, tokens, seconds, ends


def _enough(costs: list[float]) -> bool:
    warm = P.warmup_steps(costs)
    return warm is not None and len(costs) - warm >= MIN_MEASURED_STEPS and P.settled(costs[warm:])


def _measure(recipe, costs: list[float], tokens: list[int], seconds: list[float], ends: list[float],
             setup_seconds: float) -> dict:
    warm = P.measured_warmup(costs)
    padded = _padded_tokens(recipe, warm, len(costs) - warm)
    run_s = sum(seconds[warm:])
    allocated_gb, reserved_gb, source = _peak_memory(recipe.torch)
    save_s, final_s = _time_saves(recipe)
    return {"tokens_per_sec": sum(tokens[warm:]) / run_s if run_s > 0 else None,
            "seconds_per_step": run_s / (len(costs) - warm), "seconds_per_padded_token": run_s / sum(padded),
            "peak_memory_allocated_gb": allocated_gb, "peak_memory_reserved_gb": reserved_gb,
            "peak_memory_source": source, "checkpoint_save_seconds": save_s, "final_save_seconds": final_s,
            "eval_seconds": _time_eval(recipe), "setup_seconds": setup_seconds,
            "steps": len(costs), "warmup_steps": warm, "measured_steps": len(costs) - warm,
            "measured_from": ends[warm], "measured_to": ends[-1],
            "step_time_cv": P.coefficient_of_variation(costs[warm:]), "settled": P.settled(costs[warm:])}


def _peak_memory(torch) -> tuple[float, float | None, str]:
    """(peak allocated GB, peak reserved GB or None, what was measured)."""
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 1e9, torch.cuda.max_memory_reserved() / 1e9, "cuda_max_allocated"
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, None, "process_rss_peak"


def _time_saves(recipe) -> tuple[float, float]:
    """(one checkpoint save, the final model save) in seconds, both written into the scratch run directory."""
    t0 = time.perf_counter()
    recipe.save_checkpoint("probe")
    t1 = time.perf_counter()
    recipe._save_final()  # a collective under sharding engines: every rank takes part, rank 0 writes
    return t1 - t0, time.perf_counter() - t1


def _time_eval(recipe) -> float:
    """Seconds one evaluation of the whole held-out set takes: a slice of it, timed, scaled by its size."""
    from frugaltune.train.evaluate import evaluate

    n_eval = max(len(recipe.eval_set), len(recipe.eval_records))
    if not n_eval:
        return 0.0
    k = min(n_eval, EVAL_SLICE)
    d = recipe.cfg.data
    t0 = time.perf_counter()
    evaluate(recipe.engine.eval_model(recipe.model), recipe.tokenizer, recipe.eval_set[:k],
             recipe.eval_records[:k] if recipe.labels else None, recipe.labels, prompt_template=d.prompt_template,
             max_seq_len=d.max_seq_len, batch_size=recipe.cfg.training.micro_batch, device=recipe.engine.device)
    return (time.perf_counter() - t0) * n_eval / k


def _result(recipe, origin: str, m: dict, world: int, alternatives: int) -> dict:
    """The projection of the configured run. A run over `world` processes is projected as 1/world of the time one
    process takes for all of it (ideal scaling: the communication between processes is not measured here)."""
    from frugaltune.train.probe_price import price_projection

    cfg, total = recipe.cfg, recipe.total_steps
    t = cfg.training
    n_evals = P.evaluations(total, t.eval_every, t.eval_before, bool(recipe.eval_set or recipe.eval_records))
    n_saves = P.checkpoint_saves(total, cfg.checkpoints.every_steps, cfg.checkpoints.every_minutes,
                                 m["seconds_per_step"])
    padded_total = sum(_padded_tokens(recipe, 0, total))
    parts = {"seconds_per_padded_token": m["seconds_per_padded_token"] / world, "padded_tokens": padded_total,
             "evaluations": n_evals, "eval_seconds": m["eval_seconds"] / world, "saves": n_saves,
             "save_seconds": m["checkpoint_save_seconds"], "final_save_seconds": m["final_save_seconds"],
             "setup_seconds": m["setup_seconds"]}
    out = {"config": origin, "run_name": cfg.run_name, "method": cfg.method.kind, "model": cfg.model.source,
           "machine": recipe.hardware, "measured": m,
           "run": {"steps": total, "processes": world, "evaluations": n_evals, "checkpoints": n_saves, "padded_tokens": padded_total,
                   "tokens": sum(len(recipe.train_set[i]["input_ids"]) for g in range(total * t.grad_accum)
                                 for i in recipe.plan.indices(g))}}
    out.update(price_projection(recipe, parts, m, alternatives))
    if world > 1:
        out["note"] = "; ".join(filter(None, [out.get("note"), (
            f"the config runs {world} processes; one was measured doing all of the work, and the run is projected at "
            f"1/{world} of that time (ideal scaling: communication between processes not measured; peak memory is "
            "one unsharded process's)")]))
    return out


def _record(recipe, result: dict) -> str:
    """Append the probe's measurement to the calibration store (estimate/measured.py); returns the file."""
    from frugaltune.estimate.measured import record_measurement

    est = (result.get("estimate") or {}) if result.get("estimate_applies") else {}
    m, hw = result["measured"], recipe.hardware
    return record_measurement(
        gpu=hw.get("gpu"), method=recipe.cfg.method.kind,
        model=(recipe.estimate or {}).get("model", {}).get("name") or recipe.cfg.model.source,
        measured_tokens_per_sec_per_gpu=m["tokens_per_sec"],
        estimated_tokens_per_sec_per_gpu=est.get("tokens_per_sec"),
        measured_peak_gb=m["peak_memory_allocated_gb"], estimated_peak_gb=est.get("peak_gb_per_gpu"),
        run_dir="", source="probe", device=hw.get("device"), machine=hw.get("name"),
        config=result["config"], host=os.uname().nodename)
