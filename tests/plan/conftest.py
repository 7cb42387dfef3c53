"""Planner test fixtures: the shipped catalog, and `cat(offers)`, a tiny inline catalog (plan_catalog.py)."""

from __future__ import annotations

import pytest

from plan_catalog import make_catalog

from frugaltune.catalog.load import Catalog, load_catalog


@pytest.fixture(scope="session")
def shipped() -> Catalog:
    return load_catalog()


@pytest.fixture
def cat(shipped):
    return lambda offers: make_catalog(shipped, offers)
