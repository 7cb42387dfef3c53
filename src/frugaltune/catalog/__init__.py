"""The catalog: GPUs, priced offers, model shapes and storage prices, shipped as dated CSV files (data/) and
extended or overridden by user files (see `frugaltune.catalog.overrides`).

Public API (imported lazily, so `import frugaltune.catalog.types` stays cheap):
    load_catalog(extra_dirs=None) -> Catalog          frugaltune.catalog.load
    count_params(arch), active_params(arch), param_counts(arch)   frugaltune.catalog.params
    price_age_days(offer, today=None), stale_price_warning(offer, today=None, max_age_days=180)
    billed_gpus(offer, num_gpus)                      frugaltune.catalog.query
"""

from __future__ import annotations

_EXPORTS = {
    "Catalog": "load", "load_catalog": "load", "schema_version": "load",
    "count_params": "params", "active_params": "params", "param_counts": "params", "ParamCounts": "params",
    "price_age_days": "staleness", "stale_price_warning": "staleness",
    "billed_gpus": "query", "generic_arch": "generic", "arch_from_config": "hfconfig",
    "user_catalog_dirs": "overrides",
}

__all__ = [  # noqa: RUF022 (grouped like _EXPORTS)
    "Catalog", "load_catalog", "schema_version", "count_params", "active_params", "param_counts", "ParamCounts",
    "price_age_days", "stale_price_warning", "billed_gpus", "generic_arch", "arch_from_config", "user_catalog_dirs",
]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"frugaltune.catalog.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'frugaltune.catalog' has no attribute {name!r}")
