"""From a short measured stretch of a run to the whole run: when the speed has settled, and what the run will take.

Pure functions (no torch, no I/O), used by `frugaltune probe` (train/probe.py).

Settling: a step's cost is measured as seconds per padded token (the compute a step does grows with the padded
batch, so steps of different lengths compare). The speed has settled when the coefficient of variation
(standard deviation / mean) of the last `window` steps is at most `cv_max`; the steps before the first such
window are warm-up (allocator growth, lazy initialisation, kernel selection) and are left out of the measurement.

Projection: the run's training seconds = measured seconds per padded token x the padded tokens of all its steps
(known exactly before it runs: the batch order is a pure function of the seed, train/loader.py); plus every
evaluation it will run (the measured time of one evaluation x their number), every checkpoint save (the measured
save x their number, from checkpoints.every_steps / every_minutes), the final model save, and the start-up
(process start to the first step, as measured). Billed time applies the platform's increment and minimum
(estimate/cost.py) when the machine is a catalog offer, else it is the wall time.
"""

from __future__ import annotations

import math

DEFAULT_WINDOW = 5
DEFAULT_CV_MAX = 0.10  # 10 %: below the noise of a shared machine's step times, above a quiet GPU's


def coefficient_of_variation(values: list[float]) -> float:
    """Population standard deviation / mean (inf for fewer than two values or a zero mean)."""
    if len(values) < 2:
        return math.inf
    mean = sum(values) / len(values)
    if mean <= 0:
        return math.inf
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) / mean


def warmup_steps(costs: list[float], window: int = DEFAULT_WINDOW, cv_max: float = DEFAULT_CV_MAX) -> int | None:
    """Steps before the first window of `window` steps whose costs vary by at most `cv_max`; None if none has yet.

    The first step always counts as warm-up (it allocates and initialises)."""
    for start in range(1, len(costs) - window + 1):
        if coefficient_of_variation(costs[start:start + window]) <= cv_max:
            return start
    return None


def settled(costs: list[float], window: int = DEFAULT_WINDOW, cv_max: float = DEFAULT_CV_MAX) -> bool:
    """True when the last `window` steps (warm-up aside) vary by at most `cv_max`: more steps add little."""
    return len(costs) > window and coefficient_of_variation(costs[-window:]) <= cv_max


def measured_warmup(costs: list[float], window: int = DEFAULT_WINDOW, cv_max: float = DEFAULT_CV_MAX) -> int:
    """Warm-up steps to leave out of a finished probe: the settling point, or 1 when it never settled; at most half
    of the steps, so a noisy machine still leaves a measurement."""
    found = warmup_steps(costs, window, cv_max)
    return min(found if found is not None else 1, max(1, len(costs) // 2))


def evaluations(total_steps: int, eval_every: int | None, eval_before: bool, has_eval: bool) -> int:
    """How many evaluations a fresh run does: before the first step (eval_before), every `eval_every` steps short
    of the last, and once at the end (recipe: `_after_step`, `_finish`)."""
    if not has_eval:
        return 0
    periodic = (total_steps - 1) // eval_every if eval_every else 0
    return int(eval_before) + periodic + 1


def checkpoint_saves(total_steps: int, every_steps: int | None, every_minutes: float | None,
                     seconds_per_step: float) -> int:
    """Checkpoints a run writes: every `every_steps` steps, plus the timed saves that fall between those (the
    timer restarts at every save), plus the final one when the last step is not a multiple of `every_steps`."""
    interval_steps = every_steps or total_steps
    by_steps = total_steps // every_steps if every_steps else 0
    timed = 0
    if every_minutes:
        per_interval = int(interval_steps * seconds_per_step // (every_minutes * 60))
        timed = per_interval * max(1, math.ceil(total_steps / interval_steps))
    final = 0 if every_steps and total_steps % every_steps == 0 and not timed else 1
    return by_steps + timed + final


def billed_seconds(seconds: float, increment_s: int | None = None, minimum_s: int | None = None) -> float:
    """Wall seconds rounded up to the billing increment and minimum (none: billed as measured)."""
    if not increment_s:
        return max(seconds, float(minimum_s or 0))
    from frugaltune.estimate.cost import billed_seconds as rounded

    return rounded(seconds, increment_s, minimum_s or 0)


def project(*, seconds_per_padded_token: float, padded_tokens: float, evaluations: int, eval_seconds: float,
            saves: int, save_seconds: float, final_save_seconds: float, setup_seconds: float,
            usd_per_hour: float | None = None, increment_s: int | None = None,
            minimum_s: int | None = None) -> dict:
    """The whole run's hours and dollars from its measured parts (see the module docstring)."""
    train_s = seconds_per_padded_token * padded_tokens
    eval_s = evaluations * eval_seconds
    save_s = saves * save_seconds + final_save_seconds
    wall_s = setup_seconds + train_s + eval_s + save_s
    billed_s = billed_seconds(wall_s, increment_s, minimum_s)
    return {"train_hours": train_s / 3600, "eval_hours": eval_s / 3600, "checkpoint_hours": save_s / 3600,
            "setup_hours": setup_seconds / 3600, "hours": wall_s / 3600, "billed_hours": billed_s / 3600,
            "usd_per_hour": usd_per_hour,
            "cost_usd": billed_s / 3600 * usd_per_hour if usd_per_hour is not None else None}


def ratios(pairs: dict[str, tuple[float | None, float | None]]) -> dict[str, dict]:
    """{figure: {measured, estimated, ratio = measured / estimated}} (ratio None where either is missing)."""
    out = {}
    for key, (measured, estimated) in pairs.items():
        ratio = measured / estimated if measured is not None and estimated else None
        out[key] = {"measured": measured, "estimated": estimated, "ratio": ratio}
    return out
