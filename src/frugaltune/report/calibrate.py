"""Close the loop: a finished GPU run's measured tokens/s becomes calibration for later estimates
(frugaltune.estimate.measured). CPU runs are never recorded: they say nothing about a GPU's speed."""

from __future__ import annotations

from pathlib import Path


def measurement_from_summary(summary: dict) -> dict | None:
    """The measurement a finished CUDA run contributes, or None when it cannot calibrate anything."""
    from frugaltune.report.hardware import applicable_estimate

    estimate = applicable_estimate(summary) or {}
    if summary.get("status") != "finished" or not str(summary.get("device", "")).startswith("cuda") or not estimate:
        return None
    processes = max(int(summary.get("num_processes") or 1), 1)
    measured = summary.get("tokens_per_sec")
    estimated = (estimate.get("throughput") or {}).get("tokens_per_sec_per_gpu")
    if not measured or not estimated:
        return None
    return {"gpu": estimate["hardware"]["gpu"], "method": estimate["job"]["method"], "model": estimate["model"]["name"],
            "measured_tokens_per_sec_per_gpu": measured / processes, "estimated_tokens_per_sec_per_gpu": estimated,
            "measured_peak_gb": summary.get("peak_memory_gb"),
            "estimated_peak_gb": (estimate.get("memory") or {}).get("peak_gb_per_gpu"), "source": "run",
            "device": "cuda", "machine": (summary.get("hardware") or {}).get("name")}


def record_run(summary: dict, run_dir: str | Path) -> Path | None:
    """Append the run to the user's measurements file when it is a finished GPU run; returns the file or None."""
    row = measurement_from_summary(summary)
    if row is None:
        return None
    from frugaltune.estimate.measured import record_measurement

    return record_measurement(run_dir=str(run_dir), **row)
