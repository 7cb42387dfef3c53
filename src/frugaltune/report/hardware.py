"""Like for like: which machine a run really measured, and whether an estimate describes that machine.

A run's measurement is compared only with an estimate for the hardware it ran on. A run on a CUDA GPU that the
catalog knows (nvidia-smi / torch names such as "NVIDIA A10G" resolve through the catalog's GPU names) is
estimated for that GPU, whatever `cost.gpu` says; a run on a CPU, or on a GPU the catalog does not know, has no
GPU estimate that applies: its report shows the measurement alone and says so.
"""

from __future__ import annotations

import os

CPU = "cpu"


def detect(torch, device=None, num_processes: int = 1) -> dict:
    """The machine this process trains on: {"device": "cuda"|"cpu"|..., "name", "gpu" (catalog name or None),
    "count" (processes = devices in use)}. `torch` is the imported module (passed in: this module stays light)."""
    kind = getattr(device, "type", None) or ("cuda" if torch.cuda.is_available() else CPU)
    if kind == "cuda":
        index = getattr(device, "index", None) or 0
        name = torch.cuda.get_device_name(index)
        return {"device": "cuda", "name": name, "gpu": catalog_gpu(name), "count": num_processes}
    return {"device": kind, "name": _cpu_name(kind, torch), "gpu": None, "count": num_processes}


def _cpu_name(kind: str, torch) -> str:
    if kind != CPU:
        return kind
    threads = torch.get_num_threads() if hasattr(torch, "get_num_threads") else os.cpu_count()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"


def catalog_gpu(name: str) -> str | None:
    """The catalog's canonical name for a device name ('NVIDIA A100-SXM4-80GB' -> 'A100-80GB'), or None."""
    from frugaltune.catalog.load import load_catalog
    from frugaltune.errors import FrugalError

    try:
        return load_catalog().gpu(name).name
    except FrugalError:
        return None


def estimate_gpu(configured_gpu: str | None, hardware: dict) -> tuple[str | None, str | None]:
    """(GPU to estimate the run for, or None; why there is no applicable estimate, or None).

    On a known GPU the estimate is for that GPU (the config's cost.gpu is what it would be billed as elsewhere:
    when they differ, the machine wins). A CPU or unknown device has no applicable GPU estimate; `configured_gpu`
    is then still estimated, for reference, but never compared with the measurement."""
    if hardware.get("gpu"):
        return hardware["gpu"], None
    if hardware.get("device") == "cuda":
        why = (f"no GPU estimate applies: {hardware.get('name')} is not in the GPU catalog (add it with --catalog "
               "DIR: gpus.csv)")
    else:
        why = f"no GPU estimate applies: this run measured a {hardware.get('name') or hardware.get('device')}"
    return configured_gpu, why


def applicable_estimate(summary: dict) -> dict | None:
    """The summary's estimate when it describes the machine the run measured, else None.

    Summaries written before `estimate_applies` existed count as applicable only when they ran on CUDA."""
    estimate = summary.get("estimate")
    if not estimate:
        return None
    applies = summary.get("estimate_applies")
    if applies is None:
        applies = str(summary.get("device", "")).startswith("cuda")
    return estimate if applies else None


def not_applicable_note(summary: dict) -> str | None:
    """The line a report prints instead of ratios when no estimate applies (None when one does)."""
    if applicable_estimate(summary) is not None:
        return None
    hw = summary.get("hardware") or {}
    what = hw.get("name") or summary.get("device") or "this machine"
    if hw.get("device") == "cuda" and not hw.get("gpu"):
        return f"no GPU estimate applies: {what} is not in the GPU catalog; the measurement is shown alone"
    return f"no GPU estimate applies to {what}: the measurement is shown alone"


def run_price(cfg, estimate: dict | None, applies: bool) -> tuple[float | None, str | None]:
    """(USD per hour of the machine, "config" | "catalog") : cost.usd_per_hour, else the catalog price of the GPU
    the run measured (GPUs x its per-GPU price) when the estimate is for that machine; a GPU's price never bills a
    CPU."""
    if cfg.cost.usd_per_hour is not None:
        return cfg.cost.usd_per_hour, "config"
    hourly = ((estimate or {}).get("hardware") or {}).get("usd_per_gpu_hour")
    if hourly is not None and applies:
        return hourly * cfg.cost.num_gpus, "catalog"
    return None, "config"
