"""Map each row of bench/data/measurements_reference.csv (a copy of the reference measurements, each row sourced) to
estimator inputs, or to a reason it is not used.

Decisions (documented in bench/README.md):
- Only rows tagged [MEASURED...] are scored; [OOM] rows are checked as "must not fit"; [ESTIMATE] rows (the source
  says they are estimates) and [MAX-FIT] rows (the memory column is a budget) are not ground truth.
- Memory: GiB rows (notes say "GiB": torchtitan) are converted to GB (x 1.073741824). Qwen multi-GPU memory was
  already divided per GPU by the file's authors. We compare our `peak_gb_per_gpu`.
- Tokens: Qwen pads every sample to seq_len (so tokens/s include padding) == our packed case (full sequences).
  MPT and torchtitan train on full sequences too.
- Qwen Q-LoRA is a GPTQ-Int4 base (4 bits + group-128 fp16 scales/zeros ~ 4.16 bits/weight): mapped to our 4-bit
  QLoRA with double-quantised NF4 (4.127 bits), the closest storage cost. Its dequantisation speed is GPTQ's.
- Qwen LoRA: finetune.py defaults r=64 on every linear (c_attn, c_proj, w1, w2); "LoRA (emb)" also trains the
  embedding and LM head (modules_to_save). Full: DeepSpeed ZeRO-3 (finetune_ds.sh); multinode LoRA: ZeRO-2.
- LitGPT (2023-10): LoRA r=8 on query & value, bf16-true (adapters bf16), unpacked Alpaca whose longest sample is
  ~1034-1304 tokens (mean of the two used), no gradient checkpointing (lit-gpt finetune/lora.py had none then),
  the LM head and cross-entropy in 128-token chunks (loss chunked).
- torchtitan "selective" activation checkpointing keeps matmul outputs: mapped to grad_ckpt=False.
- torchtitan "CP n" / "PP n" rows: context and pipeline parallel degrees (FSDP shards over the data x context
  parallel ranks); a pipeline's local batch is split into as many micro-batches as stages (torchtitan's default).
- Excluded (reason printed): encoder-decoder models (T0, mt0), unknown seq_len or batch, an interleaved pipeline
  whose model chunks per stage are not stated, GPUs not in the catalog.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from frugaltune.catalog.types import ModelArch
from frugaltune.estimate.records import Hardware, Job

HERE = Path(__file__).resolve().parent
REFERENCE = HERE / "data" / "measurements_reference.csv"
EXTRA_MODELS = HERE / "data" / "calibration_models.csv"
GIB_TO_GB = 1.073741824
CATALOG_MODEL = {"Llama-2-7B": "Llama 2 7B", "Llama-2-13B": "Llama 2 13B", "Llama-3.1-8B": "Llama 3.1 8B",
                 "Llama-3.1-405B": "Llama 3.1 405B"}
GPU_MAP = {"A100-SXM4-80GB": "A100-80GB", "A100 80GB": "A100-80GB", "a100_80gb": "A100-80GB",
           "A100-SXM4-40GB": "A100-40GB", "a100_40gb": "A100-40GB", "h100_80gb": "H100-SXM"}


# What each reference source's memory figure is: lit-gpt prints torch.cuda.max_memory_allocated(); PEFT's examples
# measure with TorchTracemalloc (max_memory_allocated); torchtitan logs max reserved; Qwen does not say (planning).
REFERENCE_MEM_KIND = {"LitGPT": "allocated", "PEFT": "allocated", "torchtitan": "reserved"}


@dataclass
class Case:
    row: dict
    line: int
    source: str
    method: str
    tag: str
    job: Job | None = None
    hw: Hardware | None = None
    mem_gb: float | None = None
    tokens_per_s: float | None = None
    skip: str | None = None
    mem_kind: str = "planning"  # which estimate the measurement is: allocated | reserved | planning (nvidia-smi)
    tokens_ratio: float = 1.0  # counted tokens per computed token (real tokens when the source counts no padding)
    split: str = "fit"  # fit | heldout
    alt_mem_gb: float | None = None  # a second peak the same run reports (e.g. nvidia-smi beside allocated)
    alt_mem_kind: str = "planning"


def _num(text: str) -> float | None:
    m = re.match(r"\s*([0-9.]+)", text or "")
    return float(m.group(1)) if m else None


def _tag(notes: str) -> str:
    return notes.split("]")[0].lstrip("[").split()[0] if notes.startswith("[") else ""


def load_extra_models() -> dict[str, ModelArch]:
    """Architectures of calibration models the product catalog does not ship (bench/data, each row sourced)."""
    out = {}
    if not EXTRA_MODELS.exists():
        return out
    for r in csv.DictReader(EXTRA_MODELS.open()):
        if not (r.get("num_hidden_layers") or "").strip():
            continue
        out[r["name"]] = ModelArch(
            name=r["name"], hf_id=r.get("hf_id", ""), num_layers=int(r["num_hidden_layers"]),
            hidden_size=int(r["hidden_size"]), intermediate_size=int(r["intermediate_size"]),
            num_heads=int(r["num_attention_heads"]), num_kv_heads=int(r["num_key_value_heads"]),
            head_dim=int(r["head_dim"]), vocab_size=int(r["vocab_size"]),
            max_position_embeddings=int(float(r.get("max_position_embeddings") or 2048)),
            tie_word_embeddings=r.get("tie_word_embeddings", "").lower() in ("true", "yes", "1"),
            mlp_type=r.get("mlp_type", "gated"), norm_type=r.get("norm_type", "RMSNorm").split()[0].lower(),
            norms_per_layer=1 if "one input_layernorm" in r.get("parallel_attn", "") else 2, qkv_bias=r.get("qkv_bias", "").lower() in ("true", "yes", "1"),
            total_params=int(float(r["total_params_computed"])) if r.get("total_params_computed") else None,
            source=r.get("source", ""))
    return out


def _arch(model: str, catalog, extra: dict[str, ModelArch]) -> ModelArch | None:
    if model in CATALOG_MODEL:
        return catalog.model(CATALOG_MODEL[model])
    for name, arch in extra.items():
        if name.lower() == model.lower() or name.lower().split("/")[-1] == model.lower().split("/")[-1]:
            return arch
    return None


# torchtitan's long-context rows (Llama 3.1 8B, 32,768-262,144 tokens, FSDP + CP, H100 at 500 W) are not scored: at
# that length attention is 37-82 % of the FLOPs, and the one attention_efficiency the estimator fits for every GPU
# and length puts them 1.8-3.5x too fast; fitted on them, it moved leave-one-source-out tokens/s p80 24.8 -> 39.4 %
# (Qwen README 15 -> 45 %), and their reserved memory sits at the card's capacity (84 of 89.4 GiB: the caching
# allocator keeps what it took), which moved memory LOSO 11.3 -> 14.1 % (bench/README.md, pipeline parallelism).
LONG_CONTEXT = 32_768


def _exclusion(r: dict, tag: str) -> str | None:
    text = " ".join([r["precision"], r["other_settings"], r["gpu"]]).lower()
    if tag not in ("MEASURED", "OOM"):
        return f"[{tag}] not ground truth"
    if "encoder-decoder" in r["notes"].lower():
        return "encoder-decoder model (not modelled)"
    if "interleaved 1f1b" in text:
        return "interleaved pipeline: model chunks per stage not stated"
    if "context parallel" in text and (_num(r["seq_len"]) or 0) >= LONG_CONTEXT:
        return "long-context run (32k-262k tokens: attention speed and near-capacity reserved memory not modelled)"
    if "selective" in text:
        return "selective activation checkpointing (not modelled: only none or full recomputation)"
    if tag == "MEASURED" and (_num(r["micro_batch"]) is None or (_num(r["seq_len"]) is None and "~" not in text)):
        return "seq_len or micro_batch not stated"
    return None


def _seq_len(r: dict) -> int:
    if r["seq_len"].strip():
        return int(_num(r["seq_len"]))
    m = re.search(r"~(\d+)-(\d+) tokens", r["other_settings"])
    return (int(m.group(1)) + int(m.group(2))) // 2 if m else 512


def _job_fields(r: dict) -> dict:
    src, text = r["source"], (r["other_settings"] + " " + r["precision"]).lower()
    method = "qlora" if r["method"].startswith("qlora") else ("lora" if r["method"].startswith("lora") else "full")
    f = dict(method=method, seq_len=_seq_len(r), micro_batch=int(_num(r["micro_batch"]) or 1),
             num_gpus=int(_num(r["num_gpus"]) or 1), grad_ckpt=r["grad_ckpt"] == "yes", precision="bf16")
    if src.startswith("Qwen"):  # finetune.py LoraArguments: lora_dropout 0.05
        f.update(lora_r=64, lora_targets=("all-linear",), grad_accum=8, lora_dropout=0.05)
        f["zero_stage"] = 3 if ("zero-3" in text or "zero3" in text) else (2 if "multinode" in text else 0)
        f["trainable_embeddings"] = "lora (emb)" in text
    elif src.startswith("LitGPT"):
        f.update(lora_r=8, lora_targets=("q_proj", "v_proj"), grad_ckpt=False, packing=False, loss="chunked",
                 double_quant="nf4-dq" in text, tokens_per_sample=_seq_len(r), padded_tokens_per_sample=_seq_len(r))
    elif src.startswith("PEFT"):
        # the README's example scripts: LoraConfig(r=8, lora_alpha=32, lora_dropout=0.1)
        f.update(lora_r=8, lora_targets=("q_proj", "v_proj"), precision="fp32", lora_dropout=0.1)
    elif src.startswith("Mosaic") or src.startswith("torchtitan"):
        # pre-training throughput over full sequences: every sample fills its row (as measurement_rows reads a
        # benchmark's "length L"), so no shorter documents are attended one by one
        f.update(zero_stage=3, attention="flash", tokens_per_sample=float(_seq_len(r)))
        tp = re.search(r"\btp (\d+)", text)
        if tp:
            f["tensor_parallel"] = int(tp.group(1))
        cp = re.search(r"\bcp (\d+)", text)
        if cp:
            f["context_parallel"] = int(cp.group(1))
        pp, local = re.search(r"\bpp (\d+)", text), re.search(r"local batch (\d+)", text)
        if pp:
            # torchtitan splits each rank's local batch into pipeline micro-batches, as many as stages unless
            # configured (experimental.pipeline_parallel_microbatches, default: the number of stages)
            f["pipeline_parallel"] = stages = int(pp.group(1))
            batch = int(local.group(1)) if local else f["micro_batch"]
            f.update(micro_batch=max(batch // stages, 1), grad_accum=stages)
    # The stack each source states (bench/README.md): Qwen and MPT use FlashAttention; torchtitan's table names
    # torch.compile and Float8 linears per row. LitGPT's finetune/lora.py runs the LM head in 128-token chunks and
    # chunked_cross_entropy since Lightning-AI/litgpt #189 (4af1a50f, 2023-06-23; so at the tables' commit 8641822).
    if src.startswith("Qwen"):
        f.update(framework="hf-trainer", attention="flash", packing=True)
    elif src.startswith("LitGPT"):
        f.update(framework="litgpt", precision="bf16-true")
    f["compile"] = "torch.compile" in text or None
    f["fp8"] = ("float8" in text or "fp8" in text) or None
    if "fp32 load" in text or "loads fp32" in text:
        f["precision"] = "fp32"
    return f


def load_cases(catalog) -> list[Case]:
    """Every calibration row as a Case, with `skip` set to the reason when it is not used."""
    extra = load_extra_models()
    cases = []
    for line, r in enumerate(csv.DictReader(REFERENCE.open()), start=2):
        tag = _tag(r["notes"])
        method = "qlora" if r["method"].startswith("qlora") else ("lora" if r["method"].startswith("lora") else "full")
        case = Case(row=r, line=line, source=r["source"], method=method, tag=tag)
        case.skip = _exclusion(r, tag)
        arch = None if case.skip else _arch(r["model"], catalog, extra)
        gpu_name = GPU_MAP.get(r["gpu"].split(" (")[0], None)
        if "H100 96GB" in r["gpu"]:
            gpu_name = "H100-SXM"
        if not case.skip and arch is None:
            case.skip = f"no architecture for {r['model']}"
        if not case.skip and gpu_name is None:
            case.skip = f"GPU not in catalog: {r['gpu']}"
        if case.skip:
            cases.append(case)
            continue
        gpu = catalog.gpu(gpu_name)
        if "H100 96GB" in r["gpu"]:
            from frugaltune.record import replace
            gpu = replace(gpu, memory_gb=96.0)
        fields = _job_fields(r)
        case.job = Job(model=arch, **fields)
        case.hw = Hardware(gpu=gpu, num_gpus=fields["num_gpus"])
        mem = _num(r["measured_peak_mem_gb"])
        case.mem_gb = mem * GIB_TO_GB if (mem and "GiB" in r["notes"]) else mem
        case.mem_kind = REFERENCE_MEM_KIND.get(case.source.split(" (")[0].split()[0], "planning")
        case.tokens_per_s = _num(r["measured_tokens_per_sec_per_gpu"])
        cases.append(case)
    return cases
