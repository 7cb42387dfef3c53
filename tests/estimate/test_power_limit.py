"""The power-limit factor of the speed model (estimate/gpu_class.py) against hand arithmetic: a T4 (70 W, 65 FP16
tensor TFLOPs at boost) sustains about 24 TFLOPs under continuous matrix multiplies, so Turing's measured energy per
FLOP is 70 / 24 pJ and the T4 reaches 24 / 65 of its datasheet peak; GPUs of classes without a measured figure keep
their full peak while the fitted coefficient is 0."""

from __future__ import annotations

import pytest

from frugaltune.catalog.load import load_catalog
from frugaltune.estimate.gpu_class import power_limit_factor


def test_t4_sustains_its_measured_24_of_65_tflops():
    t4 = load_catalog().gpu("T4")
    assert power_limit_factor(t4, 0.0) == pytest.approx(24.0 / 65.0, rel=1e-9)


def test_a_fitted_energy_per_flop_takes_precedence_and_unmeasured_classes_are_unlimited():
    catalog = load_catalog()
    t4 = catalog.gpu("T4")
    assert power_limit_factor(t4, 0.5) == pytest.approx(min(1.0, 70 / (0.5 * 65)), rel=1e-9)
    assert power_limit_factor(catalog.gpu("A100-80GB"), 0.0) == 1.0
