"""Tables for the planner's results (frugaltune.console: fits the terminal, starts fast)."""

from __future__ import annotations

from collections import Counter

from frugaltune.plan.method import option_label
from frugaltune.plan.search import Comparison, total_usd, wall_hours


def _usd(x) -> str:
    if x is None:
        return "-"
    if 0 < abs(x) < 0.01:
        return f"{'-' if x < 0 else ''}${abs(x):.4f}"
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


def _console():
    from frugaltune.console import Console

    return Console()


def _table(title: str, columns: list[str], caption: str | None = None):
    from frugaltune.console import Table

    t = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
    for c in columns:
        t.add_column(c, justify="right" if c[:1] in "$#" or c in ("GPUs", "peak GB", "tok/s", "hours") else "left")
    return t


def render_comparison(cmp: Comparison, top: int = 20, show_rejected: bool = False) -> None:
    """The ranked options (rank 1 = chosen, marked), cheapest/fastest/Pareto marks, then the rejections."""
    job = cmp.job
    title = (f"{job.model.name} · {job.method} · {job.dataset_size:,} samples x {job.tokens_per_sample:g} tokens x "
             f"{job.epochs:g} epochs · sorted by {cmp.sort}")
    t = _table(title, ["#", "mark", "GPU", "GPUs", "platform", "instance", "pricing", "peak GB", "tok/s", "hours",
                       "$ total", "$ P90"], caption="► chosen (rank 1)  $ cheapest  ⚡ fastest  ◆ Pareto front "
                                                   "(cost vs time)  ·  spot rows: expected cost incl. interruptions")
    shown = cmp.ranked if top <= 0 else cmp.ranked[:top]
    for i, (cand, est) in enumerate(shown):
        marks = ("►" if i == 0 else "") + ("$" if i == cmp.cheapest else "") + ("⚡" if i == cmp.fastest else "") + \
            ("◆" if cmp.pareto[i] else "")
        spot = est.cost_breakdown.spot or {}
        style = "bold green" if i == 0 else None
        t.add_row(str(i + 1), marks, cand.offer.gpu, str(cand.num_gpus), cand.offer.platform, cand.offer.instance,
                  cand.pricing, f"{est.memory.peak_gb_per_gpu:.1f}", f"{est.throughput.tokens_per_sec:,.0f}",
                  f"{wall_hours(est):.2f}", _usd(total_usd(est)), _usd(spot.get("p90_cost_usd")), style=style)
    console = _console()
    console.print(t)
    hidden = len(cmp.ranked) - len(shown)
    for idx, label in ((cmp.cheapest, "cheapest"), (cmp.fastest, "fastest")):
        if idx is not None and idx >= len(shown):
            cand, est = cmp.ranked[idx]
            console.print(f"{label}: #{idx + 1} {cand.num_gpus}x {cand.offer.gpu} {cand.offer.platform} "
                          f"{_usd(total_usd(est))}, {wall_hours(est):.2f} h", highlight=False)
    if hidden:
        console.print(f"{hidden} more options (--top 0 shows all)", highlight=False)
    render_rejections(cmp, show_rejected)
    for note in cmp.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


def render_rejections(cmp: Comparison, full: bool) -> None:
    console = _console()
    if not cmp.rejected:
        return
    if not full:
        kinds = Counter(r.reason.split(":")[0].split(" (")[0] for r in cmp.rejected)
        console.print(f"rejected {len(cmp.rejected)}: " + ", ".join(f"{k}: {n}" for k, n in kinds.most_common()) +
                      " (--show-rejected lists each)", highlight=False)
        return
    t = _table("rejected", ["GPU", "GPUs", "platform", "instance", "pricing", "reason"])
    for r in cmp.rejected:
        o = r.candidate.offer
        t.add_row(o.gpu, str(r.candidate.num_gpus), o.platform, o.instance, r.candidate.pricing, r.reason)
    console.print(t)


def render_impact(imp, gpu_name: str) -> None:
    b = imp.rows[0].estimate.job
    base = f"{b.method}, {b.precision}, {'ckpt' if b.grad_ckpt else 'no ckpt'}, " \
           f"{'packing' if b.packing else 'no packing'}, {b.optimizer}"
    t = _table(f"optimization impact on {gpu_name} (baseline: {base})",
               ["mark", "method", "precision", "ckpt", "packing", "optimizer", "peak GB", "fits", "tok/s", "hours",
                "$ total", "speedup", "$ saved"], caption="B baseline  ► best (cheapest that fits)")
    for i, r in enumerate(imp.rows):
        e, s = r.estimate, r.settings
        mark = ("B" if r.baseline else "") + ("►" if i == imp.best else "")
        saved = "-" if r.usd_saved is None else f"{_usd(r.usd_saved)} ({r.pct_saved:.0f}%)"
        t.add_row(mark, s.get("method", e.job.method), e.job.precision, "yes" if e.job.grad_ckpt else "no",
                  "yes" if e.job.packing else "no", e.job.optimizer, f"{e.memory.peak_gb_per_gpu:.1f}",
                  "yes" if e.memory.fits else "[red]no[/]", f"{e.throughput.tokens_per_sec:,.0f}",
                  f"{wall_hours(e):.2f}", _usd(e.cost_breakdown.total_cost), f"{r.speedup:.1f}x", saved,
                  style="bold green" if i == imp.best else None)
    console = _console()
    console.print(t)
    for note in imp.notes:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


def render_recommendation(rec) -> None:
    """Why this method, the trade-off matrix, the hardware and the settings (with their reasons)."""
    console = _console()
    ch = rec.choice
    console.print(f"[bold]method: {ch.method}[/]" + (f" + ZeRO-{ch.zero_stage}" if ch.zero_stage else ""))
    for line in ch.why + ch.then:
        console.print(f"  · {line}", highlight=False)
    t = _table("trade-offs (words: rules of thumb; numbers: this job's cheapest option)",
               ["mark", "method", "VRAM", "peak GB", "data needed", "quality", "complexity", "opex", "$ / run",
                "hours", "exit cost", "cheapest option"])
    for row in ch.matrix:
        chosen = row["method"] == ch.method
        peak = "-" if row["peak_gb_per_gpu"] is None else f"{row['peak_gb_per_gpu']:.1f}"
        hours = "-" if row["hours"] is None else f"{row['hours']:.2f}"
        t.add_row("►" if chosen else "", row["method"], row["vram"], peak, row["data"], row["quality"],
                  row["complexity"], row["opex"], _usd(row["cheapest_usd"]), hours, row["exit_cost"],
                  row["cheapest_option"] or ("after SFT" if row["method"] == "dpo" else "none fits"),
                  style="bold green" if chosen else None)
    console.print(t)
    render_settings(rec)


def render_settings(rec) -> None:
    console = _console()
    s, e, c = rec.settings, rec.estimate, rec.candidate
    where = f"{rec.job.num_gpus}x {e.hardware.gpu} (yours)" if c is None else option_label(c)
    t = _table(f"settings that fit: {where}", ["setting", "value"])
    j = s.to_json()
    for key in ("method", "precision", "micro_batch", "grad_accum", "global_batch_sequences", "grad_ckpt",
                "optimizer", "zero_stage", "cpu_offload", "lora_r", "lora_targets"):
        value = j[key]
        t.add_row(key, ", ".join(value) if isinstance(value, list) else str(value))
    t.add_row("peak / limit", f"{j['peak_gb_per_gpu']:.1f} GB / {j['limit_gb_per_gpu']:.1f} GB per GPU "
                              f"({s.safety_margin:.0%} margin)")
    t.add_row("speed", f"{e.throughput.tokens_per_sec:,.0f} tokens/s · {wall_hours(e):.2f} h")
    t.add_row("cost", "not priced (your own GPU)" if c is None else _usd(total_usd(e)))
    spot = e.cost_breakdown.spot
    if spot:
        t.add_row("spot", f"checkpoint every {spot['checkpoint_interval_min']:.0f} min (Young-Daly) · "
                          f"{spot['expected_interruptions']:.2f} interruptions expected · P90 {_usd(spot['p90_cost_usd'])}")
    console.print(t)
    for line in s.why + rec.notes:
        console.print(f"  · {line}", highlight=False)


def render_budget(res) -> None:
    console = _console()
    months = res.spec.months
    t = _table(f"budget: {months} months", ["phase", "kind", "where", "runs", "$ / run"] +
               [f"m{m}" for m in range(1, months + 1)] + ["$ total"])
    for p in res.phases:
        ph = p.phase
        where = f"{ph.gb:g} GB on {ph.platform or 'given price'}" if ph.kind == "storage" else \
            f"{ph.num_gpus}x {ph.gpu} {ph.platform or '(cheapest platform)'} {ph.pricing}"
        t.add_row(ph.name, ph.kind, where.strip(), f"{p.runs:g}" if ph.kind != "storage" else "-",
                  _usd(p.usd_per_run), *[f"{x:,.2f}" for x in p.usd_per_month], _usd(p.total_usd))
    t.add_row("[bold]total[/]", "", "", "", "", *[f"{x:,.2f}" for x in res.monthly_usd], f"[bold]{_usd(res.total_usd)}[/]")
    console.print(t)
    alt = _table("cheaper ways to run each train phase (saving over the phase; negative = costs more)",
                 ["phase", "alternative", "option", "$ / run", "$ saving"])
    for p in res.phases:
        for a in p.alternatives:
            alt.add_row(p.phase.name, a.label, a.option or "none fits", _usd(a.usd_per_run), _usd(a.saving_usd))
    if alt.row_count:
        console.print(alt)
    for p in res.phases:
        for note in p.notes:
            console.print(f"[yellow]note ({p.phase.name}):[/] {note}", highlight=False)


def render_buy_vs_rent(res) -> None:
    console = _console()
    j = res.to_json()
    o, r = j["owned"], j["rent"]
    t = _table(f"buy vs rent: {res.runs_per_month:g} runs a month", ["", "owned", "rented (best offer)"])
    t.add_row("hardware", f"{o['num_gpus']}x {o['gpu']} (${o['purchase_usd']:,.0f} each)",
              "none fits" if r is None else f"{r['num_gpus']}x {r['gpu']} {r['platform']} {r['instance']} ({r['pricing']})")
    t.add_row("hours / run", f"{o['hours_per_run']:.2f}" + ("" if o["fits"] else " [red](does not fit)[/]"),
              "-" if r is None else f"{r['hours_per_run']:.2f}")
    t.add_row("$ / month", f"{_usd(o['usd_per_month'])} = energy {_usd(o['energy_usd_per_month'])} + depreciation "
                           f"{_usd(o['depreciation_usd_per_month'])}", "-" if r is None else _usd(r["usd_per_month"]))
    be = j["break_even_month"]
    life = res.owned.depreciation_years * 12
    t.add_row("break-even", "never (renting costs less than the electricity)" if be is None else
              f"month {be}" + (f" (after the {life:g}-month depreciation period)" if be > life else ""), "")
    saving = j["annual_saving_usd"]
    t.add_row("annual saving", "-" if saving is None else
              (f"buying saves {_usd(saving)}/year" if saving > 0 else f"renting saves {_usd(-saving)}/year"), "")
    console.print(t)
    for note in j["notes"]:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
