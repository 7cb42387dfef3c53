"""Check the published-measurement files and print what they hold.

`measurements_fit.csv` (rows the estimator may fit on) and `measurements_heldout.csv` (whole sources it must never fit
on) share one set of columns, described in README.md next to this file. This script checks every row against that
description (allowed values, numbers that parse, a tag, a source and a quote on every row, GPU names the catalog
knows, no source in both files, no repeated row id) and prints counts by GPU x method x metric.
Standard library only.

    python3 bench/data/check_measurements.py            # summary; exit 1 on any problem
    python3 bench/data/check_measurements.py --quiet    # problems only
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = {"fit": HERE / "measurements_fit.csv", "held-out": HERE / "measurements_heldout.csv"}
GPUS_CSV = HERE.parents[1] / "src" / "frugaltune" / "catalog" / "data" / "gpus.csv"
MODELS_CSV = HERE.parents[1] / "src" / "frugaltune" / "catalog" / "data" / "models.csv"
SHAPES_CSV = HERE / "calibration_models.csv"

COLUMNS = (
    "row_id source source_ref read_on quote tag model hf_id params_b method lora_r lora_alpha lora_targets"
    " lora_dropout quant"
    " precision optimizer optimizer_in_backward optimizer_offload gpu gpu_as_written num_gpus sharding tensor_parallel"
    " pipeline_parallel context_parallel seq_len micro_batch grad_accum grad_ckpt packing mean_tokens_per_sample"
    " dataset framework loss kernels attention activation_offload compile fp8 peak_mem mem_unit mem_kind mem_scope"
    " alt_peak_mem alt_mem_unit alt_mem_kind tokens_per_sec_per_gpu tokens_counted time_value time_kind derivation"
    " notes"
).split()
TAGS = ("[MEASURED]", "[OOM]", "[MAX-FIT]", "[ESTIMATE]", "[DERIVED]", "[CLAIM]", "[UNCLEAR]")
BOOL = ("true", "false", "unknown")
CHOICES = {
    "method": ("full", "lora", "qlora", "dora", "qdora"),
    "quant": ("none", "nf4", "nf4-dq", "fp4", "int8", "gptq-int4"),
    "precision": ("bf16", "fp16", "fp32", "bf16-true", "fp16-true"),
    "optimizer": ("adamw", "adamw8bit", "paged_adamw", "paged_adamw8bit", "adamw-fused", "adafactor", "sgd", "unknown"),
    "optimizer_in_backward": BOOL,
    "optimizer_offload": BOOL,
    "sharding": ("none", "ddp", "fsdp", "zero1", "zero2", "zero3", "unknown"),
    "grad_ckpt": ("true", "false", "selective", "offload", "unknown"),
    "packing": BOOL,
    "framework": ("hf-trainer", "trl", "torchtune", "axolotl", "llama-factory", "unsloth", "litgpt", "nemo-automodel",
                  "torchtitan", "megatron", "deepspeed", "custom", "unknown"),
    "loss": ("hf", "chunked", "fused", "unknown"),
    "kernels": ("hf", "liger", "unsloth", "te", "unknown"),
    "attention": ("eager", "sdpa", "sdpa-masked", "flash", "te", "unknown"),
    "activation_offload": BOOL,
    "compile": BOOL,
    "fp8": BOOL,
    "mem_unit": ("", "GB", "GiB", "MB", "MiB", "bytes"),
    "mem_kind": ("", "allocated", "reserved", "active", "nvidia-smi", "unknown"),
    "alt_mem_unit": ("", "GB", "GiB", "MB", "MiB", "bytes"),
    "alt_mem_kind": ("", "allocated", "reserved", "active", "nvidia-smi", "unknown"),
    "mem_scope": ("", "per_gpu", "total"),
    "tokens_counted": ("", "real", "padded", "packed", "unknown"),
}
NUMBERS = ("params_b", "lora_r", "lora_alpha", "lora_dropout", "num_gpus", "tensor_parallel", "pipeline_parallel", "context_parallel",
           "seq_len", "micro_batch", "grad_accum", "mean_tokens_per_sample", "peak_mem", "alt_peak_mem",
           "tokens_per_sec_per_gpu", "time_value")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head")
REQUIRED = ("row_id", "source", "source_ref", "read_on", "quote", "tag", "model", "method", "precision",
            "gpu_as_written", "num_gpus", "framework")


def catalog_gpus() -> set[str]:
    with GPUS_CSV.open(encoding="utf-8") as fh:
        return {row["name"] for row in csv.DictReader(fh)}


def plain_mlp_models() -> set[str]:
    """Lower-cased names of the models (catalog and calibration_models.csv) whose MLP has no gate projection."""
    names = set()
    for path, column in ((MODELS_CSV, "mlp_type"), (SHAPES_CSV, "mlp_type")):
        with path.open(encoding="utf-8") as fh:
            names |= {r["name"].lower() for r in csv.DictReader(fh) if r[column].strip().lower().startswith("plain")}
    return names


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def row_problems(row: dict, gpus: set[str], plain_mlp: frozenset[str] = frozenset()) -> list[str]:
    """What is wrong with one row (empty when nothing); `plain_mlp`: models whose MLP has no gate projection."""
    problems = [f"{c} is empty" for c in REQUIRED if not row[c].strip()]
    problems += [f"{c}={row[c]!r} not one of {'|'.join(v or '(empty)' for v in ok)}"
                 for c, ok in CHOICES.items() if row[c] not in ok]
    problems += [f"{c}={row[c]!r} is not a number" for c in NUMBERS if row[c] and not _is_number(row[c])]
    if row["tag"].split("]")[0] + "]" not in TAGS:
        problems.append(f"tag {row['tag']!r} is not one of {' '.join(TAGS)}")
    if row["gpu"] and row["gpu"] not in gpus:
        problems.append(f"gpu {row['gpu']!r} is not a catalog GPU name")
    if row["method"] != "full" and not (row["lora_r"] and row["lora_targets"]):
        problems.append("LoRA row without lora_r or lora_targets")
    unknown = [t for t in row["lora_targets"].split("|") if t and t not in LORA_TARGETS]
    if unknown:
        problems.append(f"lora_targets {'|'.join(unknown)} not among {'|'.join(LORA_TARGETS)} (HF Llama names)")
    if row["model"].lower() in plain_mlp and "gate_proj" in row["lora_targets"].split("|"):
        problems.append(f"gate_proj target on {row['model']}, whose MLP has no gate (write up_proj|down_proj)")
    if row["method"] in ("qlora", "qdora") and row["quant"] == "none":
        problems.append(f"{row['method']} row with quant none")
    if row["method"] == "dora" and row["quant"] != "none":
        problems.append("dora row with a quantised base (write qdora)")
    if row["peak_mem"] and not (row["mem_unit"] and row["mem_kind"] and row["mem_scope"]):
        problems.append("peak_mem without mem_unit, mem_kind and mem_scope")
    if row["alt_peak_mem"] and not (row["alt_mem_unit"] and row["alt_mem_kind"]):
        problems.append("alt_peak_mem without alt_mem_unit and alt_mem_kind")
    if row["tokens_per_sec_per_gpu"] and not row["tokens_counted"]:
        problems.append("tokens_per_sec_per_gpu without tokens_counted")
    if row["tag"] == "[OOM]" and row["peak_mem"]:
        problems.append("[OOM] row with a peak_mem")
    if row["tag"] == "[MEASURED]" and not (row["peak_mem"] or row["tokens_per_sec_per_gpu"] or row["time_value"]):
        problems.append("[MEASURED] row without any measured value")
    return problems


def load(path: Path) -> tuple[list[str], list[dict]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def check(files: dict[str, Path] = FILES) -> tuple[list[str], dict[str, list[dict]]]:
    """(problems, rows per file) for the measurement files."""
    gpus, plain, problems, data, seen = catalog_gpus(), frozenset(plain_mlp_models()), [], {}, {}
    for label, path in files.items():
        header, rows = load(path)
        if header != COLUMNS:
            problems.append(f"{path.name}: columns differ from README.md (got {len(header)}, want {len(COLUMNS)})")
            continue
        data[label] = rows
        for line, row in enumerate(rows, start=2):
            problems += [f"{path.name}:{line} {row['row_id']}: {p}" for p in row_problems(row, gpus, plain)]
            if row["row_id"] in seen:
                problems.append(f"{path.name}:{line} row_id {row['row_id']} repeats ({seen[row['row_id']]})")
            seen[row["row_id"]] = f"{path.name}:{line}"
    if len(data) == 2:
        shared = {r["source"] for r in data["fit"]} & {r["source"] for r in data["held-out"]}
        problems += [f"source {s!r} is in both files: held-out sources must be whole" for s in sorted(shared)]
    return problems, data


def summary(rows: list[dict]) -> str:
    """Rows per GPU x method with a memory value / a tokens/s value / OOM, and rows per source."""
    cells: Counter = Counter()
    for r in rows:
        key = (r["gpu"] or "(not stated)", r["method"])
        cells[key + ("memory",)] += bool(r["peak_mem"])
        cells[key + ("tokens/s",)] += bool(r["tokens_per_sec_per_gpu"])
        cells[key + ("oom",)] += r["tag"] == "[OOM]"
    lines = [f"  {'gpu':16s} {'method':6s} {'memory':>6s} {'tok/s':>6s} {'OOM':>4s}"]
    for gpu, method in sorted({k[:2] for k in cells}):
        mem, tps, oom = (cells[(gpu, method, k)] for k in ("memory", "tokens/s", "oom"))
        lines.append(f"  {gpu:16s} {method:6s} {mem:6d} {tps:6d} {oom:4d}")
    for source, n in sorted(Counter(r["source"] for r in rows).items()):
        lines.append(f"  {n:4d}  {source}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    problems, data = check()
    if "--quiet" not in argv:
        for label, rows in data.items():
            mem = sum(bool(r["peak_mem"]) for r in rows)
            tps = sum(bool(r["tokens_per_sec_per_gpu"]) for r in rows)
            print(f"{label}: {len(rows)} rows, {mem} with memory, {tps} with tokens/s")
            print(summary(rows))
    for p in problems:
        print("problem:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
