"""Planner commands: compare, impact, recommend, plan, budget, buy-vs-rent. Each is a thin layer over
frugaltune.plan.api; job flags come from cli/options.py (the same names as `frugaltune estimate`). rich, yaml and
pydantic are imported inside the commands, so start-up stays fast.

Exit codes: 0 ok, 2 bad input, 3 nothing meets the constraints (the message says what would).
"""

import json
from pathlib import Path

import typer

from frugaltune.cli.app import app
from frugaltune.cli.options import COMMON_OPTIONS, HARDWARE_OPTIONS, JOB_OPTIONS, check_choices, with_options

MODEL_OPTION = [o for o in HARDWARE_OPTIONS if o.dest == "model"]
JOB_FLAGS = MODEL_OPTION + JOB_OPTIONS + COMMON_OPTIONS
IMPACT_FLAGS = HARDWARE_OPTIONS + JOB_OPTIONS + COMMON_OPTIONS

GpuOpt = typer.Option(None, "--gpu", help="Only these GPUs (repeat, or comma-separate).")
PlatformOpt = typer.Option(None, "--platform", help="Only these platforms (repeat, or comma-separate).")
SpotOpt = typer.Option(None, "--spot/--no-spot", help="--spot: spot offers only; --no-spot: on-demand only; "
                       "default: both.")
RateOpt = typer.Option(None, "--interruptions-per-hour", help="Spot interruption rate, overriding the assumption "
                       "rows in spot_assumptions.csv (e.g. from your own logs).")
MaxGpusOpt = typer.Option(8, "--max-gpus", help="Most GPUs per option.")
BudgetOpt = typer.Option(None, "--budget-usd", help="Budget per training run, USD.")
OwnGpuOpt = typer.Option(None, "--gpu", help="The GPU you have or insist on (default: any GPU in the catalog).")
NumGpusOpt = typer.Option(1, "--num-gpus", help="How many of --gpu you have.")
ShiftOpt = typer.Option("small", "--domain-shift", help="How far your data is from the model's pre-training: "
                        "small or large (large favours full fine-tuning).")
AlignOpt = typer.Option(False, "--alignment/--no-alignment", help="Preference alignment needed (DPO after SFT).")
BatchOpt = typer.Option(16, "--target-batch", help="Target global batch in sequences (grad accumulation reaches it).")
MarginOpt = typer.Option(0.10, "--safety-margin", help="Fraction of GPU memory kept free.")
OutputOpt = typer.Option(None, "-o", "--output", help="Write the training config (RunConfig YAML) here; default: "
                         "print it.")
BudgetFileArg = typer.Argument(..., help="Budget YAML: months, job, phases (see examples/budget.yaml).")


def _api_kwargs(kwargs: dict, hardware: bool = False) -> dict:
    """The shared flags as frugaltune.plan.api keyword arguments (choices checked like `frugaltune estimate`)."""
    kw = dict(kwargs)
    kw.pop("json_out", None)
    catalog = kw.pop("catalog", None)
    check_choices(kw, JOB_OPTIONS + HARDWARE_OPTIONS)
    if not hardware:
        for key in ("gpu", "platform", "pricing", "num_gpus"):
            kw.pop(key, None)
    return {**kw, "catalog_dirs": [catalog] if catalog else None}


def _print_json(obj: dict) -> None:
    print(json.dumps(obj, indent=2, default=str))


def compare_command(
    *, gpu: list[str] | None = GpuOpt, platform: list[str] | None = PlatformOpt,
    max_gpus: int = MaxGpusOpt, spot: bool | None = SpotOpt,
    max_hours: float | None = typer.Option(None, "--max-hours", help="Deadline: most expected wall hours."),
    budget_usd: float | None = BudgetOpt,
    sort: str = typer.Option("cost", "--sort", help="Rank by expected total cost or by expected time: cost or time."),
    strict_precision: bool = typer.Option(False, "--strict-precision", help="Reject GPUs without bf16 for a bf16 "
                                          "job instead of estimating them in fp16."),
    include_anomalies: bool = typer.Option(False, "--include-anomalies", help="Keep offers the catalog flags."),
    include_gpu_only_prices: bool = typer.Option(False, "--include-gpu-only-prices", help="Keep GPU-only SKU "
                                                 "prices (GCP) whose host VM is billed on top."),
    interruptions_per_hour: float | None = RateOpt,
    top: int = typer.Option(20, "--top", help="Rows shown in the table (0: all). JSON always has all."),
    show_rejected: bool = typer.Option(False, "--show-rejected", help="List every rejected option with its reason."),
    **kwargs,
) -> None:
    """Compare one job across every GPU x count x platform x pricing in the catalog: ranked, cheapest and fastest
    marked, the cost/time Pareto front marked, and every rejected option with its reason. Spot options are ranked
    by expected cost including interruptions (checkpoint interval by Young-Daly, rework, restarts)."""
    from frugaltune.plan import api

    cmp = api.compare(gpu=gpu, platform=platform, max_gpus=max_gpus, spot=spot, max_hours=max_hours,
                      budget_usd=budget_usd, sort=sort, strict_precision=strict_precision,
                      include_anomalies=include_anomalies, include_gpu_only_prices=include_gpu_only_prices,
                      interruptions_per_hour=interruptions_per_hour,
                      **_api_kwargs(kwargs))
    if kwargs.get("json_out"):
        return _print_json(cmp.to_json())
    from frugaltune.plan.render import render_comparison

    render_comparison(cmp, top=top, show_rejected=show_rejected)


def impact_command(
    *, vary: str | None = typer.Option(None, "--vary", help="Comma-separated axes to vary (default all): "
                                          "method, precision, grad_ckpt, packing, optimizer; the others keep the "
                                          "job's values."),
    interruptions_per_hour: float | None = RateOpt, **kwargs,
) -> None:
    """The optimization-impact table for one model on one GPU: every combination of method, precision, gradient
    checkpointing, packing and optimizer, with peak memory, fit, tokens/s, hours, dollars and the change against
    the no-optimization baseline (full, fp32, no checkpointing, no packing, AdamW)."""
    from frugaltune.plan import api

    imp = api.impact(vary=vary, interruptions_per_hour=interruptions_per_hour, **_api_kwargs(kwargs, hardware=True))
    if kwargs.get("json_out"):
        return _print_json(imp.to_json())
    from frugaltune.plan.render import render_impact

    e = imp.rows[0].estimate
    render_impact(imp, f"{e.job.num_gpus}x {e.hardware.gpu}" + (f" on {e.hardware.platform}"
                                                                 if e.hardware.platform else ""))


def recommend_command(
    *, gpu: str | None = OwnGpuOpt, num_gpus: int = NumGpusOpt, budget_usd: float | None = BudgetOpt,
    domain_shift: str = ShiftOpt, alignment: bool = AlignOpt, platform: list[str] | None = PlatformOpt,
    spot: bool | None = SpotOpt, max_gpus: int = MaxGpusOpt, target_batch: int = BatchOpt,
    safety_margin: float = MarginOpt, interruptions_per_hour: float | None = RateOpt, **kwargs,
) -> None:
    """Recommend a method from your situation (budget, GPU memory, domain shift, alignment, data size) following the
    seeds' decision flow, explain why, print the trade-off matrix, and pick settings that fit with a safety margin:
    micro-batch, gradient accumulation to the target batch, gradient checkpointing, optimizer, precision, LoRA
    rank/targets and ZeRO stage."""
    from frugaltune.plan import api

    rec, _ = api.recommend(gpu=gpu, num_gpus=num_gpus, budget_usd=budget_usd, domain_shift=domain_shift,
                           alignment=alignment, platform=platform, spot=spot, max_gpus=max_gpus,
                           target_batch=target_batch, safety_margin=safety_margin,
                           interruptions_per_hour=interruptions_per_hour, **_api_kwargs(kwargs))
    if kwargs.get("json_out"):
        return _print_json(rec.to_json())
    from frugaltune.plan.render import render_recommendation

    render_recommendation(rec)


def plan_command(
    *, output: Path | None = OutputOpt,
    output_dir: str | None = typer.Option(None, "--output-dir", help="The run directory written into the "
                                             "config (default runs/<model>-<method>)."),
    data_format: str = typer.Option("completion", "--data-format", help="alpaca, chat, completion or "
                                    "classification (see `frugaltune schema`)."),
    gpu: str | None = OwnGpuOpt, num_gpus: int = NumGpusOpt, budget_usd: float | None = BudgetOpt,
    domain_shift: str = ShiftOpt, alignment: bool = AlignOpt, platform: list[str] | None = PlatformOpt,
    spot: bool | None = SpotOpt, max_gpus: int = MaxGpusOpt, target_batch: int = BatchOpt,
    safety_margin: float = MarginOpt, interruptions_per_hour: float | None = RateOpt, **kwargs,
) -> None:
    """Plan a run end to end (method, hardware, settings that fit) and write it as a `frugaltune train` config.
    Under spot pricing the config checkpoints at the Young-Daly interval."""
    from frugaltune.plan import api

    rec, cfg, text = api.plan(output=output, output_dir=output_dir, data_format=data_format, gpu=gpu,
                              num_gpus=num_gpus, budget_usd=budget_usd, domain_shift=domain_shift,
                              alignment=alignment, platform=platform, spot=spot, max_gpus=max_gpus,
                              target_batch=target_batch, safety_margin=safety_margin,
                              interruptions_per_hour=interruptions_per_hour, **_api_kwargs(kwargs))
    if kwargs.get("json_out"):
        return _print_json({**rec.to_json(), "config": cfg.model_dump(mode="json"),
                            "written_to": str(output) if output else None})
    from frugaltune.plan.render import render_recommendation

    render_recommendation(rec)
    print(f"wrote {output}" if output else text)


def budget_command(
    file: Path = BudgetFileArg,
    catalog: str | None = typer.Option(None, "--catalog", help="Extra catalog directory."),
    interruptions_per_hour: float | None = RateOpt,
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Price months of work from a YAML of phases (experiments, training runs, re-training cadence, evaluation,
    storage): totals per month and per phase, the cheapest platform per phase, and the saving from spot and QLoRA."""
    from frugaltune.plan import api

    res = api.budget(file, catalog_dirs=[catalog] if catalog else None, interruptions_per_hour=interruptions_per_hour)
    if json_out:
        return _print_json(res.to_json())
    from frugaltune.plan.render import render_budget

    render_budget(res)


def buy_vs_rent_command(
    *, gpu: str = typer.Option("rtx-5090", "--gpu", help="The GPU you would buy."),
    num_gpus: int = typer.Option(1, "--num-gpus", help="How many you would buy."),
    purchase_usd: float | None = typer.Option(None, "--purchase-usd", help="Price per GPU (default: the "
                                                 "catalog's purchase price where it has one)."),
    power_watts: float | None = typer.Option(None, "--power-watts", help="Draw per GPU under load (default: "
                                                "the catalog's TDP)."),
    host_watts: float = typer.Option(0.0, "--host-watts", help="Draw of the rest of the machine."),
    usd_per_kwh: float = typer.Option(..., "--usd-per-kwh", help="Your electricity tariff, USD per kWh."),
    years: float = typer.Option(3.0, "--depreciation-years", help="Straight-line depreciation period (your choice)."),
    resale_fraction: float = typer.Option(0.0, "--resale-fraction", help="Share of the price recovered at the end."),
    runs_per_month: float = typer.Option(4.0, "--runs-per-month", help="Training runs of the job per month."),
    spot: bool | None = SpotOpt, interruptions_per_hour: float | None = RateOpt, **kwargs,
) -> None:
    """Owned GPU vs the best cloud offer for the same monthly workload: monthly cost of each, break-even month,
    annual saving, and a note when the owned GPU cannot fit the job."""
    from frugaltune.plan import api

    res = api.buy_vs_rent(gpu=gpu, num_gpus=num_gpus, purchase_usd=purchase_usd, power_watts=power_watts,
                          host_watts=host_watts, usd_per_kwh=usd_per_kwh, years=years,
                          resale_fraction=resale_fraction, runs_per_month=runs_per_month, spot=spot,
                          interruptions_per_hour=interruptions_per_hour, **_api_kwargs(kwargs))
    if kwargs.get("json_out"):
        return _print_json(res.to_json())
    from frugaltune.plan.render import render_buy_vs_rent

    render_buy_vs_rent(res)


app.command("compare")(with_options(compare_command, JOB_FLAGS))
app.command("impact")(with_options(impact_command, IMPACT_FLAGS))
app.command("recommend")(with_options(recommend_command, JOB_FLAGS))
app.command("plan")(with_options(plan_command, JOB_FLAGS))
app.command("budget")(budget_command)
app.command("buy-vs-rent")(with_options(buy_vs_rent_command, JOB_FLAGS))
