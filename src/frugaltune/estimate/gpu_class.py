"""GPU classes for the speed model, and the physics that differs between GPUs of one class.

A class is an architecture x market segment: the chip generation sets the tensor-core and memory design, the segment
sets the memory (HBM vs GDDR), clocks and power budget. Classes: volta, turing, ampere-datacenter (A100, A30, A10,
A10G, A40, A800), ampere-consumer (GeForce RTX 30xx and the RTX A-series workstation cards), ada-datacenter (L4,
L40, L40S), ada-consumer (GeForce RTX 40xx, RTX 6000 Ada), hopper, blackwell, blackwell-consumer, cdna3.
The calibration fits one MFU factor per class that has published measurements (estimator_calibration.json); a class
without any borrows the factor of its architecture's other market segment (sibling_class), else the A100
class's, and says so (`throughput.source: default`, a wider band).

Power: a GPU sustains its boost clock only while the board can feed it. Dense tensor math at full clock needs about
`e` picojoules per FLOP (the chip's energy per operation); a board limited to P watts sustains at most P / e
FLOP/s, so the reachable fraction of the datasheet peak is min(1, P / (e x peak)) (DVFS under a power cap: the
clock falls until power fits). `e` is one fitted coefficient (calibration.power_pj_per_flop). The L4 (72 W for
121 dense TFLOPs: 0.6 pJ per FLOP of budget) is the clearest case.
Where `e` was measured for an architecture it is used when the fit leaves the coefficient at 0 (MEASURED_PJ_PER_FLOP):
the Turing T4 (70 W, 65 FP16 tensor TFLOPs at its 1,590 MHz boost) sustains about 24 TFLOPs in continuous cuBLAS
FP16 4096^3 matrix multiplies, which NVIDIA's forum moderator attributes to power capping at 70 W, "expected behavior"
(forums.developer.nvidia.com/t/about-gpu-peak-performance/264462, 2023); that is the T4's 585 MHz base clock
(24 / 65 = 0.37 = 585 / 1,590). So Turing's e = 70 W / 24 TFLOP/s = 2.9 pJ per FLOP (12 nm).
"""

from __future__ import annotations

CLASSES = ("volta", "turing", "ampere-datacenter", "ampere-consumer", "ada-datacenter", "ada-consumer", "hopper",
           "blackwell", "blackwell-consumer", "cdna3")
_ARCH = {"volta": "volta", "turing": "turing", "ampere": "ampere", "ada": "ada", "ada lovelace": "ada",
         "hopper": "hopper", "blackwell": "blackwell", "cdna3": "cdna3", "cdna 3": "cdna3", "amd cdna 3": "cdna3",
         "amd cdna3": "cdna3"}


def architecture_family(architecture: str) -> str:
    """'Ampere GA102' -> 'ampere', 'Ada Lovelace AD102' -> 'ada', 'AMD CDNA 3' -> 'cdna3'."""
    text = architecture.strip().lower()
    for name in sorted(_ARCH, key=len, reverse=True):
        if text.startswith(name):
            return _ARCH[name]
    return text.split()[0] if text else "unknown"


def gpu_class(gpu) -> str:
    """The speed class of a GpuSpec (module docstring); worked out once per (architecture, segment)."""
    key = (gpu.architecture, gpu.segment)
    hit = _CLASS_OF.get(key)
    if hit is None:
        hit = _CLASS_OF[key] = _gpu_class(gpu)
    return hit


_CLASS_OF: dict[tuple, str] = {}


def _gpu_class(gpu) -> str:
    family = architecture_family(gpu.architecture)
    datacenter = (gpu.segment or "datacenter").lower() == "datacenter"
    if family in ("ampere", "ada"):
        return f"{family}-{'datacenter' if datacenter else 'consumer'}"
    if family == "blackwell" and not datacenter:
        return "blackwell-consumer"
    return family


_SIBLINGS = {"ampere-datacenter": "ampere-consumer", "ampere-consumer": "ampere-datacenter",
             "ada-datacenter": "ada-consumer", "ada-consumer": "ada-datacenter",
             "blackwell": "blackwell-consumer", "blackwell-consumer": "blackwell"}


def sibling_class(cls: str) -> str | None:
    """The other market segment of the same architecture (datacenter <-> consumer/workstation), if any."""
    return _SIBLINGS.get(cls)


MEASURED_PJ_PER_FLOP = {"turing": 70.0 / 24.0}  # T4: 70 W sustain 24 dense FP16 TFLOP/s (module docstring)


def power_limit_factor(gpu, pj_per_flop: float) -> float:
    """Fraction of the 16-bit dense peak the board's power sustains: min(1, TDP / (e x peak)) (module docstring);
    a fitted e of 0 falls back to the architecture's measured e, if any."""
    pj_per_flop = pj_per_flop or MEASURED_PJ_PER_FLOP.get(gpu_class(gpu), 0.0)
    peak_tflops = gpu.bf16_tflops or gpu.fp16_tflops
    if not pj_per_flop or not gpu.tdp_watts or not peak_tflops:
        return 1.0
    return min(1.0, gpu.tdp_watts / (pj_per_flop * peak_tflops))
