"""The estimator's calibrated coefficients: a handful of numbers, each with a physical meaning, fit once on the
published measurements in shared/reference/measurements_calibration.csv by `bench/fit_calibration.py` and shipped
as catalog/data/estimator_calibration.json (with the fit's date and the rows used). Nothing here is per source.

Measured runs recorded by `frugaltune train` can refine the MFU ceilings for a GPU x method
(see frugaltune.report.calibrate); those then report `source: calibrated` in estimates.
"""

from __future__ import annotations

import os

from frugaltune import datacache
from frugaltune.record import field, record

CALIBRATION_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "catalog", "data",
                                "estimator_calibration.json")

# GPU architecture -> MFU class. Classes without their own measurements fall back to "default" (Ampere datacenter).
ARCH_CLASS = {"ampere": "ampere", "hopper": "hopper", "ada lovelace": "ada", "ada": "ada", "turing": "turing",
              "volta": "volta", "blackwell": "blackwell", "cdna3": "cdna3"}


@record(frozen=True)
class Coefficients:
    """Physical coefficients of the memory and speed model. Units are in the names."""

    activation_scale: float = 1.0
    rmsnorm_units: float = 5.0  # per RMSNorm, in hidden-sized 16-bit units: fp32 input (2) + fp32 normalised (2) + out (1)
    layernorm_units: float = 2.0  # per LayerNorm: 16-bit input + output (mean/rstd are per token)
    gather_bandwidth_efficiency: float = 0.2  # ZeRO-3 parameter all-gather throughput as a fraction of HBM bandwidth
    recompute_working_layers: float = 2.0  # the recomputed layer's activations + their gradients
    logits_bytes_per_element: float = 10.0  # bf16 logits (2) + fp32 upcast (4) + fp32 CE gradient (4)
    overhead_fixed_bytes: float = 0.5e9  # CUDA context + cuBLAS workspace
    overhead_fraction: float = 0.05  # allocator fragmentation as a fraction of the other components
    method_mfu: dict = field(default_factory=lambda: {"full": 0.5, "lora": 0.5, "qlora": 0.5})  # on Ampere
    class_factor: dict = field(default_factory=lambda: {"ampere": 1.0})  # MFU relative to Ampere datacenter
    step_overhead_s: dict = field(default_factory=lambda: {"full": 0.05, "lora": 0.05, "qlora": 0.05})
    dequant_bandwidth_efficiency: float = 1.0  # fraction of peak HBM bandwidth the 4-bit dequantisation reaches
    optimizer_bandwidth_efficiency: float = 0.7
    scaling_per_doubling: float = 0.95  # multi-GPU efficiency factor per doubling of the GPU count
    fit: dict = field(default_factory=dict)  # provenance of the fit: date, rows, errors

    def mfu_for(self, architecture: str, method: str) -> tuple[float, str]:
        """MFU ceiling = method ceiling (measured on Ampere) x the GPU class's factor; 'default' when the class has
        no measurements of its own (its factor is then 1, i.e. Ampere-like)."""
        cls = ARCH_CLASS.get(architecture.lower(), architecture.lower())
        base = float(self.method_mfu[method])
        if cls in self.class_factor:
            return base * float(self.class_factor[cls]), "calibrated"
        return base, "default"


_LOADED: dict[str, Coefficients] = {}  # per process (a plain dict: functools costs start-up time)


def load_coefficients(path: str | None = None) -> Coefficients:
    """Read the shipped (or a given) calibration file; fall back to derived defaults when absent."""
    file = os.fspath(path) if path else CALIBRATION_FILE
    if file not in _LOADED:
        _LOADED[file] = _read_coefficients(file)
    return _LOADED[file]


def _read_coefficients(file: str) -> Coefficients:
    if not os.path.exists(file):
        return Coefficients()
    if file == CALIBRATION_FILE:  # the shipped file: parsed once per user, not once per process
        data = datacache.cached("calibration", [file], lambda: _read_json(file))
    else:
        data = _read_json(file)
    known = set(Coefficients.__record_fields__)
    return Coefficients(**{k: v for k, v in data.items() if k in known})


def _read_json(path: str) -> dict:
    import json

    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
