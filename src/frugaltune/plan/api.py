"""The planner's Python API: keyword arguments named like the CLI flags (job keys as in `frugaltune estimate`).

    from frugaltune.plan.api import compare
    cmp = compare(model="llama-2-7b", method="lora", gpu=["a10", "t4"], platform=["lambda", "modal"], max_gpus=1)
    cmp.to_json()["candidates"][0]["cost_breakdown"]["total_cost"]

Each function raises InfeasiblePlanError (with what would work instead) when nothing meets the constraints,
ConfigError / CatalogError for bad input.
"""

from __future__ import annotations

TYPE_CHECKING = False  # collections.abc and pathlib (re, enum, urllib) cost every planner command start-up time
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

from frugaltune.checks import MAX_GPUS, Limit, check_optional, writable_file
from frugaltune.estimate.steps import DEFAULT_EVAL_FRACTION, train_rows

# The planner's own numeric arguments (the job's are Job's, estimate/records.py): hard ranges, checked on entry.
PLAN_LIMITS = {
    "max_gpus": Limit(1, MAX_GPUS, integer=True, example=8),
    "num_gpus": Limit(1, MAX_GPUS, integer=True, example=1),
    "max_hours": Limit(0, 1e6, lo_open=True, example=24, why="over a century"),
    "budget_usd": Limit(0, 1e9, lo_open=True, example=500),
    "interruptions_per_hour": Limit(0, 60, example=0.1, why="more than one a minute: nothing could run"),
    "target_batch": Limit(1, 10_000_000, integer=True, example=16),
    "safety_margin": Limit(0, 0.9, example=0.1, why="nothing would be left to train in"),
    "usd_per_kwh": Limit(0, 10, lo_open=True, example=0.15, why="no electricity tariff is that high"),
    "purchase_usd": Limit(0, 10_000_000, lo_open=True, example=2000),
    "power_watts": Limit(0, 100_000, lo_open=True, example=450, why="no GPU draws that much"),
    "host_watts": Limit(0, 1_000_000, example=200),
    "years": Limit(0.1, 50, example=3),  # depreciation over less than ~a month is not owning
    "resale_fraction": Limit(0, 0.99, example=0.3),
    "runs_per_month": Limit(0.01, 100_000, example=4),  # 0.01: one run in eight years
    "hours_per_month": Limit(0.01, 744, example=40, why="a month has at most 744 hours"),
    "gpu_memory_gb": Limit(0, 10_000, lo_open=True, example=24, why="no GPU has that much"),
}
FLAG_NAMES = {"years": "--depreciation-years"}


def check_numbers(**values) -> None:
    """Each planner argument finite and within PLAN_LIMITS (None: not given); a ConfigError names its flag."""
    for name, value in values.items():
        check_optional(value, FLAG_NAMES.get(name, "--" + name.replace("_", "-")), PLAN_LIMITS[name])


def _catalog(catalog_dirs):
    from frugaltune.estimate.build import get_catalog

    return get_catalog(catalog_dirs)


def _names(values: str | Sequence[str] | None) -> list[str]:
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    return [v.strip() for item in items for v in item.split(",") if v.strip()]


def filters(catalog, *, gpu=None, platform=None, max_gpus: int = 8, spot: bool | None = None,
            max_hours: float | None = None, budget_usd: float | None = None, include_anomalies: bool = False,
            include_gpu_only_prices: bool = False):
    """Filters from CLI-style values: names are forgiving ('a10', 'Lambda Labs'); spot None = both pricings,
    True = spot only, False = on-demand only."""
    from frugaltune.plan.search import Filters

    pricings = ("on-demand", "spot") if spot is None else (("spot",) if spot else ("on-demand",))
    return Filters(platforms=tuple(catalog.platform(p) for p in _names(platform)),
                   gpus=tuple(catalog.gpu(g).name for g in _names(gpu)), max_gpus=max_gpus, pricings=pricings,
                   max_hours=max_hours, budget_usd=budget_usd, include_anomalies=include_anomalies,
                   include_gpu_only_prices=include_gpu_only_prices)


def compare(model: str = "llama-2-7b", *, gpu=None, platform=None, max_gpus: int = 8, spot: bool | None = None,
            max_hours: float | None = None, budget_usd: float | None = None, sort: str = "cost",
            strict_precision: bool = False, include_anomalies: bool = False, include_gpu_only_prices: bool = False,
            interruptions_per_hour: float | None = None, dataset: str | Path | None = None, catalog_dirs=None,
            **job_kwargs):
    """Every GPU x count x platform x pricing option for one job, ranked (see plan/search.py).

    Returns:
        A Comparison with at least one ranked option; `.to_json()` is `frugaltune compare --json`.
    Raises:
        InfeasiblePlanError: nothing matches the filters or nothing works (says what would).
    """
    from frugaltune.estimate.build import build_job
    from frugaltune.errors import ConfigError
    from frugaltune.estimate.spot import spot_overrides
    from frugaltune.plan.advice import require_options
    from frugaltune.plan.search import SORT_KEYS, compare_job

    if sort not in SORT_KEYS:
        raise ConfigError(f"--sort {sort!r} is not one of {', '.join(SORT_KEYS)}.", fix="use --sort cost or --sort time")
    check_numbers(max_gpus=max_gpus, max_hours=max_hours, budget_usd=budget_usd,
                  interruptions_per_hour=interruptions_per_hour)
    catalog = _catalog(catalog_dirs)
    job = build_job(model, catalog, dataset, **job_kwargs)
    flt = filters(catalog, gpu=gpu, platform=platform, max_gpus=max_gpus, spot=spot, max_hours=max_hours,
                  budget_usd=budget_usd, include_anomalies=include_anomalies,
                  include_gpu_only_prices=include_gpu_only_prices)
    with spot_overrides(interruptions_per_hour=interruptions_per_hour):
        cmp = compare_job(job, catalog, flt, sort=sort, strict_precision=strict_precision)
        return require_options(cmp, catalog, flt)


def impact(model: str = "llama-2-7b", *, gpu: str = "a100-80gb", platform: str | None = None,
           pricing: str = "on-demand", num_gpus: int = 1, vary: Sequence[str] | str | None = None,
           interruptions_per_hour: float | None = None, dataset: str | Path | None = None, catalog_dirs=None,
           **job_kwargs):
    """The optimization-impact table for one model on one GPU (see plan/impact.py)."""
    from frugaltune.estimate.build import build_hardware, build_job
    from frugaltune.estimate.spot import spot_overrides
    from frugaltune.plan.impact import impact_table, select_axes

    check_numbers(num_gpus=num_gpus, interruptions_per_hour=interruptions_per_hour)
    axes = select_axes(_names(vary))
    catalog = _catalog(catalog_dirs)
    job = build_job(model, catalog, dataset, num_gpus=num_gpus, **job_kwargs)
    hw = build_hardware(gpu, platform, pricing, num_gpus, catalog, job=job)  # no platform: cheapest billed total
    with spot_overrides(interruptions_per_hour=interruptions_per_hour):
        return impact_table(job, hw, catalog, axes=axes)


def _own_gpu(catalog, gpu: str | None, gpu_memory_gb: float | None) -> str | None:
    """The canonical name of the user's GPU: `gpu`, or the catalog GPU with `gpu_memory_gb` GB (within 1 GB) and
    the least bf16/fp16 compute, a stand-in that does not overstate its speed."""
    from frugaltune.errors import ConfigError

    if gpu_memory_gb is None:
        return catalog.gpu(gpu).name if gpu else None
    check_numbers(gpu_memory_gb=gpu_memory_gb)
    same = [g for g in catalog.gpus.values() if abs(g.memory_gb - gpu_memory_gb) <= 1.0]
    if gpu:
        spec = catalog.gpu(gpu)
        if abs(spec.memory_gb - gpu_memory_gb) > 1.0:
            raise ConfigError(f"--gpu {spec.name} has {spec.memory_gb:g} GB, not --gpu-memory-gb {gpu_memory_gb:g}.",
                              fix="give one of the two.")
        return spec.name
    if not same:
        sizes = ", ".join(f"{m:g}" for m in sorted({g.memory_gb for g in catalog.gpus.values()}))
        raise ConfigError(f"no GPU in the catalog has {gpu_memory_gb:g} GB (sizes: {sizes}).",
                          fix="name your GPU with --gpu, or add it to a user catalog's gpus.csv (--catalog DIR).")
    return min(same, key=lambda g: (g.bf16_tflops or g.fp16_tflops or 0.0, g.name)).name


def recommend(model: str = "llama-2-7b", *, gpu: str | None = None, num_gpus: int = 1, rent: bool = False,
              gpu_memory_gb: float | None = None, method: str | None = None, budget_usd: float | None = None,
              domain_shift: str = "small", alignment: bool = False, platform=None, spot: bool | None = None,
              max_gpus: int = 8, target_batch: int = 16, safety_margin: float = 0.10,
              interruptions_per_hour: float | None = None, dataset: str | Path | None = None,
              eval_fraction: float = DEFAULT_EVAL_FRACTION, catalog_dirs=None, **job_kwargs):
    """Method (QLoRA when memory or budget is tight, full fine-tuning for a large domain shift, else LoRA),
    hardware and settings that fit (see plan/recommend.py).

    `gpu` (with `num_gpus`) is the machine you have: everything is estimated on it, nothing is priced; `rent`
    searches rented offers of that GPU instead (without `gpu`, every offer in the catalog). `gpu_memory_gb` names
    your GPU by its memory when it is not in the catalog (see `_own_gpu`). `method` keeps the method you name;
    None lets the decision flow choose. With `dataset`, the job trains on the rows a run of the written config
    trains on: the file's rows less the `eval_fraction` it holds out for evaluation.

    Returns:
        A Recommendation (`.to_json()` is `frugaltune recommend --json`).
    """
    from frugaltune.estimate.build import build_job, check_dora
    from frugaltune.estimate.spot import spot_overrides
    from frugaltune.plan.method import Situation
    from frugaltune.plan.recommend import recommend as run_recommend

    _check_situation(domain_shift, method)
    check_dora(job_kwargs.get("use_dora"), method)
    check_numbers(num_gpus=num_gpus, budget_usd=budget_usd, max_gpus=max_gpus, target_batch=target_batch,
                  safety_margin=safety_margin, interruptions_per_hour=interruptions_per_hour)
    catalog = _catalog(catalog_dirs)
    job = build_job(model, catalog, dataset, **job_kwargs)
    if dataset is not None:
        job = job.with_(dataset_size=train_rows(job.dataset_size, eval_fraction))
    flt = filters(catalog, platform=platform, spot=spot, max_gpus=max_gpus)
    sit = Situation(budget_usd=budget_usd, gpu=_own_gpu(catalog, gpu, gpu_memory_gb), num_gpus=num_gpus,
                    domain_shift=domain_shift, alignment=alignment, max_gpus=max_gpus, pricings=flt.pricings,
                    platforms=flt.platforms, rent=rent, method=method)
    with spot_overrides(interruptions_per_hour=interruptions_per_hour):
        rec = run_recommend(job, sit, catalog, target_global_batch=target_batch, safety_margin=safety_margin)
    if gpu_memory_gb is not None and gpu is None:
        rec.notes.insert(0, f"your {gpu_memory_gb:g} GB GPU is planned as the {sit.gpu}, the catalog's "
                            f"{gpu_memory_gb:g} GB GPU with the least compute (speeds are not overstated); name it "
                            "with --gpu for its own figures")
    return rec


def _check_situation(domain_shift: str, method: str | None) -> None:
    from frugaltune.errors import ConfigError
    from frugaltune.estimate.records import METHODS
    from frugaltune.plan.method import DOMAIN_SHIFTS

    if domain_shift not in DOMAIN_SHIFTS:
        raise ConfigError(f"--domain-shift {domain_shift!r} is not one of {', '.join(DOMAIN_SHIFTS)}.",
                          fix="use --domain-shift small or --domain-shift large")
    if method is not None and method not in METHODS:
        raise ConfigError(f"--method {method!r} is not one of {', '.join(METHODS)}.", fix="use --method lora")


def plan(model: str = "llama-2-7b", *, output: str | Path | None = None, output_dir: str | None = None,
         data_format: str | None = None, dataset: str | Path | None = None, **kwargs):
    """recommend() written as a `frugaltune train` config (train/config.py's RunConfig). The config's data.format is
    `data_format`, else the one detected from the dataset's columns, else "auto" (the trainer detects it).

    Returns:
        A PlannedRun: the recommendation, the config, its YAML text (also written to `output` when given).
    """
    from pathlib import Path

    from frugaltune.plan.runconfig import PlannedRun, header, run_config_data
    from frugaltune.yamlio import config_yaml

    from frugaltune.errors import ConfigError

    writable_file(output, "-o")
    if output_dir is not None and not str(output_dir).strip():
        raise ConfigError("--output-dir is empty.", fix="give the run a directory, e.g. --output-dir runs/my-run.")
    if data_format in (None, "auto") and dataset is not None:
        from frugaltune.data_format import detect_file_format

        data_format = detect_file_format(dataset)[0]
    rec = recommend(model, dataset=dataset, data_format=data_format, **kwargs)
    arch = rec.job.model
    source = model if Path(model).exists() else (arch.hf_id or arch.name)
    data = run_config_data(rec, model_source=source, data_path=str(dataset or "data/train.jsonl"),
                           output_dir=output_dir or f"runs/{arch.name}-{rec.job.method}",
                           data_format=data_format or "auto",
                           eval_fraction=kwargs.get("eval_fraction", DEFAULT_EVAL_FRACTION), complete=True)
    text = config_yaml(data, header(rec, str(output or "run.yaml")))
    if output is not None:
        path = Path(output)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError as err:
            raise ConfigError(f"-o {output}: cannot write it ({err.strerror or err}).",
                              fix="give -o a file in a directory you can write.") from None
    return PlannedRun(rec, data, text, None if output is None else Path(output))


def afford(budget_usd: float, *, per: str = "run", model: str | Sequence[str] | None = None, gpu=None, platform=None,
           spot: bool | None = None, max_gpus: int = 8, interruptions_per_hour: float | None = None,
           catalog_dirs=None, **job_kwargs):
    """What a budget buys: for each model size x method (QLoRA, LoRA, full), the most training tokens `budget_usd`
    pays for (one run, or a month with per="month") and on which offer (see plan/afford.py).

    Args:
        budget_usd: the money, USD.
        per: "run" or "month".
        model: models to consider (default: one per size class, 0.5B to 70B).
        gpu, platform, spot, max_gpus: which offers (as in `compare`).
        **job_kwargs: job settings (seq_len, lora_r, precision, ...), as in `estimate`.
    Returns:
        An Affordability (`.to_json()` is `frugaltune afford --json`).
    """
    from frugaltune.errors import ConfigError
    from frugaltune.estimate.build import build_job
    from frugaltune.estimate.spot import assumption_dirs, spot_overrides
    from frugaltune.plan.afford import DEFAULT_MODELS
    from frugaltune.plan.afford import afford as run_afford

    if per not in ("run", "month"):
        raise ConfigError(f"--per {per!r} is not one of run, month.", fix="use --per run or --per month")
    check_numbers(budget_usd=budget_usd, max_gpus=max_gpus, interruptions_per_hour=interruptions_per_hour)
    if budget_usd is None:
        raise ConfigError("--budget-usd is required.", fix="e.g. --budget-usd 50")
    catalog = _catalog(catalog_dirs)
    names = _names(model) or list(DEFAULT_MODELS)
    base = build_job(names[0], catalog, **job_kwargs)
    models = [catalog.model(n) for n in names]
    flt = filters(catalog, gpu=gpu, platform=platform, max_gpus=max_gpus, spot=spot)
    with spot_overrides(interruptions_per_hour=interruptions_per_hour, n_trials=0,
                        extra_dirs=assumption_dirs()):  # looked up once for every spot option
        return run_afford(models, budget_usd, catalog, flt, per=per, base=base)


def budget(file: str | Path, *, catalog_dirs=None, interruptions_per_hour: float | None = None):
    """Price a budget YAML of phases month by month (see plan/budget.py)."""
    from frugaltune.estimate.build import JOB_DEFAULTS
    from frugaltune.estimate.spot import spot_overrides
    from frugaltune.plan.budget import load_budget
    from frugaltune.plan.budget_price import price_budget

    check_numbers(interruptions_per_hour=interruptions_per_hour)
    spec = load_budget(file, tuple(JOB_DEFAULTS) + ("model",))
    catalog = _catalog(catalog_dirs or list(spec.catalog_dirs) or None)
    with spot_overrides(interruptions_per_hour=interruptions_per_hour):
        return price_budget(spec, catalog)


def buy_vs_rent(model: str = "llama-2-7b", *, gpu: str = "rtx-5090", usd_per_kwh: float, num_gpus: int = 1,
                purchase_usd: float | None = None, power_watts: float | None = None, host_watts: float = 0.0,
                years: float = 3.0, resale_fraction: float = 0.0, runs_per_month: float | None = None,
                hours_per_month: float | None = None, spot: bool | None = None,
                interruptions_per_hour: float | None = None, dataset: str | Path | None = None, catalog_dirs=None,
                **job_kwargs):
    """An owned GPU vs renting the same GPU for the same monthly workload: `runs_per_month` runs of the job
    (default 4), or `hours_per_month` hours of use (see plan/buy_vs_rent.py).

    Returns:
        A BuyVsRent (`.to_json()` is `frugaltune buy-vs-rent --json`).
    """
    from frugaltune.estimate.build import build_job
    from frugaltune.estimate.spot import spot_overrides
    from frugaltune.plan.buy_vs_rent import buy_vs_rent as run

    check_numbers(usd_per_kwh=usd_per_kwh, num_gpus=num_gpus, purchase_usd=purchase_usd, power_watts=power_watts,
                  host_watts=host_watts, years=years, resale_fraction=resale_fraction, runs_per_month=runs_per_month,
                  hours_per_month=hours_per_month, interruptions_per_hour=interruptions_per_hour)
    runs_per_month = _workload(runs_per_month, hours_per_month)
    catalog = _catalog(catalog_dirs)
    job = build_job(model, catalog, dataset, **job_kwargs)  # the job's own flags are checked first
    owned, from_catalog = _owned(catalog, gpu, purchase_usd, power_watts, usd_per_kwh, num_gpus, host_watts, years,
                                 resale_fraction)
    with spot_overrides(interruptions_per_hour=interruptions_per_hour):
        res = run(job, owned, runs_per_month, catalog, rent_filters=filters(catalog, spot=spot),
                  hours_per_month=hours_per_month)
    if from_catalog:
        res.notes.append(f"catalog figures used for {owned.gpu}: {', '.join(from_catalog)}; pass your own to "
                         "replace them")
    return res


def _workload(runs_per_month: float | None, hours_per_month: float | None) -> float | None:
    """Runs a month (default 4), or None when the workload is given in hours; both at once is an error."""
    from frugaltune.errors import ConfigError

    if runs_per_month is not None and hours_per_month is not None:
        raise ConfigError("--runs-per-month and --hours-per-month both describe the workload.",
                          fix="give one: runs of the job a month, or hours of GPU use a month.")
    return 4.0 if runs_per_month is None and hours_per_month is None else runs_per_month


def _owned(catalog, gpu: str, purchase_usd, power_watts, usd_per_kwh, num_gpus, host_watts, years, resale_fraction):
    """(OwnedGpu, the figures taken from the catalog as text): the user's price and draw, else the catalog's."""
    from frugaltune.errors import ConfigError
    from frugaltune.plan.buy_vs_rent import OwnedGpu

    spec = catalog.gpu(gpu)
    purchase = purchase_usd if purchase_usd is not None else spec.price_usd
    watts = power_watts if power_watts is not None else spec.tdp_watts
    missing = [f for f, v in (("--purchase-usd", purchase), ("--power-watts", watts)) if v is None]
    if missing:
        raise ConfigError(f"the catalog has no {' or '.join(missing)} figure for {spec.name}.",
                          fix=f"pass {' and '.join(missing)} for the GPU you would buy.")
    from_catalog = [text for given, text in ((purchase_usd, f"purchase ${purchase:,.0f} (--purchase-usd)"),
                                             (power_watts, f"{watts:g} W (--power-watts)")) if given is None]
    return (OwnedGpu(spec.name, purchase, watts, usd_per_kwh, num_gpus, host_watts, years, resale_fraction),
            from_catalog)
