"""The estimator's inputs (`Job`, `Hardware`) and output (`Estimate`), whose `to_json()` is the JSON contract
of `frugaltune estimate --json` (docs/api.md). Keys may be added, never renamed or removed.
"""

from __future__ import annotations

from frugaltune.catalog.types import GpuSpec, ModelArch, Offer
from frugaltune.checks import MAX_EPOCHS, MAX_GPUS, MAX_SAMPLES, MAX_SEQ_LEN, Limit, check, within
from frugaltune.errors import ConfigError
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
    lora_dropout: float | None = None  # None: the framework's documented default, else frugaltune train's (0.05)
    use_dora: bool = False  # DoRA (peft use_dora): lora/qlora adapters with a trained magnitude vector (dora.py)
    num_gpus: int = 1
    zero_stage: int = 0  # 0 = DDP / none, 1, 2, 3 (FSDP FULL_SHARD = 3)
    cpu_offload: bool = False  # ZeRO-Offload of optimizer states (and params under stage 3) to CPU RAM
    dataset_size: int = 10_000  # samples
    tokens_per_sample: float = 500.0  # mean real (unpadded) tokens per sample
    epochs: float = 3.0
    packing: bool = True
    padded_tokens_per_sample: float | None = None  # mean tokens incl. padding, when known (from --dataset)
    longest_sample_tokens: int | None = None  # longest sample, when known (from --dataset): peak memory unpacked
    # E[L^2] / E[L] of the samples' lengths L, when known (from --dataset): the length whose causal attention costs
    # what packed documents attended one by one cost (flops.packed_attention_length); None: tokens_per_sample
    attended_tokens_per_sample: float | None = None
    double_quant: bool = True  # QLoRA: double-quantised NF4 constants
    trainable_embeddings: bool = False  # LoRA: also train embeddings + LM head (peft modules_to_save)
    # The training stack (estimate/stack.py). None = the framework's documented default, else the tool's.
    framework: str | None = None  # hf-trainer | trl | torchtune | axolotl | llama-factory | unsloth | litgpt | ...
    loss: str | None = None  # hf | chunked | fused
    kernels: str | None = None  # hf | liger | unsloth
    attention: str | None = None  # eager | sdpa | sdpa-masked | flash
    activation_offload: bool | None = None
    optimizer_in_backward: bool | None = None
    compile: bool | None = None
    fp8: bool | None = None
    tensor_parallel: int = 1
    # Pipeline parallelism (estimate/pipeline.py): stages, model chunks per GPU (interleaved 1F1B), and context
    # parallelism (the sequence split over ranks). With pipeline_parallel > 1, grad_accum is the number of
    # micro-batches each pipeline runs between flushes (Megatron-Core: all of an optimizer step's).
    pipeline_parallel: int = 1
    virtual_pipeline: int = 1
    context_parallel: int = 1

    def __post_init__(self) -> None:
        check_job(self)

    @property
    def model_parallel(self) -> int:
        """GPUs that share one micro-batch: tensor x pipeline x context parallel (Megatron-Core parallel_state; the
        rest of the GPUs are data-parallel replicas)."""
        return max(self.tensor_parallel, 1) * max(self.pipeline_parallel, 1) * max(self.context_parallel, 1)

    def with_(self, **changes) -> Job:
        """A copy with `changes`, validated as a new Job would be. Planners derive thousands of jobs from one: the
        fields that did not change were checked when this job was built, so only the changed ones are checked
        again (and the whole job when a change could make another field wrong, or fails)."""
        new = object.__new__(Job)
        values = new.__dict__
        values.update(self.__dict__)
        if not changes.keys() <= values.keys():
            return replace(self, **changes)  # raises TypeError naming the unknown field
        values.update(changes)
        if not _changes_valid(new, changes):
            check_job(new)  # the full check: one ConfigError listing every problem
        return new


# The accepted range of each numeric Job field (checks.py); the job flags of every command share these names.
JOB_LIMITS = {
    "seq_len": Limit(1, MAX_SEQ_LEN, integer=True, example=2048, why="longer than any model's context"),
    "micro_batch": Limit(1, 65_536, integer=True, example=4),
    "grad_accum": Limit(1, 1_000_000, integer=True, example=8),
    "lora_r": Limit(1, 65_536, integer=True, example=16),
    "lora_dropout": Limit(0, 0.99, example=0.05, why="dropout is a probability below 1"),
    "num_gpus": Limit(1, MAX_GPUS, integer=True, example=8, why="more GPUs than the largest training clusters"),
    "zero_stage": Limit(0, 3, integer=True, example=2),
    "dataset_size": Limit(1, MAX_SAMPLES, integer=True, example=10000, why="no fine-tuning set is that large"),
    # a sample has at least one token; less than 1/10,000 of an epoch is a typo (1e-320 epochs priced 0 hours)
    "tokens_per_sample": Limit(1, MAX_SEQ_LEN, example=500, why="longer than any model's context"),
    "epochs": Limit(0.0001, MAX_EPOCHS, example=3, why="a fine-tune takes a handful of epochs"),
    "padded_tokens_per_sample": Limit(1, MAX_SEQ_LEN),
    "longest_sample_tokens": Limit(1, MAX_SEQ_LEN, integer=True),
    "attended_tokens_per_sample": Limit(1, MAX_SEQ_LEN),
}
JOB_CHOICES = {"method": METHODS, "precision": PRECISIONS, "optimizer": OPTIMIZERS}
JOB_SWITCHES = ("grad_ckpt", "cpu_offload", "packing", "double_quant", "trainable_embeddings", "use_dora")


_OPTIONAL = ("padded_tokens_per_sample", "longest_sample_tokens", "attended_tokens_per_sample", "lora_dropout")


def _changes_valid(job: Job, changes: dict) -> bool:
    """Whether each changed field passes `check_job`'s test of it (False: let `check_job` decide and explain)."""
    if "method" in changes or "lora_targets" in changes:
        return False  # cross-field rules (lora_r and lora_targets matter only without full fine-tuning)
    for name, value in changes.items():
        limit = JOB_LIMITS.get(name)
        if limit is not None:
            if not ((value is None and name in _OPTIONAL) or (name == "lora_r" and job.method == "full")
                    or within(value, limit)):
                return False
        elif name in JOB_CHOICES and value not in JOB_CHOICES[name]:
            return False
        elif name in JOB_SWITCHES and not isinstance(value, bool):
            return False
    return True


def job_label(name: str) -> str:
    """A Job field as the user wrote it: 'epochs (--epochs)'."""
    return f"{name} (--{name.replace('_', '-')})"


def check_job(job: Job) -> None:
    """Every field of `job` of the right type and within its range; one ConfigError listing every problem."""
    problems: list[tuple[str, str]] = []  # (what is wrong, what to write instead)
    for name, limit in JOB_LIMITS.items():
        value = getattr(job, name)
        if (value is None and name in _OPTIONAL) or (
                name == "lora_r" and job.method == "full") or within(value, limit):
            continue  # fine: the message below is built only for a field that fails (planners build many Jobs)
        flag = "--" + name.replace("_", "-")
        example = f", e.g. {flag} {limit.example}" if limit.example is not None else ""
        try:
            check(value, job_label(name), limit, fix=f"give {flag} {limit.expected()}{example}.")
        except ConfigError as err:
            problems.append((err.message.rstrip("."), err.fix or ""))
    for name, choices in JOB_CHOICES.items():
        if getattr(job, name) not in choices:
            problems.append((f"{job_label(name)} = {getattr(job, name)!r}: expected one of {', '.join(choices)}",
                             f"use --{name} {choices[0]}."))
    problems += [(f"{job_label(n)} = {getattr(job, n)!r}: expected true or false", f"give {n} true or false.")
                 for n in JOB_SWITCHES if not isinstance(getattr(job, n), bool)]
    if job.method != "full" and not job.lora_targets:
        problems.append((f"{job_label('lora_targets')} names no module: the job would train zero parameters",
                         "name modules, e.g. --lora-targets q_proj,v_proj, or --lora-targets all-linear."))
    if problems:
        raise ConfigError("invalid job: " + "; ".join(p for p, _ in problems) + ".",
                          fix=problems[0][1] if len(problems) == 1 else "correct the values listed.")


@record(frozen=True)
class Hardware:
    """Where it runs: a GPU, how many, and (optionally) the offer that prices it."""

    gpu: GpuSpec
    num_gpus: int = 1
    offer: Offer | None = None
    pricing: str = "on-demand"

    def __post_init__(self) -> None:
        check(self.num_gpus, "num_gpus (--num-gpus)", JOB_LIMITS["num_gpus"])
        if self.pricing not in PRICINGS:
            raise ConfigError(f"pricing (--pricing) = {self.pricing!r}: expected one of {', '.join(PRICINGS)}.",
                              fix="use --pricing on-demand or --pricing spot.")


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
    lora_dropout: float | None = None  # the dropout the memory estimate assumes (given, framework's or the runner's)
    cpu_offload: bool = False
    global_batch_sequences: int = 0
    steps_total: int = 0
    stack: dict = field(default_factory=dict)  # the resolved training stack (estimate/stack.py)
    use_dora: bool | None = None  # DoRA adapters (lora/qlora; None for full fine-tuning)


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
    peak_gb_range: list | None = None  # 80 % band [low, high] of peak_gb_per_gpu (estimate/bands.py)
    peak_allocated_gb: float = 0.0  # torch.cuda.max_memory_allocated: live tensors
    peak_reserved_gb: float = 0.0  # torch.cuda.max_memory_reserved: + the caching allocator's cached blocks
    cuda_context_gb: float = 0.0  # outside PyTorch's allocator; peak_gb_per_gpu = reserved + context
    fits_band_high: bool = True  # the band's high end fits too (what plan/compare require)
    units: str = "GB = 1e9 bytes"
    dora_workspace_gb: float = 0.0  # DoRA's weight-norm buffer (estimate/dora.py), part of quant_workspace_gb
    optimizer_step_gb: float = 0.0  # the optimizer step's transient buffers beside all gradients (memory.py)


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
    tokens_per_sec_range: list | None = None  # 80 % band [low, high] of tokens_per_sec (estimate/bands.py)
    gpu_class: str = ""  # the speed class whose calibration applies (estimate/gpu_class.py)


@record(eq=False)
class TimeOut:
    hours: float
    billed_hours: float | None
    setup_hours: float = 0.0  # instance start, environment, model download and load (estimate/setup.py), billed
    setup: dict | None = None  # its parts and the assumptions behind them


@record(eq=False)
class CostOut:
    compute_cost: float | None
    storage_cost: float | None
    total_cost: float | None
    usd_per_epoch: float | None
    spot: dict | None = None  # expected interruption cost (filled by estimate.spot when pricing == "spot")
    total_cost_range: list | None = None  # 80 % band [low, high] of total_cost (estimate/bands.py)
    setup_cost: float | None = None  # the billed setup time's share of compute_cost


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
    dataset: dict | None = None  # with --dataset: its summary (estimate/dataset_stats.py DatasetStats.summary)

    def to_json(self) -> dict:
        """The JSON contract (plain Python types only)."""
        return asdict(self)
