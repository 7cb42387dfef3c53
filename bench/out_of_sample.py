"""Held-out check: the estimator against published measurements from sources it was NOT calibrated on.

bench/fit_calibration.py fits the coefficients on shared/reference/measurements_calibration.csv; the rows in
bench/data/out_of_sample.csv come from other public sources (path and commit on every row, read on the stated
date) and are never used for fitting. Columns map to `frugaltune estimate` flags one to one; `notes` says how each
measured figure was read. Prints each row's estimate beside the measurement and the median absolute % error.
Run: .venv/bin/python bench/out_of_sample.py
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from frugaltune import api  # noqa: E402

ROWS = Path(__file__).resolve().parent / "data" / "out_of_sample.csv"


def estimate_row(row: dict) -> dict:
    """The estimate for one measured run, with the row's settings as `frugaltune estimate` flags."""
    mean_tokens = float(row["mean_tokens_per_sample"])
    kwargs = {"method": row["method"], "precision": row["precision"], "micro_batch": int(row["micro_batch"]),
              "seq_len": int(row["seq_len"]), "packing": row["packing"] == "true",
              "grad_ckpt": row["grad_ckpt"] == "true", "tokens_per_sample": mean_tokens,
              "padded_tokens_per_sample": mean_tokens,  # length-bucketed batches: next to no padding
              "longest_sample_tokens": int(row["seq_len"])}
    if row["method"] != "full":
        kwargs.update(lora_r=int(row["lora_r"]), lora_targets=row["lora_targets"].replace("|", ","))
    return api.estimate(model=row["model"], gpu=row["gpu"], **kwargs).to_json()


def main() -> int:
    with open(ROWS, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    errors: dict[str, list[float]] = {"memory": [], "tokens/s": []}
    print(f"{'row':58s} {'peak GB est/meas':>18s} {'err':>7s} {'tok/s est/meas':>16s} {'err':>7s}")
    for row in rows:
        e = estimate_row(row)
        mem_est, tps_est = e["memory"]["peak_gb_per_gpu"], e["throughput"]["tokens_per_sec_per_gpu"]
        mem_meas, tps_meas = float(row["measured_peak_gb"]), float(row["measured_tokens_per_sec"])
        mem_err, tps_err = mem_est / mem_meas - 1, tps_est / tps_meas - 1
        errors["memory"].append(abs(mem_err))
        errors["tokens/s"].append(abs(tps_err))
        rank = f"r{row['lora_r']}" if row["lora_r"] else "-"
        label = f"{row['model']} {row['method']} {rank} {row['gpu']} ({Path(row['path_at_commit']).stem})"
        print(f"{label[:58]:58s} {mem_est:7.2f} / {mem_meas:6.2f} {mem_err:+7.1%} {tps_est:7.0f} / {tps_meas:6.0f} "
              f"{tps_err:+7.1%}")
    for metric, values in errors.items():
        print(f"{metric:9s} n={len(values)}  median abs error {statistics.median(values):.1%}  max {max(values):.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
