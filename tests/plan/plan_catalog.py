"""Tiny inline catalogs (3-5 offers) for planner tests, built on the shipped GPU specs and model shapes.

Prices in these offers are test inputs, not data; each test says what its offers stand for. A module of its own
(not conftest.py): test files import `offer` from it, and every test directory has a conftest.py, so `from conftest
import ...` would find whichever directory's conftest was imported first when several directories run in one call.
"""

from __future__ import annotations

from frugaltune.catalog.load import Catalog
from frugaltune.catalog.types import Offer, StoragePrice


def offer(platform: str, instance: str, gpu: str, od: float | None, spot: float | None = None, *, gpus: int = 1,
          whole: bool = False, increment_s: int = 1, minimum_s: int = 0, kind: str = "cloud",
          anomaly: bool = False, host: bool = True, spot_anomaly: bool = False) -> Offer:
    return Offer(platform=platform, instance=instance, gpu=gpu, gpus_per_instance=gpus, region="test",
                 on_demand_usd_per_gpu_hour=od, spot_usd_per_gpu_hour=spot, billing_increment_s=increment_s,
                 billing_minimum_s=minimum_s, whole_instance=whole, kind=kind, data_date="2026-10-01",
                 source="test fixture", anomaly=anomaly, price_includes_host=host,
                 spot_anomaly=spot_anomaly)


def make_catalog(shipped: Catalog, offers: list[Offer]) -> Catalog:
    """A Catalog holding exactly `offers` (plus the shipped GPUs/models; storage free so dollars are compute only)."""
    platforms = sorted({o.platform for o in offers})
    storage = [StoragePrice(p, "test disk", 0.0, "test fixture", "2026-10-01", default_for_platform=True)
               for p in platforms]
    return Catalog(gpus=dict(shipped.gpus), offers=list(offers), models=dict(shipped.models), storage=storage,
                   platforms=platforms)
