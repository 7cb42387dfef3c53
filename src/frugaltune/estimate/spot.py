"""Spot pricing done right: the expected cost of interruptions, not just the list price.

Model (all times in hours):
- Interruptions arrive as a Poisson process with rate `rate` (per hour) while the job computes or writes a
  checkpoint. The rate comes from `catalog/data/spot_assumptions.csv` (per platform, then per offer kind, then a
  default; every row is a labelled assumption) unless the caller passes one.
- The job checkpoints every `interval` hours of compute; a write takes `ckpt` hours (checkpoint bytes / write
  bandwidth). The interval is Young's first-order optimum  tau = sqrt(2 * C * MTTI)  (J. W. Young, "A first order
  approximation to the optimum checkpoint interval", CACM 17(9), 1974; J. T. Daly, "A higher order estimate of the
  optimum checkpoint interval for restart dumps", FGCS 22(3), 2006, who shows it is accurate while C << MTTI).
- An interruption loses the work since the last complete checkpoint (on average about (tau + C) / 2, the exact
  mean of an exponential time modulo the cycle is used) and costs a restart: provisioning/boot (`restart_minutes`
  assumption) plus reading the checkpoint back (C). Per interruption that is the classic tau/2 + C of rework
  (Daly 2006) plus the restart. Restarts are billed and are not themselves interrupted.
- P10/P50/P90 come from a seeded Monte Carlo of exactly this process; the expectation (the mean) is analytic (fast,
  for ranking). With a long MTTI most runs are never interrupted, so the mean can sit above P90 (`spread_note`).

Pure functions with units in their names; the only I/O is reading the assumptions CSV (cached). Like the rest of
the estimate path, this module keeps csv, pathlib, functools and contextlib off `estimate --json`'s start-up.
"""

from __future__ import annotations

import math
import os
from contextvars import ContextVar

from frugaltune import datacache
from frugaltune.errors import CatalogError
from frugaltune.record import asdict, record

ASSUMPTIONS_FILE = "spot_assumptions.csv"
_DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "catalog", "data")
_COLUMNS = ("parameter", "scope", "value", "unit", "status", "basis", "source", "data_date")
_MAX_INTERRUPTIONS_PER_TRIAL = 10_000
# Saving more often than once a minute is impractical (step boundaries, filesystem latency): a floor on tau.
MIN_INTERVAL_HOURS = 1.0 / 60.0
DEFAULT_TRIALS = 2000
MIN_TRIALS = 100  # fewer trials than this give no usable P90: report none
PERCENTILES = (10, 50, 90)  # of hours and dollars, from the Monte Carlo
MC_EVENT_BUDGET = 400_000  # most exponential draws one Monte Carlo may make (about 0.2 s)
INFEASIBLE_REASON = "interruptions would more than double the fault-free time: checkpoints too slow for the rate"


# Caller-scoped defaults for what the estimator does not pass through (the user's --interruptions-per-hour, a
# smaller Monte Carlo while a planner ranks hundreds of candidates). Explicit arguments always win.
_OVERRIDES: ContextVar[dict | None] = ContextVar("frugaltune_spot_overrides", default=None)


class spot_overrides:  # noqa: N801 - a context manager used like a function: `with spot_overrides(...):`
    """Within the block, spot_outcome() uses these for arguments left at their defaults:
    interruptions_per_hour, n_trials, seed, extra_dirs. None values are ignored. Blocks nest."""

    def __init__(self, **values) -> None:
        self._values = {k: v for k, v in values.items() if v is not None}
        self._tokens: list = []

    def __enter__(self) -> None:
        self._tokens.append(_OVERRIDES.set({**(_OVERRIDES.get() or {}), **self._values}))

    def __exit__(self, *exc_info) -> None:
        _OVERRIDES.reset(self._tokens.pop())


@record(frozen=True)
class SpotAssumption:
    """One row of spot_assumptions.csv: a number, what it applies to, and why we believe it."""

    parameter: str  # interruptions_per_hour | checkpoint_write_gb_per_s | restart_minutes | notice_s
    scope: str  # a platform ("aws"), an offer kind ("marketplace", "serverless") or "default"
    value: float
    unit: str
    status: str  # "assumption" | "fact" | "user"
    basis: str
    source: str
    data_date: str


def _read_rows(path: str, status_override: str | None = None) -> list[SpotAssumption]:
    import csv

    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("parameter", "scope", "value") if c not in (reader.fieldnames or [])]
        if missing:
            raise CatalogError(f"{path}: missing column(s) {', '.join(missing)}.",
                               fix=f"Use the columns of the shipped file: {', '.join(_COLUMNS)}.")
        rows = []
        for i, raw in enumerate(reader, start=2):
            try:
                value = float(raw["value"])
                if not math.isfinite(value) or value < 0:
                    raise ValueError("not a finite number >= 0")
            except (TypeError, ValueError):
                raise CatalogError(f"{path}:{i}: value {raw['value']!r} is not a number (a finite one, >= 0).",
                                   fix="Write the value as a plain number in the row's unit.") from None
            rows.append(SpotAssumption(
                parameter=raw["parameter"].strip(), scope=raw["scope"].strip().lower(), value=value,
                unit=(raw.get("unit") or "").strip(), status=status_override or (raw.get("status") or "user").strip(),
                basis=(raw.get("basis") or "").strip(), source=(raw.get("source") or str(path)).strip(),
                data_date=(raw.get("data_date") or "unknown").strip()))
    return rows


_TABLES: dict[tuple[str, ...], dict[tuple[str, str], SpotAssumption]] = {}  # per process, by extra_dirs


def load_spot_assumptions(extra_dirs: tuple[str, ...] = ()) -> dict[tuple[str, str], SpotAssumption]:
    """The shipped assumptions, overridden row by row (same parameter and scope) by `spot_assumptions.csv` files
    found in `extra_dirs` (the user's catalog directories), later directories winning. Read once per process.

    Raises:
        CatalogError: a malformed assumptions file.
    """
    if extra_dirs not in _TABLES:
        table = {(r.parameter, r.scope): r for r in _shipped_assumptions()}
        for d in extra_dirs:
            path = os.path.join(os.path.expanduser(d), ASSUMPTIONS_FILE)
            if os.path.isfile(path):
                table.update({(r.parameter, r.scope): r for r in _read_rows(path)})
        _TABLES[extra_dirs] = table
    return _TABLES[extra_dirs]


def _shipped_assumptions() -> list[SpotAssumption]:
    path = os.path.join(_DATA_DIR, ASSUMPTIONS_FILE)
    parsed = datacache.cached("spot-assumptions", [path], lambda: [asdict(r) for r in _read_rows(path)])
    return [SpotAssumption(**values) for values in parsed]


def lookup_assumption(table: dict[tuple[str, str], SpotAssumption], parameter: str, platform: str,
                      kind: str) -> SpotAssumption:
    """Most specific row for `parameter`: the platform's, else the offer kind's, else the default."""
    for scope in (platform.lower(), kind.lower(), "default"):
        row = table.get((parameter, scope))
        if row is not None:
            return row
    raise CatalogError(f"no '{parameter}' row (not even a default) in {ASSUMPTIONS_FILE}.",
                       fix=f"Add a row '{parameter},default,<value>,...' to your {ASSUMPTIONS_FILE}.")


def checkpoint_write_hours(checkpoint_bytes_: float, write_gb_per_s: float) -> float:
    """Time to write (or read back) one checkpoint: bytes / bandwidth (GB = 1e9 bytes)."""
    return checkpoint_bytes_ / (write_gb_per_s * 1e9) / 3600.0


def young_daly_interval_hours(checkpoint_hours: float, mtti_hours: float) -> float:
    """Young's optimum compute time between checkpoints, tau = sqrt(2 * C * MTTI) (Young 1974, CACM 17(9);
    Daly 2006, FGCS 22(3), shows this first-order form is accurate while C << MTTI).
    Infinite when nothing interrupts (MTTI infinite) and 0 when the checkpoint is free."""
    if math.isinf(mtti_hours):
        return math.inf
    return math.sqrt(2.0 * checkpoint_hours * mtti_hours)


def expected_lost_hours(rate_per_hour: float, cycle_hours: float) -> float:
    """Mean work lost per interruption: E[X mod c] for X ~ Exp(rate), c = interval + write time.

    Derivation: X mod c given X in cycle k is an Exp(rate) truncated to [0, c), whose mean is
    1/rate - c / (exp(rate*c) - 1), the same for every k. For rate*c << 1 this is c/2 - rate*c^2/12 (about tau/2).
    """
    if rate_per_hour <= 0 or math.isinf(cycle_hours):
        return 0.0 if rate_per_hour <= 0 else 1.0 / rate_per_hour
    x = rate_per_hour * cycle_hours
    if x < 1e-6:
        return cycle_hours / 2.0
    return 1.0 / rate_per_hour - cycle_hours / math.expm1(x)


def analytic_expectation(*, work_hours: float, rate_per_hour: float, interval_hours: float,
                         checkpoint_hours: float, restart_hours: float) -> dict:
    """Expected interruptions, rework, restart and wall hours of the process in the module docstring.

    Fault-free wall F = W * (1 + C / tau) (one write per interval). Interruptions hit exposed time
    X = F + K * lost, so by Wald's identity E[K] = rate * E[X], giving E[K] = rate * F / (1 - rate * lost)
    = F * (exp(rate*c) - 1) / c with the exact `lost` (the classic exponential-failure result: each cycle of length
    c takes (exp(rate*c) - 1) / rate in expectation). E[hours] = F + E[K] * (lost + restart).
    `feasible` is False when interruptions would more than double the fault-free time (under half the billed
    hours doing useful work): a frugaltune policy line, not a physical limit; rent on-demand instead.
    """
    no_ckpt = math.isinf(interval_hours) or interval_hours <= 0
    overhead = 0.0 if no_ckpt else work_hours * checkpoint_hours / interval_hours
    fault_free = work_hours + overhead
    cycle = interval_hours + checkpoint_hours
    lost = expected_lost_hours(rate_per_hour, cycle)
    if rate_per_hour <= 0:
        n = 0.0
    elif math.isinf(cycle):  # never checkpoints: every interruption restarts from zero
        n = math.expm1(min(rate_per_hour * fault_free, 700.0))
    else:
        n = fault_free * math.expm1(min(rate_per_hour * cycle, 700.0)) / cycle
    lost_total = n * (lost if not math.isinf(cycle) else fault_free)
    hours = fault_free + lost_total + n * restart_hours
    return {"feasible": hours <= 2.0 * fault_free, "fault_free_hours": fault_free,
            "checkpoint_overhead_hours": overhead, "expected_interruptions": n, "expected_rework_hours": lost_total,
            "expected_restart_hours": n * restart_hours, "expected_hours": hours}


def monte_carlo_hours(*, work_hours: float, rate_per_hour: float, interval_hours: float, checkpoint_hours: float,
                      restart_hours: float, seed: int = 0, n_trials: int = 2000) -> list[float]:
    """Sorted wall hours of `n_trials` seeded simulations of the process in the module docstring.

    Each trial draws exponential times to the next interruption (inverse transform, -ln(1-u)/rate); an
    interruption keeps the completed (interval + write) cycles, loses the rest of the current one and adds a
    restart. Speed: one uniform per trial decides whether the first attempt finishes (u < 1 - exp(-rate * F)
    means it is interrupted), so only interrupted trials run the loop.
    """
    import random  # only where a Monte Carlo runs (start-up time of the estimate path)

    rng = random.Random(seed)
    rnd, log = rng.random, math.log
    overhead = 0.0 if math.isinf(interval_hours) else work_hours * checkpoint_hours / interval_hours
    fault_free = work_hours + overhead
    if rate_per_hour <= 0:
        return [fault_free] * n_trials
    cycle = interval_hours + checkpoint_hours
    p_hit = -math.expm1(-rate_per_hour * fault_free)  # P(the first attempt is interrupted)
    hit = [u for u in [rnd() for _ in range(n_trials)] if u < p_hit]
    out = [fault_free] * (n_trials - len(hit))
    for u in hit:
        remaining, hours = fault_free, 0.0
        for _k in range(_MAX_INTERRUPTIONS_PER_TRIAL):
            t = -log(1.0 - u) / rate_per_hour
            if t >= remaining:
                hours += remaining
                break
            remaining -= (t // cycle) * cycle
            hours += t + restart_hours
            u = rnd()
        else:
            hours = math.inf
        out.append(hours)
    out.sort()
    return out


def quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated quantile of an ascending list (numpy's default 'linear' method)."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


_ROW_ITEMS: dict[SpotAssumption, tuple] = {}


def _as_dict(row: SpotAssumption) -> dict:
    if row not in _ROW_ITEMS:
        _ROW_ITEMS[row] = tuple(asdict(row).items())
    return dict(_ROW_ITEMS[row])


def _resolve_inputs(platform: str, kind: str, interruptions_per_hour: float | None, checkpoint_bytes_: float,
                    extra_dirs: tuple[str, ...]) -> tuple[float, float, float, list[dict]]:
    """(rate/h, checkpoint write hours, restart hours excluding the checkpoint read, assumption rows used)."""
    table = load_spot_assumptions(tuple(extra_dirs))
    used = []
    if interruptions_per_hour is None:
        row = lookup_assumption(table, "interruptions_per_hour", platform, kind)
        rate, _ = row.value, used.append(_as_dict(row))
    else:
        rate = float(interruptions_per_hour)
        used.append({"parameter": "interruptions_per_hour", "scope": platform, "value": rate, "unit": "1/h",
                     "status": "user", "basis": "--interruptions-per-hour", "source": "user", "data_date": ""})
    bw = lookup_assumption(table, "checkpoint_write_gb_per_s", platform, kind)
    restart = lookup_assumption(table, "restart_minutes", platform, kind)
    used += [_as_dict(bw), _as_dict(restart)]
    return rate, checkpoint_write_hours(checkpoint_bytes_, bw.value), restart.value / 60.0, used


def spot_outcome(*, work_hours: float, usd_per_hour: float, checkpoint_bytes: float, platform: str, kind: str,
                 interruptions_per_hour: float | None = None, seed: int | None = None, n_trials: int | None = None,
                 extra_dirs: tuple[str, ...] | None = None, billing_increment_s: int = 1,
                 billing_minimum_s: int = 0, provision_hours: float | None = None) -> dict:
    """Expected (mean) and P10/P50/P90 hours and dollars of a spot job, interruptions included (model: module docstring).

    Args:
        work_hours: fault-free compute hours of the job (the estimator's hours).
        usd_per_hour: spot price of everything billed (all GPUs), per hour.
        checkpoint_bytes: size of one resumable checkpoint (`estimate.estimator.checkpoint_bytes`: adapter +
            optimizer state for LoRA/QLoRA, weights + master + optimizer state for full).
        platform, kind: the offer's platform and kind, used to pick assumption rows.
        interruptions_per_hour: overrides the assumed rate (e.g. from your own logs).
        seed, n_trials: the Monte Carlo (default 0 and 2000); n_trials=0 skips it (the percentiles are then None).
        extra_dirs: directories holding a spot_assumptions.csv that overrides shipped rows (default: the user
            catalog directories, see catalog/overrides.py).
        billing_increment_s, billing_minimum_s: the offer's billing rules, applied to the percentile dollars (wall
            hours rounded up to the increment, at least the minimum), as the estimator bills expected hours.
        provision_hours: what one restart costs before the checkpoint read (the estimator's setup hours: instance
            start, environment, model download and load); default: the `restart_minutes` assumption.
        Arguments left as None take the values of an enclosing `spot_overrides()` block first.

    Returns:
        A JSON-serialisable dict (plain floats; None where undefined). The expectation is always given;
        `feasible` is False (with `reason`) when interruptions would more than double the fault-free time, and
        the percentiles are None when the Monte Carlo was skipped (n_trials=0) or would need too many events.
    """
    rate_arg, seed, n_trials, extra_dirs = _with_context(interruptions_per_hour, seed, n_trials, extra_dirs)
    rate, ckpt_h, provision_h, used = _resolve_inputs(platform, kind, rate_arg, checkpoint_bytes, extra_dirs)
    if provision_hours is not None:
        provision_h = float(provision_hours)
        used = [u for u in used if u.get("parameter") != "restart_minutes"]
        used.append({"parameter": "restart_minutes", "scope": platform, "value": provision_h * 60.0, "unit": "min",
                     "status": "derived", "basis": "the estimate's setup time (setup_assumptions.csv)",
                     "source": "frugaltune estimate", "data_date": ""})
    mtti = math.inf if rate <= 0 else 1.0 / rate
    tau = max(young_daly_interval_hours(ckpt_h, mtti), MIN_INTERVAL_HOURS)
    restart_h = provision_h + ckpt_h  # boot + reading the checkpoint back
    process = {"work_hours": work_hours, "rate_per_hour": rate, "interval_hours": tau, "checkpoint_hours": ckpt_h,
               "restart_hours": restart_h}
    exp = analytic_expectation(**process)
    out = {"feasible": exp["feasible"], "reason": None if exp["feasible"] else INFEASIBLE_REASON, "rate": rate,
           "mtti_hours": _finite(mtti), "checkpoint_bytes": float(checkpoint_bytes),
           "checkpoint_write_s": ckpt_h * 3600.0, "checkpoint_interval_min": _finite(tau * 60.0),
           "restart_minutes": restart_h * 60.0, "work_hours": work_hours, "usd_per_hour": usd_per_hour}
    out.update({k: v for k, v in exp.items() if k != "feasible"})
    out["expected_cost_usd"] = exp["expected_hours"] * usd_per_hour
    trials = n_trials if exp["feasible"] else 0
    billing = (billing_increment_s, billing_minimum_s)
    out.update(_percentiles(trials, exp["expected_interruptions"], seed, usd_per_hour, billing, **process))
    out["p_no_interruption"] = no_interruption_probability(rate, exp["fault_free_hours"])
    out["spread_note"] = spread_note(out)
    out["assumptions"] = used
    return out


def _with_context(rate: float | None, seed: int | None, n_trials: int | None,
                  extra_dirs: tuple[str, ...] | None) -> tuple[float | None, int, int, tuple[str, ...]]:
    """Arguments left as None take an enclosing spot_overrides() block's values, then the defaults."""
    ctx = _OVERRIDES.get() or {}
    rate = rate if rate is not None else ctx.get("interruptions_per_hour")
    if rate is not None and rate < 0:
        raise ValueError("interruptions_per_hour must be >= 0")
    seed = seed if seed is not None else ctx.get("seed", 0)
    n_trials = n_trials if n_trials is not None else ctx.get("n_trials", DEFAULT_TRIALS)
    extra_dirs = extra_dirs if extra_dirs is not None else ctx.get("extra_dirs")
    return rate, seed, n_trials, tuple(user_dirs() if extra_dirs is None else extra_dirs)


def assumption_dirs() -> tuple[str, ...]:
    """Where spot_outcome() reads assumptions from when not told: an enclosing spot_overrides() block's directories,
    else the user catalog directories as they are now (a planner pricing hundreds of spot options looks them up
    once: `with spot_overrides(extra_dirs=assumption_dirs()):`)."""
    extra_dirs = (_OVERRIDES.get() or {}).get("extra_dirs")
    return user_dirs() if extra_dirs is None else tuple(extra_dirs)


def user_dirs() -> tuple[str, ...]:
    try:
        from frugaltune.catalog.overrides import user_catalog_dirs

        return tuple(str(d) for d in user_catalog_dirs())
    except ImportError:
        return ()


def billed_hours(hours: float, increment_s: int, minimum_s: int) -> float:
    """Hours rounded up to the billing increment, and to at least the minimum (estimate/cost.py's rule)."""
    inc = max(int(increment_s), 1)
    return max(math.ceil(hours * 3600.0 / inc - 1e-9) * inc, minimum_s) / 3600.0


def _percentiles(n_trials: int, expected_interruptions: float, seed: int, usd_per_hour: float,
                 billing: tuple[int, int], **process) -> dict:
    # Cap the simulated events so a pathological candidate cannot stall a planner ranking hundreds of options.
    n_trials = min(n_trials, int(MC_EVENT_BUDGET / (1.0 + expected_interruptions)))
    out = {"n_trials": max(n_trials, 0), "seed": seed, **{f"p{q}_{k}": None for q in PERCENTILES
                                                            for k in ("hours", "cost_usd")}}
    if n_trials < MIN_TRIALS:
        return out
    hours = monte_carlo_hours(seed=seed, n_trials=n_trials, **process)
    for q in PERCENTILES:
        h = quantile(hours, q / 100)
        out[f"p{q}_hours"] = _finite(h)
        out[f"p{q}_cost_usd"] = _finite(billed_hours(h, *billing) * usd_per_hour) if math.isfinite(h) else None
    return out


def no_interruption_probability(rate_per_hour: float, fault_free_hours: float) -> float:
    """P(a run is never interrupted) = exp(-rate x fault-free hours) (Poisson process, module docstring)."""
    return math.exp(-max(rate_per_hour, 0.0) * fault_free_hours)


def spread_note(out: dict) -> str | None:
    """Why the mean can sit above P90: most runs are never interrupted and cost the fault-free time; the mean also
    carries the few that are. None when P90 is at or above the mean (or percentiles were not simulated)."""
    p90, mean = out.get("p90_cost_usd"), out.get("expected_cost_usd")
    if p90 is None or mean is None or p90 >= mean:
        return None
    share = no_interruption_probability(out["rate"], out["fault_free_hours"])
    return (f"{share:.1%} of runs are never interrupted, so P50 and P90 are the fault-free cost; the mean "
            f"(expected) also counts the {1 - share:.1%} that are, and sits above P90")


def _finite(x: float) -> float | None:
    return None if math.isinf(x) or math.isnan(x) else float(x)
