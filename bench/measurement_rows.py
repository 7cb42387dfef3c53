"""Map each row of bench/data/measurements_fit.csv and measurements_heldout.csv (one published measurement per row,
columns described in bench/data/README.md) to estimator inputs, or to the reason it is not scored.

The mapping is what a new user would type: every setting the row states becomes the matching `frugaltune estimate`
input (method, precision, optimizer, GPUs, sharding, batch, checkpointing, packing, the framework and each stack
flag); what the row leaves `unknown` is left to the framework's documented defaults. Nothing is tuned per source.
- Memory: converted to GB; `allocated`/`active` rows are compared with the estimate's allocated peak, `reserved`
  with its reserved peak, `nvidia-smi`/`unknown` with the planning value (reserved + CUDA context). `total` / GPUs.
- Tokens/s: sources that count real tokens of unpacked data are compared with the estimate scaled to real tokens.
- Quantised bases: bitsandbytes `nf4`, `nf4-dq` and `fp4` are all the 4-bit QLoRA base (exclusion(): same bytes and kernels).
- Pipeline and context parallelism: the degrees from their columns; the model chunks per stage (interleaved 1F1B)
  from a note's "VP n" (1 when none is stated); a note's "LBS n" (NeMo AutoModel's local batch: one pipeline
  schedule, its GA runs that many schedules per optimizer step) makes LBS / micro_batch the micro-batches per
  pipeline flush (estimate/pipeline.py: the bubble), else grad_accum is (Megatron-Core: one flush per step).
- Not scored (reason kept): no model shape, GPU not in the catalog, quantisations the estimator has no model for
  (int8), missing batch or length, [ESTIMATE]/[MAX-FIT]/[CLAIM]/... tags.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from calibration_rows import Case, load_extra_models

from frugaltune.errors import FrugalError
from frugaltune.estimate.records import Hardware, Job

HERE = Path(__file__).resolve().parent
FIT = HERE / "data" / "measurements_fit.csv"
HELDOUT = HERE / "data" / "measurements_heldout.csv"
UNIT_TO_GB = {"GB": 1.0, "GiB": 1.073741824, "MB": 1e-3, "MiB": 1.048576e-3, "bytes": 1e-9}
MEM_KIND = {"allocated": "allocated", "active": "allocated", "reserved": "reserved", "nvidia-smi": "planning",
            "unknown": "planning", "": "planning"}
SHARDING = {"none": 0, "ddp": 0, "zero1": 1, "zero2": 2, "zero3": 3, "fsdp": 3}
KERNELS = {"hf": "hf", "liger": "liger", "unsloth": "unsloth", "te": "te"}
ATTENTION = {"eager": "eager", "sdpa": "sdpa", "sdpa-masked": "sdpa-masked", "flash": "flash", "te": "flash"}
MEMORY_ONLY_GPU = "H200"
OPTIMIZERS = {"adamw": "adamw", "adamw8bit": "adamw8bit", "paged_adamw8bit": "paged_adamw8bit",
              "paged_adamw": "adamw", "sgd": "sgd"}


def _flag(text: str) -> bool | None:
    return {"true": True, "false": False}.get((text or "").strip().lower())


def _int(text: str) -> int | None:
    try:
        return int(float(text))
    except (TypeError, ValueError):
        return None


def _float(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def exclusion(r: dict) -> str | None:
    tag = r["tag"].strip("[]").split()[0] if r["tag"] else ""
    if tag not in ("MEASURED", "OOM"):
        return f"[{tag}] not ground truth"
    # bitsandbytes' fp4 and nf4 differ only in the 16-value code a 4-bit index is looked up in: quantize_4bit stores
    # both as packed 4-bit indices with one absmax per 64-weight block (bitsandbytes/functional.py quantize_4bit,
    # quant_type only picks the code), and dequantisation is the same kernel with a table lookup either way
    # (csrc/kernels.cu kDequantizeBlockwise, cases FP4 / NF4: dDequantizeFP4Tree vs dDequantizeNF4;
    # bitsandbytes-foundation/bitsandbytes @95f9af30). Same bytes, same kernels: an fp4 row is a QLoRA row without
    # double quantisation (BitsAndBytesConfig's default bnb_4bit_use_double_quant is False; the schema has no fp4-dq).
    if r["quant"] == "int8":
        return "int8 base weights (not modelled)"
    if not r["gpu"] and tag == "OOM":
        return "OOM on an unstated GPU"
    if _int(r["micro_batch"]) is None or _int(r["seq_len"]) is None:
        return "seq_len or micro_batch not stated"
    if r["grad_ckpt"] == "selective":
        return "selective activation checkpointing (not modelled)"
    return None


# What a row's framework does with a setting the row leaves `unknown`, for frameworks the estimator has no
# `--framework` for (those in estimate/stack.py FRAMEWORK_DEFAULTS, Megatron-Core's included, fill their own
# documented defaults). Applied to every row of that framework that leaves the setting unknown, never to one source.
LOADER_FRAMEWORK_DEFAULTS: dict[str, dict] = {}

# DoRA rows (bench/data/README.md): LoRA / QLoRA with peft's use_dora
DORA_METHODS = {"dora": ("lora", True), "qdora": ("qlora", True)}


def job_fields(r: dict) -> dict:
    """The estimator inputs a user would give for this row's stated settings."""
    grad_ckpt = {"true": True, "false": False, "offload": True}.get(r["grad_ckpt"])
    method, use_dora = DORA_METHODS.get(r["method"], (r["method"], False))
    fields = dict(method=method, use_dora=use_dora, precision=r["precision"], seq_len=_int(r["seq_len"]),
                  micro_batch=_int(r["micro_batch"]), grad_accum=_int(r["grad_accum"]) or 1,
                  num_gpus=_int(r["num_gpus"]) or 1, zero_stage=SHARDING.get(r["sharding"]),
                  optimizer=OPTIMIZERS.get(r["optimizer"], "adamw"), cpu_offload=_flag(r["optimizer_offload"]) or False,
                  tensor_parallel=_int(r["tensor_parallel"]) or 1, framework=_framework(r["framework"]),
                  loss=r["loss"] if r["loss"] in ("hf", "chunked", "fused") else None,
                  kernels=KERNELS.get(r["kernels"]), attention=_attention(r),
                  activation_offload=True if r["grad_ckpt"] == "offload" else _flag(r["activation_offload"]),
                  optimizer_in_backward=_flag(r["optimizer_in_backward"]), compile=_flag(r["compile"]),
                  fp8=_flag(r["fp8"]))
    fields.update(_parallel_fields(r, fields))
    if grad_ckpt is None:
        grad_ckpt = LOADER_FRAMEWORK_DEFAULTS.get(r["framework"], {}).get("grad_ckpt")
    if grad_ckpt is not None:
        fields["grad_ckpt"] = grad_ckpt
    packing = _flag(r["packing"])
    if packing is not None:
        fields["packing"] = packing
    mean = _float(r["mean_tokens_per_sample"])
    if mean:
        fields.update(tokens_per_sample=mean, padded_tokens_per_sample=mean if packing is False else None)
    elif packing is False:  # unpacked real data: batches padded to their longest sample, a new shape every step
        fields.update(tokens_per_sample=float(fields["seq_len"]), padded_tokens_per_sample=None)
    else:  # a benchmark table's "length L, batch B" means B sequences of L tokens
        fields.update(tokens_per_sample=float(fields["seq_len"]), padded_tokens_per_sample=float(fields["seq_len"]))
    if packing and fields["framework"] is None and fields["seq_len"]:
        # The estimator reads no framework as frugaltune's own runner, whose packed documents flash attention attends
        # one by one (estimate/stack.py VARLEN_PACKING_FRAMEWORKS); a framework it does not know (custom loops, XTuner,
        # NeMo AutoModel, ...) may let them attend across the row, so its packed rows keep attention over the whole row
        fields["attended_tokens_per_sample"] = float(fields["seq_len"])
    if r["method"] != "full":
        # `lm_head` is a LoRA adapter on the output layer (bench/data/README.md: targets; torchtune
        # apply_lora_to_output, LitGPT lora_head), unless the row says the embeddings and head are trained in full
        # (peft modules_to_save), which the schema has no target name for
        full_head = "trained in full" in r["notes"]
        targets = tuple(t for t in r["lora_targets"].split("|") if t and not (full_head and t == "lm_head"))
        fields.update(lora_r=_int(r["lora_r"]) or 8, lora_targets=targets or ("q_proj", "v_proj"),
                      lora_dropout=_float(r["lora_dropout"]),
                      double_quant=r["quant"] in ("nf4-dq", "gptq-int4"),
                      trainable_embeddings=full_head and "lm_head" in r["lora_targets"].split("|"))
    if fields["precision"] not in ("bf16", "fp16", "fp32", "bf16-true"):
        fields["precision"] = "bf16"
    return {k: v for k, v in fields.items() if v is not None}


def _parallel_fields(r: dict, fields: dict) -> dict:
    """Pipeline / context-parallel inputs of a row (module docstring): degrees from their columns, the virtual
    pipeline size from the notes' "VP n", and for a pipeline schedule that runs one local batch ("LBS n") per flush,
    LBS / micro_batch micro-batches per flush."""
    pp, cp = _int(r["pipeline_parallel"]) or 1, _int(r["context_parallel"]) or 1
    out = {"pipeline_parallel": pp, "context_parallel": cp}
    if pp > 1:
        vp = re.search(r"\bVP (\d+)", r["notes"])
        out["virtual_pipeline"] = int(vp.group(1)) if vp else 1
        lbs = re.search(r"\bLBS (\d+)", r["notes"])
        if lbs and fields.get("micro_batch"):
            out["grad_accum"] = max(int(lbs.group(1)) // fields["micro_batch"], 1)
    return out


def _attention(r: dict) -> str | None:
    """The row's attention as an estimator input. `sdpa` under a framework that pads micro-batches and hands the
    padding mask to transformers (estimate/stack.py PADDING_FRAMEWORKS) is left to the estimator, which resolves it
    from the row's batch and packing (stack.padded_batches: a padded batch gives SDPA an explicit mask); a row whose
    own code is known to pass a mask says `sdpa-masked` (bench/data/README.md)."""
    attention = ATTENTION.get(r["attention"])
    if attention == "sdpa" and _framework(r["framework"]) in ("hf-trainer", "trl", "axolotl", "llama-factory"):
        return None
    return attention


def _framework(name: str) -> str | None:
    from frugaltune.estimate.stack import FRAMEWORKS

    return name if name in FRAMEWORKS else None


def _case(r: dict, line: int, split: str, catalog, extra) -> Case:
    tag = r["tag"].strip("[]").split()[0] if r["tag"] else ""
    case = Case(row=r, line=line, source=r["source"], method=r["method"], tag=tag, split=split)
    case.skip = exclusion(r)
    if case.skip:
        return case
    try:
        arch = catalog.model(r["model"])
    except FrugalError:
        arch = next((a for n, a in extra.items() if n.lower() == r["model"].lower()), None)
    if arch is None:
        case.skip = f"no architecture for {r['model']}"
        return case
    # A row without a GPU is memory-only (bench/data/README.md): any large bf16 card gives the same peak.
    gpu = catalog.gpu(r["gpu"] or MEMORY_ONLY_GPU)
    fields = job_fields(r)
    from frugaltune.estimate.build import JOB_DEFAULTS
    from frugaltune.estimate.stack import framework_job_defaults

    documented = framework_job_defaults(fields.get("framework"), fields["method"], fields["num_gpus"])
    fields = {**{k: v for k, v in documented.items() if k in JOB_DEFAULTS}, **fields}
    case.job = Job(model=arch, **fields)
    case.hw = Hardware(gpu=gpu, num_gpus=fields["num_gpus"])
    _measurements(case, r, fields)
    return case


def _measurements(case: Case, r: dict, fields: dict) -> None:
    mem = _float(r["peak_mem"])
    if mem is not None and r["mem_unit"] in UNIT_TO_GB:
        case.mem_gb = mem * UNIT_TO_GB[r["mem_unit"]] / (fields["num_gpus"] if r["mem_scope"] == "total" else 1)
        case.mem_kind = MEM_KIND.get(r["mem_kind"], "planning")
    alt = _float(r["alt_peak_mem"])
    if alt is not None and r["alt_mem_unit"] in UNIT_TO_GB:
        case.alt_mem_gb = alt * UNIT_TO_GB[r["alt_mem_unit"]]
        case.alt_mem_kind = MEM_KIND.get(r["alt_mem_kind"], "planning")
    case.tokens_per_s = _float(r["tokens_per_sec_per_gpu"]) if r["gpu"] else None


def load_rows(catalog, which: str = "fit") -> list[Case]:
    """Every row of the fit (or held-out) measurements as a Case; `skip` says why one is not scored."""
    path = FIT if which == "fit" else HELDOUT
    extra = load_extra_models()
    with open(path, newline="", encoding="utf-8") as fh:
        return [_case(r, line, which, catalog, extra) for line, r in enumerate(csv.DictReader(fh), start=2)]
