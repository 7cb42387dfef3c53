"""The public Python API: a thin façade over the package (nothing inside frugaltune imports this module).

    from frugaltune import estimate
    e = estimate(model="llama-2-7b", method="lora", gpu="a10", platform="lambda", dataset_size=10_000)
    e.to_json()["cost_breakdown"]["total_cost"]

`estimate`, `build_job`, `build_hardware` and `get_catalog` live in `frugaltune.estimate.build`; the planning
functions in `frugaltune.plan.api` (loaded on first use so `estimate` stays light).
"""

from __future__ import annotations

from frugaltune.estimate.build import JOB_DEFAULTS, build_hardware, build_job, estimate, get_catalog


def __getattr__(name: str):
    """compare, impact, recommend, plan, budget, buy_vs_rent, afford, train, probe, report: loaded on first use."""
    import frugaltune

    if name in ("compare", "impact", "recommend", "plan", "budget", "buy_vs_rent", "afford", "train", "probe",
                "report"):
        return getattr(frugaltune, name)
    raise AttributeError(f"module 'frugaltune.api' has no attribute {name!r}")


__all__ = ["estimate", "build_job", "build_hardware", "get_catalog", "JOB_DEFAULTS", "compare", "impact",
           "recommend", "plan", "budget", "buy_vs_rent", "afford", "train", "probe", "report"]
