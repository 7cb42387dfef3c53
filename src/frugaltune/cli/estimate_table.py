"""The `frugaltune estimate` table (frugaltune.console)."""

from __future__ import annotations


def _fmt_usd(value) -> str:
    return "-" if value is None else f"${value:,.2f}"


def _band(pair, fmt: str, unit: str = "") -> str:
    """' (80 %: lo-hi)' for a *_range field, '' without one."""
    if not pair:
        return ""
    return f" (80 %: {unit}{pair[0]:{fmt}}-{unit}{pair[1]:{fmt}})"


def _stack(stack: dict) -> str:
    on = [name.replace("_", "-") for name in ("activation_offload", "optimizer_in_backward", "compile", "fp8")
          if stack.get(name)]
    tp = "".join(f", {short} {stack[name]}" for name, short in (("tensor_parallel", "tp"), ("pipeline_parallel", "pp"),
                                                                ("virtual_pipeline", "vp"), ("context_parallel", "cp"))
                 if stack.get(name, 1) > 1)
    return (f"{stack.get('framework') or 'default'}: loss {stack['loss']}, kernels {stack['kernels']}, "
            f"{stack['attention']}" + "".join(", " + x for x in on) + tp)


def render_estimate(est) -> None:
    """A readable summary table of an Estimate."""
    from frugaltune.console import Console, Table

    j = est.to_json()
    m, t, c, hw, job = j["memory"], j["throughput"], j["cost_breakdown"], j["hardware"], j["job"]
    method = job["method"] + (" + DoRA" if job.get("use_dora") else "")
    title = (f"{j['model']['name']} · {method} · {job['num_gpus']}x {hw['gpu']}"
             f" · {hw['platform'] or 'no platform'} ({hw['pricing']})")
    table = Table(title=title, show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    fit = "[green]fits[/]" if m["fits"] else "[red]does NOT fit[/]"
    table.add_row("peak memory / GPU", f"{m['peak_gb_per_gpu']:.1f} GB{_band(m.get('peak_gb_range'), '.1f')} of "
                  f"{hw['gpu_memory_gb']:g} GB  {fit}")
    table.add_row("  allocated · reserved", f"{m['peak_allocated_gb']:.1f} · {m['peak_reserved_gb']:.1f} GB "
                  f"(+ {m['cuda_context_gb']:.1f} GB CUDA context)")
    table.add_row("  weights · grads · optim", f"{m['weights_gb']:.1f} · {m['gradients_gb']:.1f} · {m['optimizer_gb']:.1f} GB")
    table.add_row("  activations · logits · overhead",
                  f"{m['activations_gb']:.1f} · {m['logits_gb']:.1f} · {m['overhead_gb']:.1f} GB")
    if j.get("dataset"):
        for label, value in dataset_rows(j["dataset"]):
            table.add_row(label, value)
    table.add_row("params (trainable)", f"{j['model']['params'] / 1e9:.2f} B ({j['model']['trainable_params']:,})")
    table.add_row("tokens", f"{job['tokens_total']:,} ({job['epochs']:g} epochs, {job['steps_total']:,} steps)")
    table.add_row("throughput", f"{t['tokens_per_sec']:,.0f}{_band(t.get('tokens_per_sec_range'), ',.0f')} tokens/s "
                  f"(MFU {t['mfu']:.0%}, {t['gpu_class']}, {t['source']})")
    table.add_row("stack", _stack(job["stack"]))
    billed, setup = j["time"]["billed_hours"], j["time"]["setup_hours"]
    table.add_row("time", f"{j['time']['hours']:.2f} h + setup {setup:.2f} h"
                  + (f" (billed {billed:.2f} h)" if billed is not None else ""))
    if hw["usd_per_gpu_hour"] is not None:
        spot_note = " (median over zones)" if hw["pricing"] == "spot" else ""
        table.add_row("price", f"${hw['usd_per_gpu_hour']:.3f}/GPU-h{spot_note} · {hw['instance']} · "
                               f"{hw['region'] or '-'} · data {hw['price_data_date']}")
    table.add_row("cost", f"{_fmt_usd(c['total_cost'])}{_band(c.get('total_cost_range'), ',.2f', '$')} = compute "
                  f"{_fmt_usd(c['compute_cost'])} (setup {_fmt_usd(c.get('setup_cost'))}) + storage "
                  f"{_fmt_usd(c['storage_cost'])} ({_fmt_usd(c['usd_per_epoch'])}/epoch)")
    spot = c.get("spot")
    if spot:
        table.add_row("spot", spot_text(spot))
    console = Console()
    console.print(table)
    for w in j["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    if spot and spot.get("spread_note"):
        console.print(f"note: {spot['spread_note']}", highlight=False)


def spot_text(spot: dict) -> str:
    """The spot cost as the expected mean and the P10/P50/P90 of the simulated runs."""
    return (f"expected (mean) {_fmt_usd(spot.get('expected_cost_usd'))} · P10/P50/P90 "
            f"{_fmt_usd(spot.get('p10_cost_usd'))}/{_fmt_usd(spot.get('p50_cost_usd'))}/"
            f"{_fmt_usd(spot.get('p90_cost_usd'))} · {spot.get('expected_interruptions', 0):.2f} interruptions expected")


def dataset_rows(d: dict) -> list[tuple[str, str]]:
    """The --dataset summary as table rows: rows and format, token lengths, truncation and padding, how counted."""
    fmt = d["format"] + (" (detected from its columns)" if d["format_detected"] else "")
    if d["format"] == "unknown":
        fmt = "format unknown (every text field counted; name it with --data-format)"
    error = f" ± {d['mean_tokens_error']:.1f}" if d["sampled_rows"] else ""
    sampled = f" (a random sample of {d['sampled_rows']:,} rows; ± = 95 % interval)" if d["sampled_rows"] else ""
    how = d["counted_with"]
    how = f"the tokenizer of {how.split(':', 1)[1]}" if how.startswith("tokenizer:") else \
        "4 characters per token (the model's tokenizer is not in the local cache)"
    return [("dataset", f"{d['samples']:,} rows · {fmt}"),
            ("  tokens per row", f"mean {d['mean_tokens']:,.1f}{error} · p95 {d['p95_tokens']:,} · max "
                                 f"{d['longest_tokens']:,}{sampled}"),
            ("  truncated · padding", f"{d['truncated_rows']:,} rows cut to {d['seq_len']:,} tokens · "
                                      f"{d['padding_pct']:.0f}% padding without packing (micro-batch "
                                      f"{d['micro_batch']})"),
            ("  counted with", how)]


def estimate_sheet(est):
    """The estimate as one row of its key figures (--format csv|md): units in the column names."""
    from frugaltune.sheet import Col, Sheet

    j = est.to_json()
    hw, job, c, s = j["hardware"], j["job"], j["cost_breakdown"], (j["cost_breakdown"].get("spot") or {})
    figures = [("model", j["model"]["name"]), ("method", job["method"]), ("gpu", hw["gpu"]), ("num_gpus", job["num_gpus"]),
               ("platform", hw["platform"]), ("instance", hw["instance"]), ("region", hw["region"]),
               ("pricing", hw["pricing"]), ("usd_per_gpu_hour", hw["usd_per_gpu_hour"]),
               ("peak_gb_per_gpu", round(j["memory"]["peak_gb_per_gpu"], 2)), ("fits", j["memory"]["fits"]),
               ("tokens_per_sec", round(j["throughput"]["tokens_per_sec"], 1)), ("tokens_total", job["tokens_total"]),
               ("steps_total", job["steps_total"]), ("hours", round(j["time"]["hours"], 4)),
               ("billed_hours", None if j["time"]["billed_hours"] is None else round(j["time"]["billed_hours"], 4)),
               ("total_usd", c["total_cost"]),
               ("spot_p10_usd", s.get("p10_cost_usd")), ("spot_p50_usd", s.get("p50_cost_usd")),
               ("spot_p90_usd", s.get("p90_cost_usd"))]
    sheet = Sheet("estimate", [Col(name) for name, _v in figures])
    sheet.add([v for _name, v in figures])
    return sheet
