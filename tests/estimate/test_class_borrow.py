"""A GPU class without measurements of its own borrows the MFU factor of its architecture's other market segment
(calibration.Coefficients.mfu_for, gpu_class.sibling_class), else the A100 class's 1; classes with measurements keep
their own, and the fit gives every measured class its own factor."""

from __future__ import annotations

import pytest

from frugaltune.catalog.load import load_catalog
from frugaltune.estimate.calibration import Coefficients, load_coefficients
from frugaltune.estimate.gpu_class import sibling_class


def _coef(**factors) -> Coefficients:
    return Coefficients(method_mfu={"full": 0.5, "lora": 0.4, "qlora": 0.4},
                        class_factor={"ampere-datacenter": 1.0, **factors})


def test_an_unmeasured_class_borrows_its_sibling_segment():
    catalog = load_catalog()
    l40s, rtx4090, t4 = catalog.gpu("L40S"), catalog.gpu("RTX-4090"), catalog.gpu("T4")
    coef = _coef(**{"ada-consumer": 1.2})
    # L40S (ada-datacenter) has no factor: it takes the Ada consumer cards' 1.2, flagged as a default
    assert coef.mfu_for(l40s, "lora") == pytest.approx((0.4 * 1.2, "default"))
    assert coef.mfu_for(rtx4090, "lora") == pytest.approx((0.4 * 1.2, "calibrated"))
    # its own factor wins once it has one
    assert _coef(**{"ada-consumer": 1.2, "ada-datacenter": 0.9}).mfu_for(l40s, "full") == pytest.approx(
        (0.5 * 0.9, "calibrated"))
    # Turing has no sibling segment: the A100 class's 1 (times its measured power limit, 24 / 65)
    assert sibling_class("turing") is None
    assert coef.mfu_for(t4, "full")[0] == pytest.approx(0.5 * 24 / 65, rel=1e-9)


def test_every_class_the_shipped_fit_measured_has_its_own_factor():
    factors = load_coefficients().class_factor
    for cls in ("ampere-datacenter", "ampere-consumer", "ada-datacenter", "ada-consumer", "hopper", "blackwell"):
        assert cls in factors, cls
