"""Planner commands: compare, impact, recommend, plan, budget, buy-vs-rent. Each is a thin layer over
frugaltune.plan; job flags come from cli/options.py (the same names as `frugaltune estimate`). rich, yaml and
pydantic are imported inside the commands, so start-up stays fast.

Exit codes: 0 ok, 2 bad input, 3 nothing meets the constraints (the message says what would).
"""

import json
from pathlib import Path
from typing import List, Optional

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


def _split(values: Optional[List[str]]) -> list[str]:
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def _catalog(kwargs: dict):
    from frugaltune.api import get_catalog

    cat = kwargs.get("catalog")
    return get_catalog([cat] if cat else None)


def _job(kwargs: dict, catalog, drop: tuple[str, ...] = ()):
    """The Job from the shared job flags (same names and checks as `frugaltune estimate`)."""
    from frugaltune.api import build_job

    kw = {k: v for k, v in kwargs.items() if k not in ("catalog", "json_out", "model", "dataset") + drop}
    check_choices(kw, JOB_OPTIONS + HARDWARE_OPTIONS)
    kw = {k: v for k, v in kw.items() if k not in ("gpu", "platform", "pricing")}
    return build_job(kwargs["model"], catalog, kwargs.get("dataset"), **kw)


def _filters(catalog, gpu, platform, spot, max_gpus, max_hours=None, budget_usd=None, include_anomalies=False):
    from frugaltune.plan.search import Filters

    pricings = ("on-demand", "spot") if spot is None else (("spot",) if spot else ("on-demand",))
    return Filters(platforms=tuple(catalog.platform(p) for p in _split(platform)),
                   gpus=tuple(catalog.gpu(g).name for g in _split(gpu)), max_gpus=max_gpus, pricings=pricings,
                   max_hours=max_hours, budget_usd=budget_usd, include_anomalies=include_anomalies)


def _print_json(obj: dict) -> None:
    print(json.dumps(obj, indent=2, default=str))


def compare_command(
    *, gpu: Optional[List[str]] = GpuOpt, platform: Optional[List[str]] = PlatformOpt,
    max_gpus: int = MaxGpusOpt, spot: Optional[bool] = SpotOpt,
    max_hours: Optional[float] = typer.Option(None, "--max-hours", help="Deadline: most expected wall hours."),
    budget_usd: Optional[float] = BudgetOpt,
    sort: str = typer.Option("cost", "--sort", help="Rank by expected total cost or by expected time: cost or time."),
    strict_precision: bool = typer.Option(False, "--strict-precision", help="Reject GPUs without bf16 for a bf16 "
                                          "job instead of estimating them in fp16."),
    include_anomalies: bool = typer.Option(False, "--include-anomalies", help="Keep offers the catalog flags."),
    interruptions_per_hour: Optional[float] = RateOpt,
    top: int = typer.Option(20, "--top", help="Rows shown in the table (0: all). JSON always has all."),
    show_rejected: bool = typer.Option(False, "--show-rejected", help="List every rejected option with its reason."),
    **kwargs,
) -> None:
    """Compare one job across every GPU x count x platform x pricing in the catalog: ranked, cheapest and fastest
    marked, the cost/time Pareto front marked, and every rejected option with its reason. Spot options are ranked
    by expected cost including interruptions (checkpoint interval by Young-Daly, rework, restarts)."""
    from frugaltune.errors import ConfigError
    from frugaltune.estimate.spot import spot_overrides
    from frugaltune.plan.advice import require_options
    from frugaltune.plan.search import SORT_KEYS, compare_job

    if sort not in SORT_KEYS:
        raise ConfigError(f"--sort {sort!r} is not one of {', '.join(SORT_KEYS)}.", fix="use --sort cost or --sort time")
    catalog = _catalog(kwargs)
    job = _job(kwargs, catalog)
    flt = _filters(catalog, gpu, platform, spot, max_gpus, max_hours, budget_usd, include_anomalies)
    with spot_overrides(interruptions_per_hour=interruptions_per_hour):
        cmp = compare_job(job, catalog, flt, sort=sort, strict_precision=strict_precision)
        require_options(cmp, catalog, flt)
    if kwargs.get("json_out"):
        _print_json(cmp.to_json())
        return
    from frugaltune.plan.render import render_comparison

    render_comparison(cmp, top=top, show_rejected=show_rejected)


def impact_command(
    *, vary: Optional[str] = typer.Option(None, "--vary", help="Comma-separated axes to vary (default all): "
                                          "method, precision, grad_ckpt, packing, optimizer; the others keep the "
                                          "job's values."),
    interruptions_per_hour: Optional[float] = RateOpt, **kwargs,
) -> None:
    """The optimization-impact table for one model on one GPU: every combination of method, precision, gradient
    checkpointing, packing and optimizer, with peak memory, fit, tokens/s, hours, dollars and the change against
    the no-optimization baseline (full, fp32, no checkpointing, no packing, AdamW)."""
    from frugaltune.api import build_hardware
    from frugaltune.estimate.spot import spot_overrides
    from frugaltune.plan.impact import select_axes, impact_table

    axes = select_axes(_split([vary] if vary else None))
    catalog = _catalog(kwargs)
    job = _job(kwargs, catalog)
    hw = build_hardware(kwargs["gpu"], kwargs.get("platform"), kwargs["pricing"], kwargs["num_gpus"], catalog)
    with spot_overrides(interruptions_per_hour=interruptions_per_hour):
        imp = impact_table(job, hw, catalog, axes=axes)
    if kwargs.get("json_out"):
        _print_json(imp.to_json())
        return
    from frugaltune.plan.render import render_impact

    render_impact(imp, f"{hw.num_gpus}x {hw.gpu.name}" + (f" on {hw.offer.platform}" if hw.offer else ""))


app.command("compare")(with_options(compare_command, JOB_FLAGS))
app.command("impact")(with_options(impact_command, IMPACT_FLAGS))


OwnGpuOpt = typer.Option(None, "--gpu", help="The GPU you have or insist on (default: any GPU in the catalog).")
NumGpusOpt = typer.Option(1, "--num-gpus", help="How many of --gpu you have.")
ShiftOpt = typer.Option("small", "--domain-shift", help="How far your data is from the model's pre-training: "
                        "small or large (large favours full fine-tuning).")
AlignOpt = typer.Option(False, "--alignment/--no-alignment", help="Preference alignment needed (DPO after SFT).")
BatchOpt = typer.Option(16, "--target-batch", help="Target global batch in sequences (grad accumulation reaches it).")
MarginOpt = typer.Option(0.10, "--safety-margin", help="Fraction of GPU memory kept free.")


def _recommend(kwargs: dict, *, gpu, num_gpus, budget_usd, domain_shift, alignment, platform, spot, max_gpus,
               target_batch, safety_margin, interruptions_per_hour):
    from frugaltune.errors import ConfigError
    from frugaltune.estimate.spot import spot_overrides
    from frugaltune.plan.method import DOMAIN_SHIFTS, Situation
    from frugaltune.plan.recommend import recommend

    if domain_shift not in DOMAIN_SHIFTS:
        raise ConfigError(f"--domain-shift {domain_shift!r} is not one of {', '.join(DOMAIN_SHIFTS)}.",
                          fix="use --domain-shift small or --domain-shift large")
    if not 0 <= safety_margin < 1:
        raise ConfigError(f"--safety-margin {safety_margin} must be in [0, 1).", fix="use e.g. --safety-margin 0.1")
    catalog = _catalog(kwargs)
    job = _job(kwargs, catalog)
    flt = _filters(catalog, None, platform, spot, max_gpus)
    sit = Situation(budget_usd=budget_usd, gpu=catalog.gpu(gpu).name if gpu else None, num_gpus=num_gpus,
                    domain_shift=domain_shift, alignment=alignment, max_gpus=max_gpus, pricings=flt.pricings,
                    platforms=flt.platforms)
    with spot_overrides(interruptions_per_hour=interruptions_per_hour):
        return recommend(job, sit, catalog, target_global_batch=target_batch, safety_margin=safety_margin), catalog


def recommend_command(
    *, gpu: Optional[str] = OwnGpuOpt, num_gpus: int = NumGpusOpt, budget_usd: Optional[float] = BudgetOpt,
    domain_shift: str = ShiftOpt, alignment: bool = AlignOpt, platform: Optional[List[str]] = PlatformOpt,
    spot: Optional[bool] = SpotOpt, max_gpus: int = MaxGpusOpt, target_batch: int = BatchOpt,
    safety_margin: float = MarginOpt, interruptions_per_hour: Optional[float] = RateOpt, **kwargs,
) -> None:
    """Recommend a method from your situation (budget, GPU memory, domain shift, alignment, data size) following the
    seeds' decision flow, explain why, print the trade-off matrix, and pick settings that fit with a safety margin:
    micro-batch, gradient accumulation to the target batch, gradient checkpointing, optimizer, precision, LoRA
    rank/targets and ZeRO stage."""
    rec, _ = _recommend(kwargs, gpu=gpu, num_gpus=num_gpus, budget_usd=budget_usd, domain_shift=domain_shift,
                        alignment=alignment, platform=platform, spot=spot, max_gpus=max_gpus,
                        target_batch=target_batch, safety_margin=safety_margin,
                        interruptions_per_hour=interruptions_per_hour)
    if kwargs.get("json_out"):
        _print_json(rec.to_json())
        return
    from frugaltune.plan.render import render_recommendation

    render_recommendation(rec)


def plan_command(
    *, output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the training config (RunConfig "
                                             "YAML) here; default: print it."),
    output_dir: Optional[str] = typer.Option(None, "--output-dir", help="The run directory written into the "
                                             "config (default runs/<model>-<method>)."),
    data_format: str = typer.Option("completion", "--data-format", help="alpaca, chat, completion or "
                                    "classification (see `frugaltune schema`)."),
    gpu: Optional[str] = OwnGpuOpt, num_gpus: int = NumGpusOpt, budget_usd: Optional[float] = BudgetOpt,
    domain_shift: str = ShiftOpt, alignment: bool = AlignOpt, platform: Optional[List[str]] = PlatformOpt,
    spot: Optional[bool] = SpotOpt, max_gpus: int = MaxGpusOpt, target_batch: int = BatchOpt,
    safety_margin: float = MarginOpt, interruptions_per_hour: Optional[float] = RateOpt, **kwargs,
) -> None:
    """Plan a run end to end (method, hardware, settings that fit) and write it as a `frugaltune train` config.
    Under spot pricing the config checkpoints at the Young-Daly interval."""
    from frugaltune.plan.runconfig import header, to_run_config

    rec, catalog = _recommend(kwargs, gpu=gpu, num_gpus=num_gpus, budget_usd=budget_usd, domain_shift=domain_shift,
                              alignment=alignment, platform=platform, spot=spot, max_gpus=max_gpus,
                              target_batch=target_batch, safety_margin=safety_margin,
                              interruptions_per_hour=interruptions_per_hour)
    arch = rec.job.model
    model_source = kwargs["model"] if Path(kwargs["model"]).exists() else (arch.hf_id or arch.name)
    cfg = to_run_config(rec, model_source=model_source, data_path=kwargs.get("dataset") or "data/train.jsonl",
                        output_dir=output_dir or f"runs/{arch.name}-{rec.job.method}", data_format=data_format)
    text = cfg.to_yaml(header=header(rec, str(output or "run.yaml")))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text)
    if kwargs.get("json_out"):
        _print_json({**rec.to_json(), "config": cfg.model_dump(mode="json"),
                     "written_to": str(output) if output else None})
        return
    from frugaltune.plan.render import render_recommendation

    render_recommendation(rec)
    print(f"wrote {output}" if output else text)


def budget_command(
    file: Path = typer.Argument(..., help="Budget YAML: months, job, phases (see examples/budget.yaml)."),
    catalog: Optional[str] = typer.Option(None, "--catalog", help="Extra catalog directory."),
    interruptions_per_hour: Optional[float] = RateOpt,
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Price months of work from a YAML of phases (experiments, training runs, re-training cadence, evaluation,
    storage): totals per month and per phase, the cheapest platform per phase, and the saving from spot and QLoRA."""
    from frugaltune.api import JOB_DEFAULTS
    from frugaltune.estimate.spot import spot_overrides
    from frugaltune.plan.budget import load_budget
    from frugaltune.plan.budget_price import price_budget

    spec = load_budget(file, tuple(JOB_DEFAULTS) + ("model",))
    cat = _catalog({"catalog": catalog or (spec.catalog_dirs[0] if spec.catalog_dirs else None)})
    with spot_overrides(interruptions_per_hour=interruptions_per_hour):
        res = price_budget(spec, cat)
    if json_out:
        _print_json(res.to_json())
        return
    from frugaltune.plan.render import render_budget

    render_budget(res)


def buy_vs_rent_command(
    *, gpu: str = typer.Option("rtx-4090", "--gpu", help="The GPU you would buy."),
    num_gpus: int = typer.Option(1, "--num-gpus", help="How many you would buy."),
    purchase_usd: Optional[float] = typer.Option(None, "--purchase-usd", help="Price per GPU (default: the "
                                                 "catalog's purchase price where it has one)."),
    power_watts: Optional[float] = typer.Option(None, "--power-watts", help="Draw per GPU under load (default: "
                                                "the catalog's TDP)."),
    host_watts: float = typer.Option(0.0, "--host-watts", help="Draw of the rest of the machine."),
    usd_per_kwh: float = typer.Option(..., "--usd-per-kwh", help="Your electricity tariff, USD per kWh."),
    years: float = typer.Option(3.0, "--depreciation-years", help="Straight-line depreciation period (your choice)."),
    resale_fraction: float = typer.Option(0.0, "--resale-fraction", help="Share of the price recovered at the end."),
    runs_per_month: float = typer.Option(4.0, "--runs-per-month", help="Training runs of the job per month."),
    spot: Optional[bool] = SpotOpt, interruptions_per_hour: Optional[float] = RateOpt, **kwargs,
) -> None:
    """Owned GPU vs the best cloud offer for the same monthly workload: monthly cost of each, break-even month,
    annual saving, and a note when the owned GPU cannot fit the job."""
    from frugaltune.errors import ConfigError
    from frugaltune.estimate.spot import spot_overrides
    from frugaltune.plan.buy_vs_rent import OwnedGpu, buy_vs_rent

    catalog = _catalog(kwargs)
    spec = catalog.gpu(gpu)
    purchase = purchase_usd if purchase_usd is not None else spec.price_usd
    watts = power_watts if power_watts is not None else spec.tdp_watts
    if purchase is None or watts is None:
        missing = [f for f, v in (("--purchase-usd", purchase), ("--power-watts", watts)) if v is None]
        raise ConfigError(f"the catalog has no {' or '.join(missing)} figure for {spec.name}.",
                          fix=f"pass {' and '.join(missing)} for the GPU you would buy.")
    owned = OwnedGpu(spec.name, purchase, watts, usd_per_kwh, num_gpus, host_watts, years, resale_fraction)
    job = _job(kwargs, catalog)
    with spot_overrides(interruptions_per_hour=interruptions_per_hour):
        res = buy_vs_rent(job, owned, runs_per_month, catalog, rent_filters=_filters(catalog, None, None, spot, 8))
    if purchase_usd is None or power_watts is None:
        res.notes.append(f"catalog figures used for {spec.name}: purchase ${purchase:,.0f}, {watts:g} W "
                         "(catalog gpus.csv; pass --purchase-usd / --power-watts for your own)")
    if kwargs.get("json_out"):
        _print_json(res.to_json())
        return
    from frugaltune.plan.render import render_buy_vs_rent

    render_buy_vs_rent(res)


app.command("recommend")(with_options(recommend_command, JOB_FLAGS))
app.command("plan")(with_options(plan_command, JOB_FLAGS))
app.command("budget")(budget_command)
app.command("buy-vs-rent")(with_options(buy_vs_rent_command, JOB_FLAGS))
