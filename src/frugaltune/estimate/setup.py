"""Fixed costs of a job: the billed time before the first training step, paid again after every spot restart.

setup_hours = instance start (per platform, else offer kind: cloud VM, marketplace pod, serverless container,
              owned machine)
            + environment install (the training stack on a fresh VM; 0 where an image carries it)
            + model download (the 16-bit checkpoint's bytes / download bandwidth; owned machines have it cached)
            + model load (the same bytes / local disk read bandwidth)
Every number comes from catalog/data/setup_assumptions.csv (dated; each row says whether it is a fact or an
assumption and why). Billing applies the platform's increment and minimum to setup + training together
(estimate/cost.py).
"""

from __future__ import annotations

from frugaltune.estimate.datafile import shipped_rows
from frugaltune.record import record

FILE = "setup_assumptions.csv"
_JSON: dict = {}


@record(frozen=True)
class Setup:
    hours: float
    instance_start_hours: float
    environment_hours: float
    download_hours: float
    load_hours: float
    model_gb: float
    assumptions: tuple  # the rows used: (parameter, scope, value, unit, status, data_date)

    def to_json(self) -> dict:
        if self not in _JSON:  # one dict per distinct setup (a planner prices the same setup at every offer)
            _JSON[self] = self._json()
        return dict(_JSON[self])

    def _json(self) -> dict:
        return {"hours": self.hours, "instance_start_hours": self.instance_start_hours,
                "environment_hours": self.environment_hours, "download_hours": self.download_hours,
                "load_hours": self.load_hours, "model_gb": self.model_gb,
                "assumptions": [dict(zip(("parameter", "scope", "value", "unit", "status", "data_date"), a))
                                for a in self.assumptions]}


def lookup(parameter: str, platform: str | None, kind: str | None) -> dict:
    """The most specific row: the platform, then the offer kind, then the default."""
    rows = {(r["parameter"], r["scope"]): r for r in shipped_rows(FILE)}
    for scope in (platform, kind, "default"):
        if scope and (parameter, scope.lower()) in rows:
            return rows[(parameter, scope.lower())]
    raise KeyError(f"{FILE} has no default row for {parameter}")


_SETUPS: dict[tuple, Setup] = {}


def setup_time(model_params: int, platform: str | None, kind: str | None) -> Setup:
    """Setup hours of one launch (or one spot restart) for a model of `model_params` parameters (computed once per
    process for each model size x platform: a planner asks for every offer)."""
    key = (model_params, platform, kind)
    if key not in _SETUPS:
        _SETUPS[key] = _setup_time(model_params, platform, kind)
    return _SETUPS[key]


def _setup_time(model_params: int, platform: str | None, kind: str | None) -> Setup:
    used = [lookup(p, platform, kind) for p in ("instance_start_minutes", "environment_minutes",
                                                 "download_gb_per_s", "load_gb_per_s")]
    start_min, env_min, download_gbps, load_gbps = (float(r["value"]) for r in used)
    model_gb = model_params * 2.0 / 1e9  # the 16-bit checkpoint people download (QLoRA quantises on load)
    download_h = model_gb / download_gbps / 3600.0 if download_gbps > 0 else 0.0
    load_h = model_gb / load_gbps / 3600.0 if load_gbps > 0 else 0.0
    hours = start_min / 60.0 + env_min / 60.0 + download_h + load_h
    rows = tuple((r["parameter"], r["scope"], float(r["value"]), r["unit"], r["status"], r["data_date"]) for r in used)
    return Setup(hours, start_min / 60.0, env_min / 60.0, download_h, load_h, model_gb, rows)
