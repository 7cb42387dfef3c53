"""80 % bands: where the measurement of a job like this one lands, from the estimator's own out-of-sample misses.

`bench/fit_calibration.py` fits the coefficients leaving one published source out at a time, scores the left-out
source, and keeps each residual r = ln(measured / estimated). It stores the 10th and 90th percentiles of r in
catalog/data/estimator_bands.json (with the fit's date and row counts): memory per method (its misses come from the
training stack, not the GPU), tokens/s per method x GPU class. Each project weighs the same (its rows share a weight
of 1): the miss on a new source is that source's own offset plus its rows' spread, whatever its size, so a project
with hundreds of rows does not narrow the band and one split over several pages does not count twice. A group
needs rows from `min_sources` projects; with fewer it borrows the method's (then all methods') quantiles, widened
by `borrow_widen` (per metric: the smallest widening at which borrowed bands cover a new project's measurements as
well as the own groups' bands do, nested leave-one-project-out). Every band is widened around its centre by
`width_factor`, the smallest factor at which bands built without a project cover 80 % of that project's
measurements, averaged over projects (nested leave-one-project-out).

A band is estimate x [exp(q10), exp(q90)]. For memory its low end never drops below the weights, optimizer states,
master weights and quantisation workspace on the GPU (`static_gb`): those are computed exactly from the model's
shapes, so a peak below them is impossible. The cost band follows the tokens/s band: time scales as 1/tokens/s,
setup and storage do not.
"""

from __future__ import annotations

import math
import os

from frugaltune.estimate import records as rec
from frugaltune.estimate.gpu_class import gpu_class

BANDS_FILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "catalog", "data",
                          "estimator_bands.json")
_LOADED: dict[str, dict] = {}


def load_bands(path: str | None = None) -> dict:
    """The shipped bands ({} when the file is absent)."""
    file = path or BANDS_FILE
    if file not in _LOADED:
        if not os.path.exists(file):
            _LOADED[file] = {}
        else:
            from frugaltune import datacache
            from frugaltune.estimate.calibration import _read_json

            _LOADED[file] = datacache.cached("bands", [file], lambda: _read_json(file)) if file == BANDS_FILE \
                else _read_json(file)
    return _LOADED[file]


def quantiles(bands: dict, metric: str, method: str, cls: str) -> tuple[float, float, str] | None:
    """(q10, q90, basis) of ln(measured/estimated) for the most specific group the fit kept, widened around its
    centre by the fit's width factor, and by `borrow_widen` too where the table has that metric's natural group
    (memory: the method; tokens/s: the method x GPU class) and this job's group is missing from it."""
    table = bands.get(metric) or {}
    width = bands.get("width_factor") or 1.0
    base = float(width.get(metric, 1.0) if isinstance(width, dict) else width)
    widen = bands.get("borrow_widen", 1.5)
    widen = float(widen.get(metric, 1.5) if isinstance(widen, dict) else widen)
    by_method = (bands.get("group_by") or {}).get(metric) == "method"
    for key, factor, basis in ((f"{method}|{cls}", base, "method x class"),
                               (f"{method}|*", base if by_method else base * widen, "method"),
                               ("*|*", base * widen, "all")):
        if key in table:
            lo, hi = table[key][:2]
            centre = (lo + hi) / 2.0
            return centre + (lo - centre) * factor, centre + (hi - centre) * factor, basis
    return None


def _range(value: float | None, q: tuple[float, float, str] | None) -> list | None:
    if value is None or q is None:
        return None
    return [value * math.exp(q[0]), value * math.exp(q[1])]


def static_gb(m: rec.MemoryOut) -> float:
    """Weights, optimizer states (`optimizer_gb` includes the fp32 master weights) and the quantisation workspace
    on one GPU: allocated before the first step and held to the end, computed exactly from the model's shapes
    (estimate/peak.py)."""
    return m.weights_gb + m.optimizer_gb + m.quant_workspace_gb


def _memory_range(m: rec.MemoryOut, q: tuple[float, float, str] | None) -> list | None:
    return _memory_range_gb(static_gb(m), m.peak_gb_per_gpu, q)


def _memory_range_gb(static: float, peak_gb: float, q: tuple[float, float, str] | None) -> list | None:
    """The peak x [exp(q10), exp(q90)], its low end no lower than the exact static states."""
    band = _range(peak_gb, q)
    if band is None:
        return None
    return [max(band[0], min(static, peak_gb)), band[1]]


def band_high_fits(method: str, gpu, weights_gb: float, optimizer_gb: float, peak_gb: float) -> bool | None:
    """Whether the high end of the memory band fits `gpu` (as `apply_bands` sets `memory.fits_band_high`); None
    when there is no band."""
    band = _memory_range_gb(weights_gb + optimizer_gb, peak_gb, _memory_quantiles(load_bands(), method, gpu_class(gpu)))
    return None if band is None else band[1] <= gpu.memory_gb


def _memory_quantiles(bands: dict, method: str, cls: str) -> tuple[float, float, str] | None:
    """quantiles(bands, "memory", method, cls), once per table x method x GPU class (a planner asks per probe)."""
    key = (id(bands), method, cls)
    hit = _MEMORY_Q.get(key)
    if hit is None or hit[0] is not bands:  # the table is kept in the value: its id is never reused meanwhile
        if len(_MEMORY_Q) >= 256:
            _MEMORY_Q.clear()
        hit = _MEMORY_Q[key] = (bands, quantiles(bands, "memory", method, cls))
    return hit[1]


_MEMORY_Q: dict[tuple, tuple] = {}


def apply_bands(result: rec.Estimate, job: rec.Job, hw: rec.Hardware, coef=None, bands: dict | None = None
                ) -> rec.Estimate:
    """Fill the *_range fields and `memory.fits_band_high` in place; warn when only the point estimate fits."""
    bands = load_bands() if bands is None else bands
    cls = gpu_class(hw.gpu)
    mem_q = quantiles(bands, "memory", job.method, cls)
    tps_q = quantiles(bands, "tokens_per_s", job.method, cls)
    m, t, c = result.memory, result.throughput, result.cost_breakdown
    m.peak_gb_range = _memory_range(m, mem_q)
    t.tokens_per_sec_range = _range(t.tokens_per_sec, tps_q)
    if m.peak_gb_range:
        m.fits_band_high = m.peak_gb_range[1] <= hw.gpu.memory_gb
        if m.fits and not m.fits_band_high:
            result.warnings.append(f"may not fit: the 80 % band of the peak reaches {m.peak_gb_range[1]:.1f} GB "
                                   f"on a {hw.gpu.memory_gb:g} GB {hw.gpu.name}; plan/compare require the band to fit")
    if t.tokens_per_sec_range and c.total_cost is not None:
        c.total_cost_range = [_cost_at(c, t.tokens_per_sec / hi) for hi in reversed(t.tokens_per_sec_range)]
    return result


def _cost_at(cost: rec.CostOut, time_ratio: float) -> float:
    """Total cost when training takes `time_ratio` x the estimate (setup and storage unchanged)."""
    setup = cost.setup_cost or 0.0
    return round(setup + (cost.compute_cost - setup) * time_ratio + (cost.storage_cost or 0.0), 4)
