"""`budget`: months of work priced from a small YAML of phases.

    months: 6
    job: {model: llama-2-7b, method: lora, dataset_size: 10000, tokens_per_sample: 500, epochs: 3}
    phases:
      - {name: development, start_month: 1, months: 3, runs_per_month: 4, gpu: a10, platform: lambda}
      - {name: production, start_month: 4, months: 3, every_months: 1, gpu: a100-40gb, platform: modal}
      - {name: evaluation, kind: eval, gpu_hours_per_run: 0.5, runs_per_month: 4, gpu: a10, platform: lambda}
      - {name: storage, kind: storage, gb: 50, platform: runpod}

Kinds: `train` (default; each run priced by the estimator from `job` + the phase's own job keys, which are the
`frugaltune estimate` flag names), `eval` (GPU-hours per run on an offer, billed under its rules) and `storage`
(GB held for the phase's months at the platform's storage price). Cadence: `runs_per_month`, or one run every
`every_months` months from the phase's first month. For every train phase the cheapest option in the whole catalog
and the saving from spot and from QLoRA are priced too (search.py's compare).
"""

from __future__ import annotations

from frugaltune.record import field, record

from frugaltune.checks import MAX_GPUS, Limit, check, coerce
from frugaltune.errors import ConfigError, did_you_mean

KINDS = ("train", "eval", "storage")
PRICINGS = ("on-demand", "spot")
EXAMPLE_FIX = ("`frugaltune budget --example > budget.yaml` writes a complete one (months, job, phases of every "
               "kind) to edit")
MAX_MONTHS = 1200  # a century of planning is a typo
# Numeric phase keys and their ranges (checks.py); None values mean "not given".
PHASE_LIMITS = {
    "start_month": Limit(1, MAX_MONTHS, integer=True, example=1),
    "months": Limit(1, MAX_MONTHS, integer=True, example=3),
    "runs_per_month": Limit(0, 100_000, example=4),
    "every_months": Limit(1, MAX_MONTHS, integer=True, example=1),
    "num_gpus": Limit(1, MAX_GPUS, integer=True, example=1),
    "gpu_hours_per_run": Limit(0, 1e6, lo_open=True, example=0.5, why="a million GPU-hours per evaluation"),
    "gb": Limit(0, 1e9, example=50, why="an exabyte"),
    "usd_per_gb_month": Limit(0, 1000, example=0.1, why="no storage costs that much"),
}
PHASE_KEYS = ("name", "kind", "start_month", "months", "runs_per_month", "every_months", "gpu", "platform",
              "pricing", "num_gpus", "gpu_hours_per_run", "gb", "usd_per_gb_month")
TOP_KEYS = ("months", "job", "phases", "catalog_dirs")


@record(frozen=True)
class Phase:
    name: str
    kind: str = "train"
    start_month: int = 1
    months: int | None = None  # None: to the end of the plan
    runs_per_month: float | None = None
    every_months: int | None = None
    gpu: str | None = None
    platform: str | None = None
    pricing: str = "on-demand"
    num_gpus: int = 1
    gpu_hours_per_run: float | None = None  # eval
    gb: float | None = None  # storage
    usd_per_gb_month: float | None = None  # storage: overrides the catalog price
    job: dict = field(default_factory=dict)  # job keys for this phase (merged over the plan's `job`)

    def runs_in_month(self, month: int) -> float:
        """Runs in 1-based `month` (0 outside the phase)."""
        if month < self.start_month or (self.months is not None and month >= self.start_month + self.months):
            return 0.0
        if self.every_months:
            return 1.0 if (month - self.start_month) % self.every_months == 0 else 0.0
        return float(self.runs_per_month if self.runs_per_month is not None else 1.0)

    def active(self, month: int) -> bool:
        return month >= self.start_month and (self.months is None or month < self.start_month + self.months)


@record(frozen=True)
class BudgetSpec:
    months: int
    job: dict
    phases: tuple[Phase, ...]
    catalog_dirs: tuple[str, ...] = ()


def _check_keys(raw: dict, allowed: tuple[str, ...], where: str, problems: list[str]) -> None:
    for key in raw:
        if key not in allowed:
            problems.append(f"{where}: unknown key '{key}'.{did_you_mean(str(key), allowed)}")


def _phase(raw: dict, i: int, job_keys: tuple[str, ...], problems: list[str]) -> Phase | None:
    where = f"phases[{i}]"
    if not isinstance(raw, dict):
        problems.append(f"{where}: expected a mapping, got {type(raw).__name__}")
        return None
    own = {k: raw[k] for k in raw if k in PHASE_KEYS}
    job = _numbers({k: raw[k] for k in raw if k in job_keys and k not in PHASE_KEYS}, where, _job_limits(), problems)
    _check_keys({k: v for k, v in raw.items() if k not in own and k not in job}, PHASE_KEYS + job_keys, where,
                problems)
    own = _numbers(own, where, PHASE_LIMITS, problems)
    own.setdefault("name", f"phase {i + 1}")
    try:
        phase = Phase(**own, job=job)
    except TypeError as err:
        problems.append(f"{where}: {err}")
        return None
    if phase.kind not in KINDS:
        problems.append(f"{where}.kind: '{phase.kind}' is not one of {', '.join(KINDS)}.{did_you_mean(phase.kind, KINDS)}")
    if phase.kind == "eval" and (phase.gpu_hours_per_run is None or not phase.gpu or not phase.platform):
        problems.append(f"{where}: an eval phase needs gpu_hours_per_run, gpu and platform")
    if phase.kind == "storage" and (phase.gb is None or not (phase.platform or phase.usd_per_gb_month)):
        problems.append(f"{where}: a storage phase needs gb and a platform (or usd_per_gb_month)")
    if phase.pricing not in PRICINGS:
        problems.append(f"{where}.pricing: {phase.pricing!r} is not one of {', '.join(PRICINGS)}")
    if phase.kind == "train" and not phase.gpu:
        problems.append(f"{where}: a train phase needs a gpu (and usually a platform)")
    return phase


def parse_budget(raw, job_keys: tuple[str, ...], origin: str = "budget") -> BudgetSpec:
    """Validate a budget mapping (the YAML's content); raise one ConfigError listing every problem."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: expected a mapping with months, job and phases.",
                          fix=f"{EXAMPLE_FIX}.")
    problems: list[str] = []
    _check_keys(raw, TOP_KEYS, origin, problems)
    for key, kind in (("job", dict), ("phases", list), ("catalog_dirs", list)):
        if raw.get(key) is not None and not isinstance(raw[key], kind):
            problems.append(f"{key}: expected a {'mapping' if kind is dict else 'list'}, got {type(raw[key]).__name__}")
    job = raw.get("job") if isinstance(raw.get("job"), dict) else {}
    _check_keys(job, job_keys, f"{origin}: job", problems)
    job = _numbers(job, "job", _job_limits(), problems)
    phases = [_phase(p, i, job_keys, problems) for i, p in enumerate(raw.get("phases") or []
                                                                    if isinstance(raw.get("phases"), list) else [])]
    if not phases:
        problems.append("no phases")
    months = _months(raw.get("months"), [p for p in phases if p], problems)
    if problems:
        raise ConfigError(f"{origin}: " + "; ".join(problems),
                          fix=f"{EXAMPLE_FIX} (job keys are the `frugaltune estimate` flag names).")
    return BudgetSpec(int(months), job, tuple(phases), tuple(raw.get("catalog_dirs") or ()))


def _job_limits() -> dict:
    from frugaltune.estimate.records import JOB_LIMITS

    return JOB_LIMITS


def _numbers(values: dict, where: str, limits: dict, problems: list[str]) -> dict:
    """`values` with its numeric keys coerced and checked against `limits`; each failure appended to `problems`."""
    out = dict(values)
    for key, limit in limits.items():
        if out.get(key) is None:
            continue
        try:
            out[key] = check(coerce(out[key], key, limit), f"{where}.{key}", limit)
        except ConfigError as err:
            problems.append(err.message.rstrip("."))
    return out


def _months(value, phases: list[Phase], problems: list[str]) -> int:
    """The plan's horizon (`months`, default: to the end of the last phase); every phase must lie inside it."""
    end = max((p.start_month + (p.months or 1) - 1 for p in phases), default=1)
    if value is None:
        return end
    try:
        months = check(coerce(value, "months", PHASE_LIMITS["months"]), "months", PHASE_LIMITS["months"])
    except ConfigError as err:
        problems.append(err.message.rstrip("."))
        return end
    for i, p in enumerate(phases):
        last = p.start_month + (p.months or 1) - 1
        if p.start_month > months or last > months:
            problems.append(f"phases[{i}] ({p.name}): months {p.start_month}-{last} lie outside the plan's "
                            f"{months} months")
    return months


def load_budget(path, job_keys: tuple[str, ...]) -> BudgetSpec:
    """Read and validate a budget YAML file."""
    from frugaltune.datacache import cached_yaml

    raw = cached_yaml(path, "budget file", fix=f"pass a budget YAML; {EXAMPLE_FIX}.")
    return parse_budget(raw, job_keys, str(path))


def example_yaml() -> str:
    """The example budget YAML shipped with the package (`frugaltune budget --example`): a six-month project."""
    from importlib.resources import files

    return files("frugaltune.plan").joinpath("budget_example.yaml").read_text(encoding="utf-8")
