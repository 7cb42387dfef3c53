"""The estimator's inputs (`Job`, `Hardware`) and output (`Estimate`), whose `to_json()` is the JSON contract
of `frugaltune estimate --json` (shared/DESIGN.md). Keys may be added, never renamed or removed.
"""

from __future__ import annotations

from frugaltune.catalog.types import GpuSpec, ModelArch, Offer
from frugaltune.record import asdict, field, record, replace

SCHEMA_VERSION = 1

METHODS = ("full", "lora", "qlora")
# bf16 / fp16: mixed precision (16-bit compute, fp32 master weights and optimizer states for full fine-tuning);
# bf16-true: everything in bf16, no fp32 master (LitGPT "bf16-true", torchtune dtype bf16, a bf16-loaded HF model
# without AMP); fp32: no mixed precision.
PRECISIONS = ("bf16", "fp16", "fp32", "bf16-true")
OPTIMIZERS = ("adamw", "adamw8bit", "paged_adamw8bit", "sgd")
PRICINGS = ("on-demand", "spot")
# LoRA target names follow Hugging Face Llama naming; "all-linear" expands to every projection.
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


@record(frozen=True)
class Job:
    """What to train and how. Sizes are per GPU unless the name says otherwise."""

    model: ModelArch
    method: str = "lora"  # full | lora | qlora
    precision: str = "bf16"  # bf16 | fp16 (mixed precision) | bf16-true (pure bf16) | fp32 (no mixed precision)
    seq_len: int = 512  # max tokens per sequence (packed length when packing)
    micro_batch: int = 1  # sequences per GPU per forward/backward
    grad_accum: int = 1
    grad_ckpt: bool = True
    optimizer: str = "adamw"
    lora_r: int = 16
    lora_targets: tuple[str, ...] = DEFAULT_LORA_TARGETS
    num_gpus: int = 1
    zero_stage: int = 0  # 0 = DDP / none, 1, 2, 3 (FSDP FULL_SHARD = 3)
    cpu_offload: bool = False  # ZeRO-Offload of optimizer states (and params under stage 3) to CPU RAM
    dataset_size: int = 10_000  # samples
    tokens_per_sample: float = 500.0  # mean real (unpadded) tokens per sample
    epochs: float = 3.0
    packing: bool = True
    padded_tokens_per_sample: float | None = None  # mean tokens incl. padding, when known (from --dataset)
    longest_sample_tokens: int | None = None  # longest sample, when known (from --dataset): peak memory unpacked
    double_quant: bool = True  # QLoRA: double-quantised NF4 constants
    trainable_embeddings: bool = False  # LoRA: also train embeddings + LM head (peft modules_to_save)

    def with_(self, **changes) -> Job:
        return replace(self, **changes)


@record(frozen=True)
class Hardware:
    """Where it runs: a GPU, how many, and (optionally) the offer that prices it."""

    gpu: GpuSpec
    num_gpus: int = 1
    offer: Offer | None = None
    pricing: str = "on-demand"


@record(eq=False)
class ModelOut:
    name: str
    params: int
    trainable_params: int


@record(eq=False)
class JobOut:
    method: str
    precision: str
    seq_len: int
    micro_batch: int
    grad_accum: int
    grad_ckpt: bool
    optimizer: str
    tokens_total: int
    epochs: float
    num_gpus: int
    zero_stage: int
    lora_r: int | None = None
    lora_targets: list[str] | None = None
    packing: bool = True
    cpu_offload: bool = False
    global_batch_sequences: int = 0
    steps_total: int = 0


@record(eq=False)
class HardwareOut:
    gpu: str
    gpu_memory_gb: float
    platform: str | None
    pricing: str
    instance: str | None = None
    region: str | None = None
    usd_per_gpu_hour: float | None = None
    price_data_date: str | None = None


@record(eq=False)
class MemoryOut:
    weights_gb: float
    gradients_gb: float
    optimizer_gb: float
    activations_gb: float
    logits_gb: float
    overhead_gb: float
    peak_gb_per_gpu: float
    fits: bool
    master_weights_gb: float = 0.0
    quant_workspace_gb: float = 0.0
    usable_gb_per_gpu: float = 0.0
    cpu_offload_gb: float = 0.0


@record(eq=False)
class ThroughputOut:
    flops_per_token: float
    mfu: float
    tokens_per_sec_per_gpu: float
    tokens_per_sec: float
    source: str  # "default" | "calibrated"
    peak_tflops: float = 0.0
    scaling_efficiency: float = 1.0
    calibration_runs: int = 0  # measured runs of this GPU x method that scaled tokens/s (frugaltune train ledger)


@record(eq=False)
class TimeOut:
    hours: float
    billed_hours: float | None


@record(eq=False)
class CostOut:
    compute_cost: float | None
    storage_cost: float | None
    total_cost: float | None
    usd_per_epoch: float | None
    spot: dict | None = None  # expected interruption cost (filled by estimate.spot when pricing == "spot")


@record
class Estimate:
    model: ModelOut
    job: JobOut
    hardware: HardwareOut
    memory: MemoryOut
    throughput: ThroughputOut
    time: TimeOut
    cost_breakdown: CostOut
    warnings: list[str] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict:
        """The JSON contract (plain Python types only)."""
        return asdict(self)
