"""Option records (`Opt`) and the job flags shared by `estimate`, `compare`, `impact`, `recommend` and `plan`.

An `Opt` declares one flag or positional argument: its keyword name (`dest`), type, default, help, choices and how
it is spelled. The parser (cli/parse.py) and the help (cli/help.py) are generated from these tables. Stdlib only:
`frugaltune estimate --json` imports this module at start-up.
"""

from __future__ import annotations

from frugaltune.estimate.records import METHODS, OPTIMIZERS, PRECISIONS, PRICINGS
from frugaltune.estimate.stack import ATTENTIONS, FRAMEWORKS, KERNELS, LOSSES
from frugaltune.record import record


@record(frozen=True)
class Opt:
    """One command-line option (or, with `positional=True`, an argument).

    bool options are switches: `--x` sets True, and `--no-x` sets False unless `negatable=False`. A bool with
    default None is tri-state (None: neither flag given). `multiple=True` makes a repeatable option whose value is
    the list of the given values (None when absent). `flags` overrides the spelling (`("-o", "--output")`).
    """

    dest: str  # keyword name passed to the command's handler (for job flags: frugaltune.estimate.build.estimate)
    type: type = str  # str, int, float or bool
    default: object = None
    help: str = ""
    choices: tuple[str, ...] | None = None
    flags: tuple[str, ...] = ()  # default: ("--dest-with-dashes",)
    negatable: bool = True  # bools only: also accept --no-X
    multiple: bool = False
    positional: bool = False
    required: bool = False
    metavar: str | None = None
    min: float | None = None  # int/float: the smallest value accepted

    @property
    def flag(self) -> str:
        """The long spelling (used in messages)."""
        longs = [f for f in self.flags if f.startswith("--")]
        return longs[0] if longs else "--" + self.dest.replace("_", "-")

    @property
    def spellings(self) -> tuple[str, ...]:
        return self.flags or (self.flag,)


def switch(dest: str, help: str, *flags: str) -> Opt:
    """A plain on/off flag without a --no- form (`--dry-run`, `--json`)."""
    return Opt(dest, bool, False, help, flags=flags, negatable=False)


def argument(dest: str, help: str, metavar: str | None = None) -> Opt:
    """A required positional argument."""
    return Opt(dest, str, None, help, positional=True, required=True, metavar=metavar or dest.upper())


JSON = switch("json_out", "Print JSON instead of a table.", "--json")
FORMAT = Opt("format", str, "table", "Output: a table for people (fitted to the terminal), CSV or Markdown for "
             "files, or JSON (= --json).", ("table", "csv", "md", "json"))
CATALOG = Opt("catalog", str, None, "Extra catalog directory (your own prices, GPUs, models).", metavar="DIR")

HARDWARE_OPTIONS = [
    Opt("model", str, "llama-2-7b", "Catalog name/alias (llama-2-7b, meta-llama/Llama-3.1-8B), config.json path or "
        "model dir, or a bare size (7B)."),
    Opt("gpu", str, "a100-80gb", "GPU name (a10, 'A100 80GB', 'rtx 4090', 'Tesla T4', h100)."),
    Opt("num_gpus", int, 1, "Number of GPUs (data parallel; shard with --zero-stage)."),
    Opt("platform", str, None, "Provider (lambda, modal, aws, gcp, runpod, vast, ...); default: cheapest offer."),
    Opt("pricing", str, "on-demand", "on-demand or spot (spot adds the expected cost of interruptions).", PRICINGS),
]
JOB_OPTIONS = [
    Opt("method", str, "lora", "Fine-tuning method.", METHODS),
    Opt("precision", str, None, "bf16/fp16 mixed precision, bf16-true (pure bf16: no fp32 master weights), "
        "or fp32.", PRECISIONS),
    Opt("seq_len", int, 512, "Max tokens per sequence (the packed length with --packing)."),
    Opt("micro_batch", int, 1, "Sequences per GPU per forward/backward."),
    Opt("grad_accum", int, 1, "Gradient accumulation steps."),
    Opt("grad_ckpt", bool, None, "Gradient (activation) checkpointing (default: the framework's, else on)."),
    Opt("optimizer", str, "adamw", "Optimizer.", OPTIMIZERS),
    Opt("lora_r", int, 16, "LoRA rank."),
    Opt("lora_targets", str, "q_proj,k_proj,v_proj,o_proj", "Comma-separated LoRA target modules, or all-linear."),
    Opt("lora_dropout", float, None, "LoRA dropout (default: the framework's, else 0.05); above 0 each adapted "
        "module keeps a copy of its input for backward."),
    Opt("use_dora", bool, False, "DoRA (weight-decomposed LoRA): lora/qlora adapters plus a trained magnitude per "
        "output feature; each step also recomputes every adapted weight's norm.", flags=("--dora", "--use-dora")),
    Opt("zero_stage", int, None, "ZeRO stage 0-3 over --num-gpus (3 = FSDP full shard; default: the framework's, "
        "else 0)."),
    Opt("cpu_offload", bool, False, "Offload optimizer states (and params under ZeRO-3) to CPU."),
    Opt("dataset_size", int, 10_000, "Training samples."),
    Opt("tokens_per_sample", float, 500.0, "Mean tokens per sample."),
    Opt("epochs", float, 3.0, "Epochs."),
    Opt("packing", bool, None, "Pack samples into full sequences, no padding (default: the framework's, else on)."),
    Opt("dataset", str, None, "A JSONL/CSV/Parquet file: count its real tokens (the model's tokenizer when cached, "
        "else 4 characters per token), streamed in constant memory.", metavar="FILE"),
    Opt("dataset_sample", int, None, "With --dataset: count a seeded random sample of N rows (fast on big files; "
        "the sampling error is stated).", flags=("--sample",), metavar="N", min=1),
]
# The training stack (estimate/stack.py): None = the framework's documented default, else the tool's.
STACK_OPTIONS = [
    Opt("framework", str, None, "Apply this framework's documented defaults (precision, checkpointing, loss, ...); "
        "each flag you give overrides them.", FRAMEWORKS),
    Opt("loss", str, None, "Loss: hf (full logits), chunked (logits one chunk at a time), fused (fused linear "
        "cross-entropy, no full logits).", LOSSES),
    Opt("kernels", str, None, "Fused kernels: hf (none), liger, unsloth, te (Transformer Engine).", KERNELS),
    Opt("attention", str, None, "Attention: eager (keeps the s x s softmax), sdpa (PyTorch's flash "
        "kernel, causal), sdpa-masked (SDPA given a padding mask: the memory-efficient kernel over the whole s x s), "
        "flash; unset, sdpa means sdpa-masked where the framework pads micro-batches of several sequences.",
        ATTENTIONS),
    Opt("activation_offload", bool, None, "Offload saved activations to CPU memory."),
    Opt("optimizer_in_backward", bool, None, "Run the optimizer step inside backward (no full gradient buffer)."),
    Opt("compile", bool, None, "torch.compile the model."),
    Opt("fp8", bool, None, "FP8 linears (Hopper, Ada, Blackwell)."),
    Opt("tensor_parallel", int, 1, "Tensor-parallel degree: weights and activations split over this many of "
        "--num-gpus.", min=1),
    Opt("pipeline_parallel", int, 1, "Pipeline-parallel stages: the layers split over this many groups of GPUs "
        "(1F1B schedule; --grad-accum micro-batches per pipeline flush set the bubble).", min=1),
    Opt("virtual_pipeline", int, 1, "Model chunks per pipeline stage (interleaved 1F1B): a smaller bubble, more "
        "stage-to-stage traffic.", min=1),
    Opt("context_parallel", int, 1, "Context-parallel degree: each sequence split over this many GPUs (ring "
        "attention exchanges keys and values).", min=1),
]
JOB_OPTIONS = JOB_OPTIONS + STACK_OPTIONS
DATA_FORMAT = Opt("data_format", str, None, "The dataset's format (default: detected from its columns: messages, "
                  "instruction + output, text + label, prompt + completion).",
                  ("alpaca", "chat", "completion", "classification", "auto"))
COMMON_OPTIONS = [CATALOG, JSON]
ESTIMATE_OPTIONS = HARDWARE_OPTIONS + JOB_OPTIONS + [DATA_FORMAT] + COMMON_OPTIONS + [FORMAT]


def check_choices(kwargs: dict, options: list[Opt]) -> None:
    """Reject a value outside an option's choices with a one-line ConfigError naming the flag (for API callers;
    the CLI parser checks the same while parsing)."""
    for o in options:
        value = kwargs.get(o.dest)
        if o.choices and value is not None and value not in o.choices:
            raise not_a_choice(o, value)


def not_a_choice(o: Opt, value: str):
    from frugaltune.errors import ConfigError, closest, did_you_mean

    suggestion = (closest(value, o.choices, 1) or [o.choices[0]])[0]
    return ConfigError(f"{o.flag} {value!r} is not one of {', '.join(o.choices)}.{did_you_mean(value, o.choices)}",
                       fix=f"use {o.flag} {suggestion}")
