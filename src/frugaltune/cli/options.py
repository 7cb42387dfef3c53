"""One table of the job flags shared by `estimate`, `compare`, `impact`, `recommend`, `plan`, and the stdlib
argparse fast path of `estimate --json`. Stdlib only at import time (the Typer builder imports typer lazily)."""

from __future__ import annotations

from frugaltune.estimate.records import METHODS, OPTIMIZERS, PRECISIONS, PRICINGS
from frugaltune.record import record


@record(frozen=True)
class Opt:
    dest: str  # keyword name in frugaltune.estimate.build.estimate
    type: type
    default: object
    help: str
    choices: tuple[str, ...] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.dest.replace("_", "-")


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
    Opt("precision", str, "bf16", "bf16/fp16 mixed precision, bf16-true (pure bf16: no fp32 master weights), "
        "or fp32.", PRECISIONS),
    Opt("seq_len", int, 512, "Max tokens per sequence (the packed length with --packing)."),
    Opt("micro_batch", int, 1, "Sequences per GPU per forward/backward."),
    Opt("grad_accum", int, 1, "Gradient accumulation steps."),
    Opt("grad_ckpt", bool, True, "Gradient (activation) checkpointing."),
    Opt("optimizer", str, "adamw", "Optimizer.", OPTIMIZERS),
    Opt("lora_r", int, 16, "LoRA rank."),
    Opt("lora_targets", str, "q_proj,k_proj,v_proj,o_proj", "Comma-separated LoRA target modules, or all-linear."),
    Opt("zero_stage", int, 0, "ZeRO stage 0-3 over --num-gpus (3 = FSDP full shard)."),
    Opt("cpu_offload", bool, False, "Offload optimizer states (and params under ZeRO-3) to CPU."),
    Opt("dataset_size", int, 10_000, "Training samples."),
    Opt("tokens_per_sample", float, 500.0, "Mean tokens per sample."),
    Opt("epochs", float, 3.0, "Epochs."),
    Opt("packing", bool, True, "Pack samples into full sequences (no padding)."),
    Opt("dataset", str, None, "A JSONL/CSV file: count its real tokens (model tokenizer if cached, else chars/4)."),
]
COMMON_OPTIONS = [
    Opt("catalog", str, None, "Extra catalog directory (your own prices, GPUs, models)."),
    Opt("json_out", bool, False, "Print JSON instead of a table."),
]
ESTIMATE_OPTIONS = HARDWARE_OPTIONS + JOB_OPTIONS + COMMON_OPTIONS


def _typer_default(opt: Opt):
    import typer

    decls = [f"{opt.flag}/--no-{opt.flag[2:]}"] if opt.type is bool and opt.dest != "json_out" else [opt.flag]
    if opt.dest == "json_out":
        decls = ["--json"]
    help_text = opt.help + (f" [{'|'.join(opt.choices)}]" if opt.choices else "")
    return typer.Option(opt.default, *decls, help=help_text, show_default=opt.default is not None)


def with_options(func, options: list[Opt]):
    """Give `func(**kwargs)` a Typer-readable signature made of `options` (+ its own leading parameters)."""
    import inspect
    from typing import Optional

    own = [p for p in inspect.signature(func).parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
    params = own + [
        inspect.Parameter(o.dest, inspect.Parameter.KEYWORD_ONLY, default=_typer_default(o),
                          annotation=Optional[o.type] if o.default is None else o.type)
        for o in options
    ]
    func.__signature__ = inspect.Signature(params)
    func.__annotations__ = {p.name: p.annotation for p in params}
    return func


def check_choices(kwargs: dict, options: list[Opt]) -> None:
    """Reject a value outside an option's choices with a one-line ConfigError naming the flag."""
    from frugaltune.errors import ConfigError, did_you_mean

    for o in options:
        value = kwargs.get(o.dest)
        if o.choices and value is not None and value not in o.choices:
            raise ConfigError(f"{o.flag} {value!r} is not one of {', '.join(o.choices)}.{did_you_mean(value, o.choices)}",
                              fix=f"use {o.flag} {o.choices[0]}")


def add_to_argparse(parser, options: list[Opt]) -> None:
    """The same options on an argparse parser (the stdlib fast path)."""
    import argparse

    for o in options:
        if o.dest == "json_out":
            parser.add_argument("--json", dest="json_out", action="store_true")
        elif o.type is bool:
            parser.add_argument(o.flag, dest=o.dest, default=o.default, action=argparse.BooleanOptionalAction)
        else:
            parser.add_argument(o.flag, dest=o.dest, type=o.type, default=o.default)


def parse_simple(argv: list[str], options: list[Opt]) -> dict | None:
    """Parse `--flag value`, `--flag=value`, `--bool/--no-bool` and `--json` against `options` without argparse
    (which costs ~10 ms to import and set up). Returns None on anything unusual, so the caller falls back to
    argparse and its proper error messages."""
    by_flag = {o.flag: o for o in options}
    values = {o.dest: o.default for o in options}
    i = 0
    while i < len(argv):
        flag, _, inline = argv[i].partition("=")
        negated = flag.startswith("--no-") and f"--{flag[5:]}" in by_flag
        opt = by_flag.get(f"--{flag[5:]}" if negated else flag) or (by_flag.get("--json-out") if flag == "--json" else None)
        if opt is None:
            return None
        if opt.type is bool:
            if inline:
                return None
            values[opt.dest] = not negated
            i += 1
            continue
        if negated:
            return None
        raw = inline if inline else (argv[i + 1] if i + 1 < len(argv) else None)
        if raw is None or (not inline and raw.startswith("--")):
            return None
        try:
            values[opt.dest] = opt.type(raw)
        except ValueError:
            return None
        i += 1 if inline else 2
    return values
