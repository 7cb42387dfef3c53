"""`frugaltune catalog gpus|prices|models|storage`: list the catalog (shipped rows + user overrides).

Tables by default (frugaltune.console); `--json` prints `{"schema_version", "<rows>": [...]}` with the rows'
field names, which carry their units.
"""

from __future__ import annotations

from frugaltune.cli.commands import command
from frugaltune.cli.options import FORMAT, JSON, Opt, switch

CATALOGS = Opt("catalog", str, None, "A user catalog directory (repeatable; later ones win).", multiple=True,
               metavar="DIR")
GPU = Opt("gpu", str, None, "Only this GPU (forgiving name: 'a100 80gb', 'h100', 'rtx 4090').")
PLATFORM = Opt("platform", str, None, "Only this platform ('lambda', 'aws', 'runpod', ...).")
MODEL = Opt("model", str, None, "One model: a name, alias, HF id, config.json path / model dir, or a bare size "
            "like 7B.")
PRICES = [JSON, FORMAT, CATALOGS, GPU, PLATFORM, Opt("num_gpus", int, None, "Instances with at least N GPUs.", min=1),
          Opt("max_age_days", int, 180, "Mark prices older than this.", min=0)]
WIDE = "wide"  # columns only the full table (and CSV/Markdown) shows; narrow terminals get the others


def _load(catalog_dirs: list[str] | None):
    from frugaltune.catalog.load import load_catalog

    return load_catalog(catalog_dirs or None)


def _emit_json(key: str, rows: list) -> None:
    import json

    from frugaltune.catalog.load import schema_version
    from frugaltune.record import asdict

    payload = {"schema_version": schema_version(), key: [asdict(r) for r in rows]}
    print(json.dumps(payload, indent=2))


def _table(title: str, columns: list, rows: list[list[str]], footer: str = "", fmt: str = "table") -> None:
    """Print rows under `columns` (headers, or sheet.Col for columns that only the wide table shows) in `fmt`."""
    from frugaltune.sheet import Col, Sheet, emit

    cols = [c if isinstance(c, Col) else Col(c) for c in columns]
    sheet = Sheet(title, cols, caption=footer or None)
    for row in rows:
        sheet.add(row)
    emit([sheet], fmt)


def _fmt(json_out: bool, format: str) -> str:
    return "json" if json_out else format


def _num(value: float | None, fmt: str = "{:g}") -> str:
    return "-" if value is None else fmt.format(value)


SOURCES = switch("sources", "List where each GPU's figures come from (name, date, source) instead of the specs.")


@command("catalog gpus", [JSON, FORMAT, CATALOGS, GPU, SOURCES])
def gpus_command(json_out: bool, format: str, catalog: list[str] | None, gpu: str | None, sources: bool) -> None:
    """GPU specs: memory, bandwidth, dense tensor TFLOPs, bf16/fp8 support, and where each figure comes from.

    With --gpu NAME (any spelling: 'NVIDIA A100-SXM4-80GB', 'RTX 4090 24GB', 'nvidia-l4') the GPU's source, date
    and notes follow its row; --sources lists them for every GPU; --json has them as `source`, `data_date`, `notes`.
    """
    from frugaltune.sheet import Col

    fmt = _fmt(json_out, format)
    cat = _load(catalog)
    rows = [cat.gpu(gpu)] if gpu else list(cat.gpus.values())
    if fmt == "json":
        return _emit_json("gpus", rows)
    if sources:
        return _table("GPU sources", ["name", "date", "source"], [[g.name, g.data_date, g.source] for g in rows],
                      fmt=fmt)
    _table("GPUs", ["name", Col("segment", show=WIDE), Col("arch", show=WIDE), Col("mem GB", "right"),
                    Col("GB/s", "right"), Col("bf16 TF", "right"), Col("fp16 TF", "right"),
                    Col("fp8 TF", "right", show=WIDE), "bf16", Col("aliases", show=WIDE)],
           [[g.name, g.segment, g.architecture, _num(g.memory_gb), _num(g.memory_bandwidth_gb_per_s),
             _num(g.bf16_tflops), _num(g.fp16_tflops), _num(g.fp8_tflops), "yes" if g.bf16_supported else "no",
             ", ".join(g.aliases[:4])] for g in rows],
           footer="" if gpu else "Where the figures come from: --sources, or --gpu NAME for one GPU.", fmt=fmt)
    if gpu:
        g = rows[0]
        _table(f"{g.name}: sources", ["field", "value"],
               [["source", g.source], ["data date", g.data_date], ["notes", g.notes or "-"]], fmt=fmt)


@command("catalog prices", PRICES)
def prices_command(json_out: bool, format: str, catalog: list[str] | None, gpu: str | None, platform: str | None,
                   num_gpus: int | None, max_age_days: int) -> None:
    """Offers: USD per GPU-hour on-demand and spot (the median over the region's zones, the cheapest zone beside it,
    scarce spot capacity flagged), billing increment, region, date; stale prices are marked '!'."""
    from datetime import date

    from frugaltune.catalog.staleness import price_age_days
    from frugaltune.sheet import Col

    fmt = _fmt(json_out, format)
    cat = _load(catalog)
    offers = sorted(cat.offers_for(gpu=gpu, platform=platform, num_gpus=num_gpus),
                    key=lambda o: (o.gpu, o.on_demand_usd_per_gpu_hour or o.spot_usd_per_gpu_hour or 0.0))
    if fmt == "json":
        return _emit_json("offers", offers)
    today = date.today()
    ages = [price_age_days(o, today) for o in offers]
    stale = sum(1 for a in ages if a is None or a > max_age_days)
    _table("Prices (USD per GPU-hour)", [
        Col("platform", show=WIDE), Col("instance", show=WIDE), Col("offer", show="narrow"), "gpu",
        Col("n", "right", show=WIDE), Col("region", show=WIDE), Col("on-demand", "right"), Col("spot", "right"),
        Col("spot cheapest zone", show=WIDE), Col("billing", show=WIDE), Col("kind", show=WIDE), "date"],
        [_price_row(o, age, max_age_days) for o, age in zip(offers, ages)],
        footer=f"{stale} of {len(offers)} prices are undated or older than {max_age_days} days (!); '?' = flagged "
               "anomaly; '(+host)' = GPU-only price, host VM extra; spot = median over the region's zones, "
               "'†' = scarce spot capacity. Check the provider's page.", fmt=fmt)


def _price_row(o, age: int | None, max_age_days: int) -> list[str]:
    spot = _num(o.spot_usd_per_gpu_hour, "{:.3f}") + ("?" if o.spot_anomaly else "") + ("†" if o.spot_scarce else "")
    cheapest = "-" if o.spot_cheapest_usd_per_gpu_hour is None else (
        f"{o.spot_cheapest_usd_per_gpu_hour:.3f} {o.spot_cheapest_zone}".strip()
        + (f" ({o.spot_scarce})" if o.spot_scarce else ""))
    instance = o.instance + ("" if o.price_includes_host else " (+host)") + ("?" if o.anomaly else "")
    return [o.platform, instance, f"{o.platform} {instance} {o.region}",
            o.gpu, str(o.gpus_per_instance) + (" whole" if o.whole_instance else ""), o.region,
            _num(o.on_demand_usd_per_gpu_hour, "{:.3f}"), spot, cheapest,
            _billing(o.billing_increment_s, o.billing_minimum_s), o.kind,
            o.data_date + ("" if age is not None and age <= max_age_days else "!")]


def _billing(increment_s: int, minimum_s: int) -> str:
    unit = {1: "per s", 60: "per min", 3600: "per h"}.get(increment_s, f"per {increment_s} s")
    return unit if minimum_s <= increment_s else f"{unit}, min {minimum_s} s"


@command("catalog models", [JSON, FORMAT, CATALOGS, MODEL])
def models_command(json_out: bool, format: str, catalog: list[str] | None, model: str | None) -> None:
    """Model architectures and their parameter counts."""
    from frugaltune.sheet import Col

    fmt = _fmt(json_out, format)
    cat = _load(catalog)
    rows = [cat.model(model)] if model else list(cat.models.values())
    if fmt == "json":
        return _emit_json("models", rows)
    _table("Models", ["name", Col("hf_id", show=WIDE), Col("params B", "right"), Col("layers", "right"),
                      Col("hidden", "right"), Col("inter", "right", show=WIDE), Col("heads", "right", show=WIDE),
                      Col("kv", "right"), Col("vocab", "right"), Col("tied", show=WIDE)],
           [[m.name, m.hf_id, f"{(m.total_params or 0) / 1e9:.2f}", str(m.num_layers), str(m.hidden_size),
             str(m.intermediate_size) + (f" x{m.num_experts}" if m.num_experts else ""), str(m.num_heads),
             str(m.num_kv_heads), str(m.vocab_size), "yes" if m.tie_word_embeddings else "no"] for m in rows], fmt=fmt)


@command("catalog storage", [JSON, FORMAT, CATALOGS, PLATFORM])
def storage_command(json_out: bool, format: str, catalog: list[str] | None, platform: str | None) -> None:
    """Persistent storage prices (USD per GB-month); '*' marks the item estimates use during a run."""
    from frugaltune.sheet import Col

    fmt = _fmt(json_out, format)
    cat = _load(catalog)
    key = cat.platform(platform) if platform else None
    rows = [s for s in cat.storage if key is None or s.platform == key]
    if fmt == "json":
        return _emit_json("storage", rows)
    if key and not rows:
        return print(cat.storage_usd_per_gb_month(key)[1])
    _table("Storage (USD per GB-month)", ["platform", "item", Col("USD/GB-month", "right"),
                                           Col("free GB", "right", show=WIDE), Col("held", show=WIDE), "date",
                                           Col("source", show=WIDE)],
           [[s.platform, s.item + (" *" if s.default_for_platform else ""), f"{s.usd_per_gb_month:g}",
             _num(s.free_gb or None), s.held or "-", s.data_date, s.source] for s in rows], fmt=fmt)
