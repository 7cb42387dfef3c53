"""The `frugaltune estimate` table (frugaltune.console)."""

from __future__ import annotations


def _fmt_usd(value) -> str:
    return "-" if value is None else f"${value:,.2f}"


def render_estimate(est) -> None:
    """A readable summary table of an Estimate."""
    from frugaltune.console import Console, Table

    j = est.to_json()
    m, t, c, hw, job = j["memory"], j["throughput"], j["cost_breakdown"], j["hardware"], j["job"]
    title = (f"{j['model']['name']} · {job['method']} · {job['num_gpus']}x {hw['gpu']}"
             f" · {hw['platform'] or 'no platform'} ({hw['pricing']})")
    table = Table(title=title, show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    fit = "[green]fits[/]" if m["fits"] else "[red]does NOT fit[/]"
    table.add_row("peak memory / GPU", f"{m['peak_gb_per_gpu']:.1f} GB of {hw['gpu_memory_gb']:g} GB  {fit}")
    table.add_row("  weights · grads · optim", f"{m['weights_gb']:.1f} · {m['gradients_gb']:.1f} · {m['optimizer_gb']:.1f} GB")
    table.add_row("  activations · logits · overhead",
                  f"{m['activations_gb']:.1f} · {m['logits_gb']:.1f} · {m['overhead_gb']:.1f} GB")
    table.add_row("params (trainable)", f"{j['model']['params'] / 1e9:.2f} B ({j['model']['trainable_params']:,})")
    table.add_row("tokens", f"{job['tokens_total']:,} ({job['epochs']:g} epochs, {job['steps_total']:,} steps)")
    table.add_row("throughput", f"{t['tokens_per_sec']:,.0f} tokens/s (MFU {t['mfu']:.0%}, {t['source']})")
    billed = j["time"]["billed_hours"]
    table.add_row("time", f"{j['time']['hours']:.2f} h" + (f" (billed {billed:.2f} h)" if billed is not None else ""))
    if hw["usd_per_gpu_hour"] is not None:
        table.add_row("price", f"${hw['usd_per_gpu_hour']:.3f}/GPU-h · {hw['instance']} · data {hw['price_data_date']}")
    table.add_row("cost", f"{_fmt_usd(c['total_cost'])} = compute {_fmt_usd(c['compute_cost'])} + storage "
                  f"{_fmt_usd(c['storage_cost'])} ({_fmt_usd(c['usd_per_epoch'])}/epoch)")
    if c.get("spot"):
        s = c["spot"]
        table.add_row("spot (expected)", f"{s.get('expected_interruptions', 0):.2f} interruptions · P50/P90 "
                      f"{_fmt_usd(s.get('p50_cost_usd'))}/{_fmt_usd(s.get('p90_cost_usd'))}")
    console = Console()
    console.print(table)
    for w in j["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
