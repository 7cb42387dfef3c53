"""Planner commands: compare, impact, recommend, plan, budget, buy-vs-rent. Each is a thin layer over
frugaltune.plan.api; job flags come from cli/options.py (the same names as `frugaltune estimate`). yaml and
pydantic are imported inside the handlers, so start-up stays fast.

Exit codes: 0 ok, 2 bad input, 3 nothing meets the constraints (the message says what would).
"""

from __future__ import annotations

import sys

from frugaltune.cli.commands import command
from frugaltune.cli.options import CATALOG, FORMAT, HARDWARE_OPTIONS, JOB_OPTIONS, JSON, Opt, check_choices, switch
from frugaltune.record import replace

DATA_FORMATS = ("auto", "alpaca", "chat", "completion", "classification")  # train/config.py DataConfig.format
DOMAIN_SHIFTS = ("small", "large")  # plan/method.py

MODEL = [o for o in HARDWARE_OPTIONS if o.dest == "model"]
JOB_FLAGS = MODEL + JOB_OPTIONS + [CATALOG, JSON, FORMAT]
# recommend / plan decide the method unless one is named
ADVICE_JOB_FLAGS = [replace(o, default=None, help=o.help.rstrip(".") + " (default: decided from your situation).")
                    if o.dest == "method" else o for o in JOB_FLAGS]
SPOT = Opt("spot", bool, None, "--spot: spot offers only; --no-spot: on-demand only; default: both.")
RATE = Opt("interruptions_per_hour", float, None, "Spot interruption rate, overriding the catalog's assumption "
           "(e.g. from your own logs).")
MAX_GPUS = Opt("max_gpus", int, 8, "Most GPUs per option.")
BUDGET = Opt("budget_usd", float, None, "Budget per training run, USD.")
PLATFORMS = Opt("platform", str, None, "Only these platforms (repeat, or comma-separate).", multiple=True)
SITUATION = [  # recommend / plan: what the user has and needs
    Opt("gpu", str, None, "The GPU you have: settings are fitted to it and nothing is priced (default: search "
        "every rented offer)."),
    Opt("num_gpus", int, 1, "How many of --gpu you have."),
    Opt("rent", bool, False, "With --gpu: rent it instead (search the offers of that GPU, up to --max-gpus)."),
    Opt("gpu_memory_gb", float, None, "Memory per GPU you have, in GB, when your GPU is not in the catalog "
        "(plans for the catalog GPU of that size with the least compute: a conservative stand-in)."),
    BUDGET,
    Opt("domain_shift", str, "small", "How far your data is from the model's pre-training (large favours full "
        "fine-tuning).", DOMAIN_SHIFTS),
    Opt("alignment", bool, False, "Preference alignment needed (DPO after SFT)."),
    PLATFORMS, SPOT, MAX_GPUS,
    Opt("target_batch", int, 16, "Target global batch in sequences (grad accumulation reaches it)."),
    Opt("safety_margin", float, 0.10, "Fraction of GPU memory kept free."),
    RATE,
]
COMPARE = [
    Opt("gpu", str, None, "Only these GPUs (repeat, or comma-separate).", multiple=True),
    PLATFORMS, MAX_GPUS, SPOT,
    Opt("max_hours", float, None, "Deadline: most expected wall hours."),
    BUDGET,
    Opt("sort", str, "cost", "Rank by expected total cost or by expected time.", ("cost", "time")),
    Opt("strict_precision", bool, False, "Reject GPUs without bf16 for a bf16 job instead of estimating them in fp16."),
    Opt("include_anomalies", bool, False, "Keep offers the catalog flags."),
    Opt("include_gpu_only_prices", bool, False, "Keep GPU-only SKU prices (GCP) whose host VM is billed on top."),
    RATE,
    Opt("top", int, 20, "Rows shown in the table (0: all). JSON always has all.", min=0),
    Opt("show_rejected", bool, False, "List every rejected option with its reason."),
]
IMPACT = [Opt("vary", str, None, "Comma-separated axes to vary (default all): method, precision, grad_ckpt, packing, "
              "optimizer; the others keep the job's values."), RATE]
PLAN = [
    Opt("output", str, None, "Write the training config (run YAML) here; default: print it.", flags=("-o", "--output"),
        metavar="FILE"),
    Opt("output_dir", str, None, "The run directory written into the config (default runs/<model>-<method>).",
        metavar="DIR"),
    Opt("data_format", str, None, "The dataset's format written into the config (default: detected from --dataset's "
        "columns, else auto: the trainer detects it).", DATA_FORMATS),
]
BUY_VS_RENT = [
    Opt("gpu", str, "rtx-5090", "The GPU you would buy."),
    Opt("num_gpus", int, 1, "How many you would buy."),
    Opt("purchase_usd", float, None, "Price per GPU (default: the catalog's purchase price where it has one)."),
    Opt("power_watts", float, None, "Draw per GPU under load (default: the catalog's TDP)."),
    Opt("host_watts", float, 0.0, "Draw of the rest of the machine."),
    Opt("usd_per_kwh", float, None, "Your electricity tariff, USD per kWh.", required=True),
    Opt("years", float, 3.0, "Straight-line depreciation period (your choice).", flags=("--depreciation-years",)),
    Opt("resale_fraction", float, 0.0, "Share of the price recovered at the end."),
    Opt("runs_per_month", float, None, "Training runs of the job per month (default 4)."),
    Opt("hours_per_month", float, None, "Or: hours of GPU use per month (instead of runs of the job)."),
    SPOT, RATE,
]
BUDGET_OPTIONS = [Opt("file", str, None, "Budget YAML: months, job, phases (`--example` prints one).",
                      positional=True, metavar="FILE"),
                  switch("example", "Print a complete example budget YAML (every kind of phase) and exit."),
                  CATALOG, RATE, JSON, FORMAT]


def _api_kwargs(values: dict, hardware: bool = False) -> dict:
    """The shared job flags as frugaltune.plan.api keyword arguments."""
    kw = {o.dest: values[o.dest] for o in (HARDWARE_OPTIONS if hardware else MODEL) + JOB_OPTIONS if o.dest in values}
    check_choices(kw, JOB_OPTIONS + HARDWARE_OPTIONS)
    return {**kw, "catalog_dirs": [values["catalog"]] if values.get("catalog") else None}


def _own(values: dict, options: list[Opt]) -> dict:
    """The command's own flags (not the shared job flags) as keyword arguments."""
    return {o.dest: values[o.dest] for o in options}


def _print_json(obj: dict) -> None:
    import json

    print(json.dumps(obj, indent=2, default=str))


def _format(values: dict) -> str:
    """--format, with --json meaning --format json."""
    return "json" if values.get("json_out") else values.get("format", "table")


@command("compare", COMPARE + JOB_FLAGS)
def compare_command(**values) -> None:
    """Compare one job across every GPU x count x platform x pricing in the catalog: ranked, cheapest and fastest
    marked, the cost/time Pareto front marked, and every rejected option with its reason. Spot options are ranked
    by expected cost including interruptions (checkpoint interval by Young-Daly, rework, restarts)."""
    from frugaltune.plan import api

    own = _own(values, COMPARE)
    top, show_rejected = own.pop("top"), own.pop("show_rejected")
    cmp = api.compare(**own, **_api_kwargs(values))
    if _format(values) == "json":
        return _print_json(cmp.to_json())
    from frugaltune.plan.render import render_comparison

    render_comparison(cmp, top=top, show_rejected=show_rejected, fmt=_format(values))


@command("impact", IMPACT + HARDWARE_OPTIONS + JOB_OPTIONS + [CATALOG, JSON, FORMAT])
def impact_command(**values) -> None:
    """The optimization-impact table for one model on one GPU: every combination of method, precision, gradient
    checkpointing, packing and optimizer, with peak memory, fit, tokens/s, hours, dollars and the change against
    the no-optimization baseline (full, fp32, no checkpointing, no packing, AdamW)."""
    from frugaltune.plan import api

    imp = api.impact(**_own(values, IMPACT), **_api_kwargs(values, hardware=True))
    if _format(values) == "json":
        return _print_json(imp.to_json())
    from frugaltune.plan.render import render_impact

    e = imp.rows[0].estimate
    render_impact(imp, f"{e.job.num_gpus}x {e.hardware.gpu}" + (f" on {e.hardware.platform}"
                                                                 if e.hardware.platform else ""), _format(values))


@command("recommend", SITUATION + ADVICE_JOB_FLAGS)
def recommend_command(**values) -> None:
    """Recommend a method from your situation (budget, GPU memory, domain shift, alignment, data size), explain why,
    print the trade-off matrix, and pick settings that fit with a safety margin: micro-batch, gradient accumulation
    to the target batch, gradient checkpointing, optimizer, precision, LoRA rank/targets and ZeRO stage."""
    from frugaltune.plan import api

    rec = api.recommend(**_own(values, SITUATION), **_api_kwargs(values))
    if _format(values) == "json":
        return _print_json(rec.to_json())
    from frugaltune.plan.render import render_recommendation

    render_recommendation(rec, _format(values))


@command("plan", PLAN + SITUATION + ADVICE_JOB_FLAGS)
def plan_command(**values) -> None:
    """Plan a run end to end (method, hardware, settings that fit) and write it as a `frugaltune train` config.
    Under spot pricing the config checkpoints at the Young-Daly interval."""
    from frugaltune.plan import api

    output = values["output"]
    planned = api.plan(**_own(values, PLAN + SITUATION), **_api_kwargs(values))
    fmt = _format(values)
    if fmt == "json":
        return _print_json(planned.to_json())
    from frugaltune.plan.render import render_recommendation

    render_recommendation(planned.recommendation, fmt)
    if values["dataset"] and values["data_format"] in (None, "auto"):  # on stderr: stdout may be the YAML itself
        from frugaltune.data_format import detection_note

        print(detection_note(planned.config_data["data"]["format"], values["dataset"]), file=sys.stderr)
    if output:
        print(f"wrote {output} (check it: frugaltune train {output} --dry-run)",
              file=sys.stdout if fmt == "table" else sys.stderr)
    elif fmt == "table":
        print(planned.yaml)


@command("budget", BUDGET_OPTIONS)
def budget_command(file: str | None, example: bool, catalog: str | None, interruptions_per_hour: float | None,
                   json_out: bool, format: str) -> None:
    """Price months of work from a YAML of phases (experiments, training runs, re-training cadence, evaluation,
    storage): totals per month and per phase, the cheapest platform per phase, and the saving from spot and QLoRA."""
    from frugaltune.plan import api, budget

    if example:
        return print(budget.example_yaml(), end="")
    if file is None:
        from frugaltune.cli.parse import UsageError

        raise UsageError("missing argument FILE: the budget YAML to price.", fix=budget.EXAMPLE_FIX + ".")
    res = api.budget(file, catalog_dirs=[catalog] if catalog else None, interruptions_per_hour=interruptions_per_hour)
    fmt = _format({"json_out": json_out, "format": format})
    if fmt == "json":
        return _print_json(res.to_json())
    from frugaltune.plan.render import render_budget

    render_budget(res, fmt)


@command("buy-vs-rent", BUY_VS_RENT + JOB_FLAGS)
def buy_vs_rent_command(**values) -> None:
    """Owned GPU vs renting the same GPU for the same monthly workload (runs of the job, or hours of use): monthly
    cost of each, the break-even month ("never" past the GPU's useful life), annual saving, and a note when the owned
    GPU cannot fit the job."""
    from frugaltune.plan import api

    res = api.buy_vs_rent(**_own(values, BUY_VS_RENT), **_api_kwargs(values))
    if _format(values) == "json":
        return _print_json(res.to_json())
    from frugaltune.plan.render import render_buy_vs_rent

    render_buy_vs_rent(res, _format(values))
