"""From names and keywords to an estimate: the job builder (`build_job`), the hardware builder (`build_hardware`),
the catalog loader and `estimate(model=..., gpu=..., ...)`. The public façade `frugaltune.api` re-exports these;
inside the package, plan/, report/, train/ and cli/ import them from here.
"""

from __future__ import annotations

import os
from datetime import date

from frugaltune.errors import CatalogError, ConfigError
from frugaltune.estimate.records import PRICINGS, Estimate, Hardware, Job
from frugaltune.record import fields

JOB_DEFAULTS = {f.name: f.default for f in fields(Job) if f.name != "model"}


def get_catalog(catalog_dirs: list[str | os.PathLike] | None = None):
    from frugaltune.catalog.load import load_catalog

    return load_catalog(catalog_dirs or None)


def build_job(model: str, catalog=None, dataset: str | os.PathLike | None = None, *, dataset_sample: int | None = None,
              data_format: str | None = None, **job_kwargs) -> Job:
    """A Job from a model spec (catalog name/alias, config.json path or dir, or a bare size like '7B') and the
    same keyword names as the `frugaltune estimate` flags. `dataset` counts real tokens of a JSONL/CSV/Parquet file
    (all rows, or a sample of `dataset_sample` rows; `data_format` None or "auto": detected from the columns)."""
    catalog = catalog or get_catalog()
    unknown = set(job_kwargs) - set(JOB_DEFAULTS)
    if unknown:
        from frugaltune.errors import did_you_mean

        name = sorted(unknown)[0]
        raise ConfigError(f"unknown job setting '{name}'.{did_you_mean(name, JOB_DEFAULTS)}",
                          fix=f"valid settings: {', '.join(JOB_DEFAULTS)}")
    kwargs = {k: v for k, v in job_kwargs.items() if v is not None}
    framework = kwargs.get("framework")
    if framework is not None:
        from frugaltune.estimate.stack import FRAMEWORKS, framework_job_defaults

        if framework not in FRAMEWORKS:
            from frugaltune.errors import did_you_mean

            raise ConfigError(f"unknown framework '{framework}'.{did_you_mean(framework, FRAMEWORKS)}",
                              fix=f"use one of {', '.join(FRAMEWORKS)}")
        documented = framework_job_defaults(framework, kwargs.get("method", JOB_DEFAULTS["method"]),
                                            kwargs.get("num_gpus", 1))
        kwargs = {**documented, **kwargs}  # single flags override the framework's defaults
    if isinstance(kwargs.get("lora_targets"), str):
        kwargs["lora_targets"] = tuple(t for t in kwargs["lora_targets"].replace(" ", "").split(",") if t)
    kwargs = job_numbers(kwargs)
    check_dora(kwargs.get("use_dora"), kwargs.get("method", JOB_DEFAULTS["method"]))
    arch = catalog.model(model)
    if dataset is not None:
        stats = dataset_stats(dataset, arch, kwargs, dataset_sample, data_format)
        kwargs.update(dataset_size=stats.samples, tokens_per_sample=stats.mean_tokens,
                      padded_tokens_per_sample=stats.mean_padded_tokens, longest_sample_tokens=stats.max_tokens,
                      attended_tokens_per_sample=stats.attended_tokens or None)
    return Job(model=arch, **kwargs)


def check_dora(use_dora, method: str) -> None:
    """DoRA decomposes LoRA adapters: full fine-tuning has none to decompose."""
    if use_dora is True and method == "full":
        raise ConfigError("--dora applies to LoRA adapters, and method full (--method full) trains no adapters.",
                          fix="use --method lora or --method qlora with --dora, or drop --dora.")


def dataset_stats(dataset: str | os.PathLike, arch, job_kwargs: dict, sample: int | None = None,
                  data_format: str | None = None):
    """The token statistics of `dataset` for this model and the job's seq_len / micro_batch (counted once per
    process: estimate/dataset_stats.py)."""
    from frugaltune.checks import readable_file
    from frugaltune.estimate.dataset_stats import dataset_token_stats

    readable_file(dataset, "--dataset")
    return dataset_token_stats(dataset, arch, job_kwargs.get("seq_len", JOB_DEFAULTS["seq_len"]),
                               job_kwargs.get("micro_batch", JOB_DEFAULTS["micro_batch"]), sample=sample,
                               data_format=data_format)


def job_numbers(kwargs: dict) -> dict:
    """Job keyword values written as text or as integral floats ('3', 1e4 from YAML) as numbers; whole-number
    fields as int (Job then checks every range)."""
    from frugaltune.checks import check, coerce
    from frugaltune.estimate.records import JOB_LIMITS, job_label

    out = dict(kwargs)
    for name, limit in JOB_LIMITS.items():
        if name in out:
            value = coerce(out[name], job_label(name), limit)
            if limit.integer and isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
                value = check(value, job_label(name), limit)
            out[name] = value
    return out


def build_hardware(gpu: str, platform: str | None, pricing: str, num_gpus: int, catalog,
                   instance: str | None = None, region: str | None = None, job: Job | None = None) -> Hardware:
    """The GPU spec and the offer that prices it: the named instance (and region) on `platform` when given, else
    the given platform's offer; with no platform, the offer with the cheapest billed total for `job`
    (`cheapest_billed`), or without a job the cheapest hourly rate."""
    if pricing not in PRICINGS:
        raise ConfigError(f"unknown pricing '{pricing}'", fix=f"use one of {', '.join(PRICINGS)}")
    spec = catalog.gpu(gpu)
    if instance:
        return Hardware(gpu=spec, num_gpus=num_gpus, pricing=pricing,
                        offer=_named_offer(catalog, spec.name, platform, instance, region))
    if platform:
        try:
            offer = catalog.find_offer(spec.name, platform, num_gpus, pricing)
        except CatalogError:
            if pricing != "spot":
                raise
            # No spot on this platform: price on-demand; the estimate warns "spot unavailable".
            offer = catalog.find_offer(spec.name, platform, num_gpus, "on-demand")
        return Hardware(gpu=spec, num_gpus=num_gpus, offer=offer, pricing=pricing)
    if job is not None:
        return cheapest_billed(job, spec, num_gpus, pricing, catalog)
    try:  # no platform: the catalog's pick per platform (skips anomalies, prefers host-inclusive prices), cheapest
        offer = catalog.find_offer(spec.name, None, num_gpus, pricing)
    except CatalogError:
        offer = None  # no price for this GPU: memory and speed are still estimated
    return Hardware(gpu=spec, num_gpus=num_gpus, offer=offer, pricing=pricing)


def cheapest_billed(job: Job, spec, num_gpus: int, pricing: str, catalog) -> Hardware:
    """The hardware priced at the offer whose billed total for `job` is lowest: each platform's offer (the catalog's
    pick within the platform) is estimated, billing increment, minimum and whole-instance rental applied, so an
    hourly-billed row loses to the same rate billed per second. Sound, host-inclusive prices come first."""
    from frugaltune.catalog.query import platform_picks, sound_first
    from frugaltune.estimate.estimator import estimate as run_estimate
    from frugaltune.estimate.spot import spot_overrides

    best, best_key = None, None
    with spot_overrides(n_trials=0):  # the expectation ranks; percentiles are for the chosen offer only
        for offer in platform_picks(catalog.gpu_offers(spec.name), spec.name, None, num_gpus, pricing):
            hw = Hardware(gpu=spec, num_gpus=num_gpus, offer=offer, pricing=pricing)
            usd = run_estimate(job, hw, catalog=catalog).cost_breakdown.total_cost
            key = (*sound_first(offer, pricing), usd if usd is not None else float("inf"))
            if best_key is None or key < best_key:
                best, best_key = hw, key
    return best or Hardware(gpu=spec, num_gpus=num_gpus, offer=None, pricing=pricing)


def _named_offer(catalog, gpu: str, platform: str | None, instance: str, region: str | None):
    """The catalog offer `instance` of `gpu` on `platform` (in `region` when given)."""
    offers = [o for o in catalog.offers_for(gpu=gpu, platform=platform) if o.instance == instance]
    exact = [o for o in offers if region is None or o.region == region]
    if not offers:
        raise CatalogError(f"no {gpu} offer named {instance!r}" + (f" on {platform}" if platform else "") + ".",
                           fix="`frugaltune catalog prices --gpu GPU` lists the instances; or drop the instance.")
    return (exact or offers)[0]


def estimate(model: str = "llama-2-7b", gpu: str = "a100-80gb", platform: str | None = None,
             pricing: str = "on-demand", num_gpus: int = 1, dataset: str | os.PathLike | None = None,
             catalog_dirs: list[str | os.PathLike] | None = None, today: date | None = None,
             instance: str | None = None, region: str | None = None, dataset_sample: int | None = None,
             data_format: str | None = None, **job_kwargs) -> Estimate:
    """Estimate peak memory per GPU, tokens/s, hours and dollars of one fine-tuning job.

    Args:
        model: catalog name or alias ('llama-2-7b', 'meta-llama/Llama-3.1-8B'), a config.json path or model
            directory, or a bare size ('7B').
        gpu: GPU name ('a10', 'A100 80GB', 'rtx 4090', 'Tesla T4', 'h100').
        platform: provider ('lambda', 'modal', 'aws', ...); None prices the cheapest offer for the GPU.
        pricing: 'on-demand' or 'spot' (spot includes the expected cost of interruptions).
        num_gpus: GPUs used (data parallel; shard with zero_stage).
        dataset: a JSONL/CSV/Parquet file whose real token counts replace dataset_size / tokens_per_sample; the
            JSON's `dataset` object summarises it (rows, format, mean/p95/max tokens, padding, truncated rows).
        dataset_sample: count a seeded random sample of this many rows (the sampling error is stated).
        data_format: the dataset's format (default: detected from its columns).
        catalog_dirs: extra user catalog directories (override or add GPUs, prices, models).
        today: the date stale-price warnings are measured against.
        instance, region: price this exact catalog offer (as `frugaltune plan` writes into a config's cost).
        **job_kwargs: method, precision, seq_len, micro_batch, grad_accum, grad_ckpt, optimizer, lora_r,
            lora_targets, zero_stage, cpu_offload, dataset_size, tokens_per_sample, epochs, packing.
    Returns:
        An Estimate; `.to_json()` is the JSON contract of `frugaltune estimate --json`.
    Raises:
        CatalogError: unknown model, GPU or platform (with suggestions).
        ConfigError: impossible sizes or unknown settings.
    """
    from frugaltune.estimate.estimator import estimate as run_estimate

    catalog = get_catalog(catalog_dirs)
    job = build_job(model, catalog, dataset, num_gpus=num_gpus, dataset_sample=dataset_sample,
                    data_format=data_format, **job_kwargs)
    hw = build_hardware(gpu, platform, pricing, num_gpus, catalog, instance, region, job=job)
    result = run_estimate(job, hw, catalog=catalog, today=today)
    if dataset is not None:
        sizes = {"seq_len": job.seq_len, "micro_batch": job.micro_batch}
        result.dataset = dataset_stats(dataset, job.model, sizes, dataset_sample, data_format).summary()
    if hw.offer is not None and platform is None and instance is None:
        result.warnings.append(f"no --platform given: priced at the {hw.gpu.name} offer with the cheapest billed "
                               f"total for this job ({hw.offer.platform} {hw.offer.instance}, {hw.offer.region})")
    if hw.offer is None:
        try:
            catalog.find_offer(hw.gpu.name, None, num_gpus, pricing)
            why = f"no price in the catalog for {hw.gpu.name}"
        except CatalogError as err:  # says why: e.g. no instance holds that many GPUs
            why = err.message.rstrip(".")
        result.warnings.append(f"{why}: cost not estimated (add an offer with --catalog DIR)")
    return result
