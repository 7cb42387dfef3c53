"""Shared fixtures for the estimator tests: a tiny made-up Llama shape, a zero-overhead coefficient set, the catalog,
a fixed "today", and a helper that runs the installed `frugaltune` CLI in a subprocess.

The tiny shape matches the random LlamaConfig of the peft test (2 layers, hidden 64, 4 heads of 16, 2 KV heads,
intermediate 128, vocab 64, untied head), so every count below can be checked by hand and against transformers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from frugaltune.catalog.types import ModelArch, Offer
from frugaltune.estimate.calibration import Coefficients

# A date 11 days after the shipped Lambda prices (2026-09-20): no stale-price warning for them.
TODAY = date(2026, 10, 1)
FRUGALTUNE = Path(sys.executable).with_name("frugaltune")


@pytest.fixture
def tiny() -> ModelArch:
    """Per layer: q 64x64, k 64x32, v 64x32, o 64x64, gate/up 64x128, down 128x64 = 36,864 linear params + 2 norms of 64.
    Total = 2 x (36,864 + 128) + embed 64x64 + head 64x64 + final norm 64 = 82,240."""
    return ModelArch(name="tiny", hf_id="", num_layers=2, hidden_size=64, intermediate_size=128, num_heads=4,
                     num_kv_heads=2, head_dim=16, vocab_size=64, max_position_embeddings=128,
                     tie_word_embeddings=False)


@pytest.fixture
def today() -> date:
    return TODAY


@pytest.fixture
def bare_coef() -> Coefficients:
    """Default physics coefficients with no framework overhead, so a peak is the plain sum of its components."""
    return Coefficients(overhead_fixed_bytes=0.0, overhead_fraction=0.0)


@pytest.fixture(scope="session")
def catalog():
    from frugaltune.catalog.load import load_catalog

    return load_catalog()


def make_offer(**changes) -> Offer:
    """A made-up 1-GPU, per-second offer; override any field."""
    values = {"platform": "testcloud", "instance": "t-1", "gpu": "A10", "gpus_per_instance": 1, "region": "r",
                  "on_demand_usd_per_gpu_hour": 2.0, "spot_usd_per_gpu_hour": None, "billing_increment_s": 1,
                  "billing_minimum_s": 0, "whole_instance": False, "kind": "cloud", "data_date": "2026-09-20", "source": "test"}
    values.update(changes)
    return Offer(**values)


@pytest.fixture
def offer_factory():
    return make_offer


def run_cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """`frugaltune ARGS` from this venv, offline, in a subprocess (text mode)."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run([str(FRUGALTUNE), *args], capture_output=True, text=True, env=full_env, timeout=timeout,
                          check=False)


@pytest.fixture
def cli():
    return run_cli
