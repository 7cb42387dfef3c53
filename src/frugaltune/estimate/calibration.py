"""The estimator's calibrated coefficients: a handful of numbers, each with a physical meaning, fit once on the
published measurements in shared/reference/measurements_calibration.csv by `bench/fit_calibration.py` and shipped
as catalog/data/estimator_calibration.json (with the fit's date and the rows used). Nothing here is per source.

Measured runs recorded by `frugaltune train` can refine the MFU ceilings for a GPU x method
(see frugaltune.report.calibrate); those then report `source: calibrated` in estimates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

CALIBRATION_FILE = Path(__file__).resolve().parent.parent / "catalog" / "data" / "estimator_calibration.json"

# GPU architecture -> MFU class. Classes without their own measurements fall back to "default" (Ampere datacenter).
ARCH_CLASS = {"ampere": "ampere", "hopper": "hopper", "ada lovelace": "ada", "ada": "ada", "turing": "turing",
              "volta": "volta", "blackwell": "blackwell", "cdna3": "cdna3"}


@dataclass(frozen=True)
class Coefficients:
    """Physical coefficients of the memory and speed model. Units are in the names."""

    activation_scale: float = 1.0
    norm_elements_per_hidden: float = 10.0  # 2 RMSNorms x (fp32 input = 2 units, fp32 normalised = 2, 16-bit out = 1)
    recompute_working_layers: float = 2.0  # the recomputed layer's activations + their gradients
    logits_bytes_per_element: float = 10.0  # bf16 logits (2) + fp32 upcast (4) + fp32 CE gradient (4)
    overhead_fixed_bytes: float = 0.5e9  # CUDA context + cuBLAS workspace
    overhead_fraction: float = 0.05  # allocator fragmentation as a fraction of the other components
    mfu_ceiling: dict = field(default_factory=lambda: {"default": {"full": 0.5, "lora": 0.5, "qlora": 0.5}})
    step_overhead_s: dict = field(default_factory=lambda: {"full": 0.05, "lora": 0.05, "qlora": 0.05})
    dequant_bandwidth_efficiency: float = 1.0  # fraction of peak HBM bandwidth the 4-bit dequantisation reaches
    optimizer_bandwidth_efficiency: float = 0.7
    scaling_per_doubling: float = 0.95  # multi-GPU efficiency factor per doubling of the GPU count
    fit: dict = field(default_factory=dict)  # provenance of the fit: date, rows, errors

    def mfu_for(self, architecture: str, method: str) -> tuple[float, str]:
        """MFU ceiling for a GPU architecture x method, and whether it came from measurements of that class."""
        cls = ARCH_CLASS.get(architecture.lower(), architecture.lower())
        table = self.mfu_ceiling.get(cls)
        if table and method in table:
            return float(table[method]), "calibrated"
        return float(self.mfu_ceiling["default"][method]), "default"


@lru_cache(maxsize=4)
def load_coefficients(path: str | None = None) -> Coefficients:
    """Read the shipped (or a given) calibration file; fall back to derived defaults when absent."""
    file = Path(path) if path else CALIBRATION_FILE
    if not file.exists():
        return Coefficients()
    data = json.loads(file.read_text())
    known = set(Coefficients.__dataclass_fields__)
    return Coefficients(**{k: v for k, v in data.items() if k in known})
