"""Typed catalog rows. Every field carries its unit in its name; every row carries `source` and `data_date`.

Floats are plain Python floats (SkyPilot learned that numpy floats break JSON output).
"""

from __future__ import annotations

from frugaltune.record import field, record


@record(frozen=True)
class GpuSpec:
    """One GPU model's hardware facts (catalog/data/gpus.csv)."""

    name: str  # canonical, e.g. "A100-80GB", "H100-SXM", "RTX-4090", "T4"
    aliases: tuple[str, ...]  # forgiving spellings that resolve to this GPU ("a100 80gb", "A100-SXM4-80GB", ...)
    architecture: str  # "Turing", "Ampere", "Ada Lovelace", "Hopper", "Blackwell", "CDNA3", ...
    segment: str  # "datacenter" | "workstation" | "consumer"
    memory_gb: float  # marketed GB (1e9 bytes)
    memory_bandwidth_gb_per_s: float | None
    bf16_tflops: float | None  # dense tensor TFLOPs, None where bf16 is unsupported
    fp16_tflops: float | None  # dense tensor TFLOPs with fp32 accumulate (what AMP training gets)
    fp32_tflops: float | None  # non-tensor FP32
    tf32_tflops: float | None
    fp8_tflops: float | None
    bf16_supported: bool
    fp8_supported: bool
    tdp_watts: float | None
    price_usd: float | None  # purchase price where a source gives one
    source: str
    data_date: str  # ISO date (YYYY-MM-DD) or "unknown"
    notes: str = ""
    fp16_acc16_tflops: float | None = None  # dense FP16 tensor TFLOPs with FP16 accumulate (2x on GeForce cards)

    @property
    def memory_bytes(self) -> float:
        return self.memory_gb * 1e9


@record(frozen=True)
class Offer:
    """One rentable (or owned) way to get GPUs: provider x instance x region, with its billing rules."""

    platform: str  # canonical lower-case provider key: "aws", "gcp", "azure", "lambda", "modal", "runpod", ...
    instance: str  # SKU / instance type / tier
    gpu: str  # canonical GpuSpec.name
    gpus_per_instance: int
    region: str
    on_demand_usd_per_gpu_hour: float | None
    spot_usd_per_gpu_hour: float | None  # None where no spot price is offered; the median over zones (see below)
    billing_increment_s: int  # 1 = per second, 60 = per minute, 3600 = per hour
    billing_minimum_s: int  # minimum billed duration per launch
    whole_instance: bool  # True when the instance can only be rented whole (8-GPU nodes)
    kind: str  # "cloud" | "serverless" | "marketplace" | "owned"
    data_date: str  # ISO date or "unknown"
    source: str
    notes: str = ""
    price_includes_host: bool = True  # False for GPU-only SKU prices (GCP): the host VM is billed on top
    anomaly: bool = False  # True where the source data looks unreliable (see notes); pickers skip it when they can
    spot_anomaly: bool = False  # True where only the spot price looks unreliable (see notes)
    cpu_usd_per_core_hour: float | None = None  # CPU billed on top of the GPU price (serverless: Modal)
    memory_usd_per_gib_hour: float | None = None  # memory billed on top of the GPU price (serverless: Modal)
    # spot_usd_per_gpu_hour is the median over the region's zones (what estimates rank on); beside it:
    spot_cheapest_usd_per_gpu_hour: float | None = None  # the cheapest zone seen (None: same as the median)
    spot_cheapest_zone: str = ""  # that zone's name, when the source names it
    spot_zones: int | None = None  # zones the spot figures cover, when known
    spot_scarce: str = ""  # why spot capacity looks scarce (one zone only, zones without spot); "" when it does not

    def usd_per_gpu_hour(self, pricing: str) -> float | None:
        """Price per GPU-hour for `pricing` in {"on-demand", "spot"}; None when not offered."""
        return self.spot_usd_per_gpu_hour if pricing == "spot" else self.on_demand_usd_per_gpu_hour

    def price_flagged(self, pricing: str) -> bool:
        """True when the catalog flags this offer's `pricing` price as unreliable (the whole row, or its spot price)."""
        return self.anomaly or (pricing == "spot" and self.spot_anomaly)


@record(frozen=True)
class StoragePrice:
    """Persistent storage price of a provider."""

    platform: str
    item: str
    usd_per_gb_month: float
    source: str
    data_date: str
    free_gb: float = 0.0  # GB free of charge before this price applies (Modal: 1 TiB)
    default_for_platform: bool = False  # the item a training run's data + checkpoints are priced at
    notes: str = ""
    held: str = ""  # "running": the rate while the machine runs; "stopped": while the volume waits; "": either


@record(frozen=True)
class ModelArch:
    """A decoder-only transformer's shape: enough to count params, FLOPs and activation bytes without weights."""

    name: str
    hf_id: str
    num_layers: int
    hidden_size: int
    intermediate_size: int  # per expert for MoE
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool
    mlp_type: str = "gated"  # "gated" (SwiGLU/GeGLU: 3 matrices) | "plain" (2 matrices)
    num_experts: int = 0
    experts_per_token: int = 0
    qkv_bias: bool = False
    total_params: int | None = None  # published/computed count; None -> computed from the shape
    aliases: tuple[str, ...] = ()
    source: str = ""
    data_date: str = "unknown"
    notes: str = ""
    qk_norm: bool = False  # RMSNorm on q and k (Qwen3, Gemma 3): 2 * head_dim params per layer
    norm_type: str = "rmsnorm"  # "rmsnorm" (h params) | "layernorm" (2h params: weight + bias)
    norms_per_layer: int = 2  # 2 for most models, 4 for Gemma 2/3, 1 for Falcon-7B (parallel block)
    linear_bias: bool = False  # GPT-2 style: o_proj and MLP layers carry biases too (qkv_bias covers q, k, v)
    learned_pos_embeddings: int = 0  # rows of a learned position table (GPT-2: 1024); 0 for RoPE models
    hidden_act: str = "silu"
    sliding_window: int | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)
