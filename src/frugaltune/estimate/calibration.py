"""The estimator's calibrated coefficients: a few dozen numbers, each with a physical meaning, fit once on the
published measurements in bench/data (fit rows only; held-out sources are never used) by `bench/fit_calibration.py`
and shipped as catalog/data/estimator_calibration.json (with the fit's date and the rows used). Nothing here is per
source: coefficients belong to a method, a GPU class (gpu_class.py), a kernel class or the software stack.

Measured runs recorded by `frugaltune train` can refine the MFU ceilings for a GPU x method
(see frugaltune.report.calibrate); those then report `source: calibrated` in estimates.
"""

from __future__ import annotations

import os

from frugaltune import datacache
from frugaltune.record import field, record

CALIBRATION_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "catalog", "data",
                                "estimator_calibration.json")



@record(frozen=True)
class Coefficients:
    """Physical coefficients of the memory and speed model. Units are in the names. Speed coefficients are per
    method, per GPU class (gpu_class.py) or per kernel class (hf vs fused), never per source."""

    activation_scale: float = 1.0
    gather_bandwidth_efficiency: float = 0.2  # ZeRO-3 parameter all-gather throughput as a fraction of HBM bandwidth
    recompute_working_layers: float = 2.0  # the recomputed layer's activations + their gradients
    logits_bytes_per_element: float = 10.0  # hf loss: bf16 logits (2) + fp32 upcast (4) + fp32 CE gradient (4)
    offload_resident_layers: float = 2.0  # activation offload: layers' worth in flight on the GPU (prefetch)
    overhead_fixed_bytes: float = 0.5e9  # CUDA context + kernels outside the allocator (fit within 0.3-0.8 GB)
    overhead_fraction: float = 0.05  # allocator slack: reserved - allocated as a fraction of what a step allocates
    variable_length_fragmentation: float = 0.3  # extra slack per byte of activations+logits when shapes vary
    method_mfu: dict = field(default_factory=lambda: {"full": 0.5, "lora": 0.5, "qlora": 0.5})  # on Ampere
    class_factor: dict = field(default_factory=lambda: {"ampere-datacenter": 1.0})  # MFU relative to the A100 class
    power_pj_per_flop: float = 0.0  # board energy per dense FLOP at full clock; 0 = no power limit modelled
    step_overhead_s: dict = field(default_factory=lambda: {"full": 0.05, "lora": 0.05, "qlora": 0.05})
    launch_s_per_layer_pass: float = 0.0  # kernel-launch latency of one decoder layer in one pass (fwd/bwd/recompute)
    launch_s_per_adapter: float = 0.0  # extra launches of one LoRA-adapted module per layer and pass
    fused_launch_factor: float = 1.0  # fused kernels / torch.compile: fewer launches per layer
    elementwise_passes: dict = field(default_factory=lambda: {"hf": 0.0, "fused": 0.0})  # HBM passes per element
    attention_efficiency: float = 1.0  # attention kernels' share of the matmul ceiling (throughput.compute_seconds)
    fp8_efficiency: float = 0.6  # fraction of the FP8 peak an FP8 linear reaches relative to the 16-bit ceiling
    link_efficiency: float = 0.7  # fraction of the interconnect's bandwidth collectives reach
    staged_link_efficiency: float = 0.7  # the same for peer traffic staged through host memory (no peer-to-peer)
    dequant_bandwidth_efficiency: float = 1.0  # fraction of peak HBM bandwidth the 4-bit dequantisation reaches
    optimizer_bandwidth_efficiency: float = 0.7
    scaling_per_doubling: float = 0.95  # multi-GPU efficiency factor per doubling of the GPU count
    fit: dict = field(default_factory=dict)  # provenance of the fit: date, rows, errors

    def mfu_for(self, gpu, method: str) -> tuple[float, str]:
        """MFU ceiling = method ceiling (measured on the A100 class) x the GPU class's factor x its power limit;
        'default' when the class has no measurements of its own: it then borrows the factor of the other market
        segment of its architecture (gpu_class.sibling_class: same SM and tensor-core design, the board's memory
        and power differences are in the datasheet peak, bandwidth and TDP), else the A100 class's 1."""
        from frugaltune.estimate.gpu_class import gpu_class, power_limit_factor, sibling_class

        cls = gpu_class(gpu)
        base = float(self.method_mfu[method]) * power_limit_factor(gpu, self.power_pj_per_flop)
        if cls in self.class_factor:
            return base * float(self.class_factor[cls]), "calibrated"
        return base * float(self.class_factor.get(sibling_class(cls), 1.0)), "default"


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
