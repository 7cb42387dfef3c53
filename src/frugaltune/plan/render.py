"""The planner's results as sheets (frugaltune.sheet): tables for people that fit the terminal (a narrow column set
below 120 columns), or CSV / Markdown for files. `--json` is each result's own `to_json()`, not rendered here."""

from __future__ import annotations

from collections import Counter

from frugaltune.plan.method import option_label
from frugaltune.plan.search import Comparison, total_usd, wall_hours
from frugaltune.sheet import Col, Sheet, emit


def usd(x) -> str:
    """Dollars as the tables print them: cents, or four decimals below a cent (never '$0.00' for a real cost)."""
    if x is None:
        return "-"
    if 0 < abs(x) < 0.01:
        return f"{'-' if x < 0 else ''}${abs(x):.4f}"
    return f"-${-x:,.2f}" if x < 0 else f"${x:,.2f}"


def _note(text: str) -> str:
    return f"[yellow]note:[/] {text}"


def comparison_sheet(cmp: Comparison, top: int = 20) -> Sheet:
    """Ranked options; the narrow set folds GPU count, platform, region and pricing into two columns."""
    job = cmp.job
    sheet = Sheet(f"{job.model.name} · {job.method} · {job.dataset_size:,} samples x {job.tokens_per_sample:g} tokens "
                  f"x {job.epochs:g} epochs · sorted by {cmp.sort}", [
                      Col("#", "right"), Col("mark", show="wide"), Col("GPU", show="wide"),
                      Col("GPUs", "right", show="wide"), Col("platform", show="wide"), Col("instance", show="wide"),
                      Col("region", show="wide"), Col("pricing", show="wide"), Col("machine", show="narrow"),
                      Col("where", show="narrow"), Col("peak GB", "right"), Col("tok/s", "right", show="wide"),
                      Col("hours", "right"), Col("$ total", "right"),
                      Col("$ P90", "right", show="both" if any(c.pricing == "spot" for c, _e in cmp.ranked[:top or None])
                          else "wide")],
                  caption="► chosen (rank 1)  $ cheapest  ⚡ fastest  ◆ Pareto front (cost vs time) · spot: "
                          "expected cost incl. interruptions, at the median price over the region's zones")
    shown = cmp.ranked if top <= 0 else cmp.ranked[:top]
    if any((e.cost_breakdown.spot or {}).get("spread_note") for _c, e in shown):
        sheet.caption += (" · a P90 below $ total: most runs are never interrupted, the mean also counts the few "
                          "that are")
    same_place = Counter(_place(c) for c, _e in shown)
    for i, (cand, est) in enumerate(shown):
        o = cand.offer
        marks = ("►" if i == 0 else "") + ("$" if i == cmp.cheapest else "") + ("⚡" if i == cmp.fastest else "") + \
            ("◆" if cmp.pareto[i] else "")
        spot = est.cost_breakdown.spot or {}
        pricing = cand.pricing + (" (scarce)" if cand.pricing == "spot" and o.spot_scarce else "")
        sheet.add([f"{i + 1}", marks, o.gpu, cand.num_gpus, o.platform, o.instance, o.region, pricing,
                   f"{marks} {cand.num_gpus}x {o.gpu}".strip(),
                   # two offers of one platform and region (RunPod's Community and Secure Cloud) name their instance
                   " ".join([o.platform] + ([o.instance] if same_place[_place(cand)] > 1 else []) + [o.region, pricing]),
                   f"{est.memory.peak_gb_per_gpu:.1f}", f"{est.throughput.tokens_per_sec:,.0f}",
                   f"{wall_hours(est):.2f}", usd(total_usd(est)), usd(spot.get("p90_cost_usd"))],
                  style="bold green" if i == 0 else None)
    return sheet


def _place(cand) -> tuple:
    """What the narrow table's machine and where columns show of an option, without its instance."""
    return cand.offer.gpu, cand.num_gpus, cand.offer.platform, cand.offer.region, cand.pricing


def comparison_notes(cmp: Comparison, top: int, show_rejected: bool) -> list[str]:
    shown = len(cmp.ranked) if top <= 0 else min(top, len(cmp.ranked))
    notes = []
    for idx, label in ((cmp.cheapest, "cheapest"), (cmp.fastest, "fastest")):
        if idx is not None and idx >= shown:
            cand, est = cmp.ranked[idx]
            notes.append(f"{label}: #{idx + 1} {option_label(cand)} {usd(total_usd(est))}, {wall_hours(est):.2f} h")
    if len(cmp.ranked) > shown:
        notes.append(f"{len(cmp.ranked) - shown} more options (--top 0 shows all)")
    if cmp.rejected and not show_rejected:
        kinds = Counter(r.reason.split(":")[0].split(" (")[0] for r in cmp.rejected)
        notes.append(f"rejected {len(cmp.rejected)}: " + ", ".join(f"{k}: {n}" for k, n in kinds.most_common()) +
                     " (--show-rejected lists each)")
    return notes + [_note(n) for n in cmp.notes]


def rejections_sheet(cmp: Comparison) -> Sheet:
    sheet = Sheet("rejected", [Col("GPU", show="wide"), Col("GPUs", "right", show="wide"), Col("platform", show="wide"),
                               Col("instance", show="wide"), Col("region", show="wide"), Col("pricing", show="wide"),
                               Col("option", show="narrow"), Col("reason")])
    for r in cmp.rejected:
        o, c = r.candidate.offer, r.candidate
        sheet.add([o.gpu, c.num_gpus, o.platform, o.instance, o.region, c.pricing,
                   f"{c.num_gpus}x {o.gpu} {o.platform} {o.region} {c.pricing}", r.reason])
    return sheet


def render_comparison(cmp: Comparison, top: int = 20, show_rejected: bool = False, fmt: str = "table") -> None:
    """The ranked options (rank 1 = chosen, marked), cheapest/fastest/Pareto marks, then the rejections."""
    sheets = [comparison_sheet(cmp, top)] + ([rejections_sheet(cmp)] if show_rejected and cmp.rejected else [])
    emit(sheets, fmt, comparison_notes(cmp, top, show_rejected))


def impact_sheet(imp, gpu_name: str) -> Sheet:
    b = imp.rows[0].estimate.job
    base = f"{b.method}, {b.precision}, {'ckpt' if b.grad_ckpt else 'no ckpt'}, " \
           f"{'packing' if b.packing else 'no packing'}, {b.optimizer}"
    sheet = Sheet(f"optimization impact on {gpu_name} (baseline: {base})", [
        Col("mark", show="wide"), Col("method", show="wide"), Col("precision", show="wide"), Col("ckpt", show="wide"),
        Col("packing", show="wide"), Col("optimizer", show="wide"), Col("settings", show="narrow"),
        Col("peak GB", "right"), Col("fits", show="wide"), Col("tok/s", "right", show="wide"), Col("hours", "right"),
        Col("$ total", "right"), Col("speedup", "right"), Col("$ saved", "right")],
        caption="B baseline  ► best (cheapest that fits)  ✗ does not fit")
    for i, r in enumerate(imp.rows):
        e, s = r.estimate, r.settings
        j = e.job
        mark = ("B" if r.baseline else "") + ("►" if i == imp.best else "")
        saved = "-" if r.usd_saved is None else f"{usd(r.usd_saved)} ({r.pct_saved:.0f}%)"
        method = s.get("method", j.method)
        settings = " ".join(x for x in (mark, method, j.precision, "ckpt" if j.grad_ckpt else "",
                                        "packed" if j.packing else "", j.optimizer) if x)
        peak = ("" if e.memory.fits else "[red]✗[/]") + f"{e.memory.peak_gb_per_gpu:.1f}"
        sheet.add([mark, method, j.precision, "yes" if j.grad_ckpt else "no", "yes" if j.packing else "no",
                   j.optimizer, settings, peak, "yes" if e.memory.fits else "[red]no[/]",
                   f"{e.throughput.tokens_per_sec:,.0f}", f"{wall_hours(e):.2f}", usd(e.cost_breakdown.total_cost),
                   f"{r.speedup:.1f}x", saved], style="bold green" if i == imp.best else None)
    return sheet


def render_impact(imp, gpu_name: str, fmt: str = "table") -> None:
    emit([impact_sheet(imp, gpu_name)], fmt, [_note(n) for n in imp.notes])


def tradeoff_sheets(rec) -> list[Sheet]:
    """The trade-off matrix as two sheets: this job's numbers per method, and the rules-of-thumb words."""
    ch = rec.choice
    numbers = Sheet("trade-offs: this job on each method's cheapest option (► at its tuned settings, the others at "
                    "their lightest)", [
        Col("method"), Col("peak GB", "right"), Col("$ / run", "right"), Col("hours", "right"), Col("option")])
    words = Sheet("trade-offs: rules of thumb", [Col("method"), Col("VRAM"), Col("data needed"), Col("quality"),
                                                 Col("complexity"), Col("opex"), Col("exit cost")])
    for row in ch.matrix:
        chosen = row["method"] == ch.method
        name = ("► " if chosen else "") + row["method"]
        peak = "-" if row["peak_gb_per_gpu"] is None else f"{row['peak_gb_per_gpu']:.1f}"
        hours = "-" if row["hours"] is None else f"{row['hours']:.2f}"
        option = row["cheapest_option"] or ("after SFT" if row["method"] == "dpo" else "none fits")
        numbers.add([name, peak, usd(row["cheapest_usd"]), hours, option], style="bold green" if chosen else None)
        words.add([name, row["vram"], row["data"], row["quality"], row["complexity"], row["opex"], row["exit_cost"]])
    return [numbers, words]


def settings_sheet(rec) -> Sheet:
    s, e, c = rec.settings, rec.estimate, rec.candidate
    where = f"{rec.job.num_gpus}x {e.hardware.gpu} (yours)" if c is None else option_label(c)
    sheet = Sheet(f"settings that fit: {where}", [Col("setting"), Col("value")])
    j = s.to_json()
    for key in ("method", "precision", "micro_batch", "grad_accum", "global_batch_sequences", "grad_ckpt",
                "optimizer", "zero_stage", "cpu_offload", "lora_r", "lora_targets"):
        value = j[key]
        sheet.add([key, ", ".join(value) if isinstance(value, list) else value])
    sheet.add(["peak / limit", f"{j['peak_gb_per_gpu']:.1f} GB / {j['limit_gb_per_gpu']:.1f} GB per GPU "
                               f"({s.safety_margin:.0%} margin)"])
    sheet.add(["training", f"{e.job.steps_total:,} steps x {e.job.global_batch_sequences} sequences, "
                           f"{e.job.epochs:g} epochs"])
    sheet.add(["speed", f"{e.throughput.tokens_per_sec:,.0f} tokens/s · {wall_hours(e):.2f} h"])
    sheet.add(["cost", "not priced (your own GPU)" if c is None else usd(total_usd(e)) +
               (" expected (mean)" if e.cost_breakdown.spot else "")])
    spot = e.cost_breakdown.spot
    if spot:
        sheet.add(["spot", f"P10 {usd(spot.get('p10_cost_usd'))} · P50 {usd(spot.get('p50_cost_usd'))} · "
                           f"P90 {usd(spot.get('p90_cost_usd'))} · {_spot_cadence(spot)}"])
    return sheet


def _spot_cadence(spot: dict) -> str:
    """Young-Daly's checkpoint interval and the interruptions expected; with none expected there is no interval."""
    interval, expected = spot.get("checkpoint_interval_min"), spot.get("expected_interruptions")
    if interval is None or not expected:
        return "no interruptions expected"
    return f"checkpoint every {interval:.0f} min (Young-Daly) · {expected:.2f} interruptions expected"


def render_recommendation(rec, fmt: str = "table") -> None:
    """Why this method, the trade-off matrix, the hardware and the settings (with their reasons)."""
    from frugaltune.console import Console

    ch, width = rec.choice, Console().width
    head = [f"[bold]method: {ch.method}[/]" + (f" + ZeRO-{ch.zero_stage}" if ch.zero_stage else "")]
    head += [_bullet(line, width) for line in ch.why + ch.then]
    spot = rec.estimate.cost_breakdown.spot or {}
    tail = [_bullet(line, width) for line in rec.settings.why + rec.notes]
    tail += [_note(spot["spread_note"])] if spot.get("spread_note") else []
    if fmt == "table":
        Console().print("\n".join(head))
        emit([*tradeoff_sheets(rec), settings_sheet(rec)], fmt, tail)
        return
    emit([*tradeoff_sheets(rec), settings_sheet(rec)], fmt, head + tail)


def _bullet(text: str, width: int) -> str:
    """'  · text', wrapped at spaces to `width` with its continuation lines under the text."""
    from frugaltune.console import fill

    return fill(text, width, initial_indent="  · ", subsequent_indent="    ")


def budget_sheets(res) -> list[Sheet]:
    months = res.spec.months
    total = Sheet(f"budget: {months} months", [
        Col("phase"), Col("kind", show="wide"), Col("where"), Col("runs", "right"), Col("$ / run", "right"),
        *[Col(f"m{m}", "right", show="wide") for m in range(1, months + 1)], Col("$ total", "right")])
    for p in res.phases:
        ph = p.phase
        where = f"{ph.gb:g} GB on {ph.platform or 'given price'}" if ph.kind == "storage" else \
            f"{ph.num_gpus}x {ph.gpu} {ph.platform or '(cheapest platform)'} {ph.pricing}"
        total.add([ph.name, ph.kind, where.strip(), f"{p.runs:g}" if ph.kind != "storage" else "-", usd(p.usd_per_run),
                   *[f"{x:,.2f}" for x in p.usd_per_month], usd(p.total_usd)])
    total.add(["[bold]total[/]", "", "", "", "", *[f"{x:,.2f}" for x in res.monthly_usd],
               f"[bold]{usd(res.total_usd)}[/]"])
    by_month = Sheet("per month", [Col("month", "right"), *[Col(p.phase.name, "right") for p in res.phases],
                                   Col("$ total", "right")])
    for m in range(months):
        by_month.add([f"m{m + 1}", *[f"{p.usd_per_month[m]:,.2f}" for p in res.phases], usd(res.monthly_usd[m])])
    alt = Sheet("cheaper ways to run each train phase (saving over the phase; negative = costs more)",
                [Col("phase"), Col("alternative"), Col("option"), Col("$ / run", "right"), Col("$ saving", "right")])
    for p in res.phases:
        for a in p.alternatives:
            alt.add([p.phase.name, a.label, a.option or "none fits", usd(a.usd_per_run), usd(a.saving_usd)])
    return [total, by_month] + ([alt] if alt.rows else [])


def render_budget(res, fmt: str = "table") -> None:
    sheets = budget_sheets(res)
    from frugaltune.console import Console
    from frugaltune.sheet import WIDE_COLUMNS

    if fmt != "table" or Console().width >= WIDE_COLUMNS:
        sheets = [sheets[0]] + sheets[2:]  # the month columns are in the first sheet already
    notes = [f"[yellow]note ({p.phase.name}):[/] {n}" for p in res.phases for n in p.notes]
    emit(sheets, fmt, notes)


def buy_vs_rent_sheet(res) -> Sheet:
    j = res.to_json()
    o, r = j["owned"], j["rent"]
    load = (f"{res.hours_per_month:g} hours of use" if res.hours_per_month is not None else
            f"{res.runs_per_month:g} runs")
    sheet = Sheet(f"buy vs rent: {load} a month", [Col(""), Col("owned"), Col("rented (same GPU)")])
    sheet.add(["hardware", f"{o['num_gpus']}x {o['gpu']} (${o['purchase_usd']:,.0f} each)",
               "none fits" if r is None else f"{r['num_gpus']}x {r['gpu']} {r['platform']} {r['instance']} "
                                             f"({r['pricing']})"])
    if res.hours_per_month is None:
        sheet.add(["hours / run", f"{o['hours_per_run']:.2f}" + ("" if o["fits"] else " [red](does not fit)[/]"),
                   "-" if r is None else f"{r['hours_per_run']:.2f}"])
    sheet.add(["$ / month", f"{usd(o['usd_per_month'])} = energy {usd(o['energy_usd_per_month'])} + depreciation "
                            f"{usd(o['depreciation_usd_per_month'])}", "-" if r is None else usd(r["usd_per_month"])])
    sheet.add(["break-even", _break_even_text(res), ""])
    saving = j["annual_saving_usd"]
    sheet.add(["annual saving", "-" if saving is None else
               (f"buying saves {usd(saving)}/year" if saving > 0 else f"renting saves {usd(-saving)}/year"), ""])
    return sheet


def _break_even_text(res) -> str:
    life = res.useful_life_months
    if res.break_even_month is not None:
        return f"month {res.break_even_month} (within the {life:g}-month useful life)"
    if res.payback_month is None:
        return "never (renting costs no more than the electricity)" if res.rent_usd_per_month is not None else "-"
    return (f"never within the {life:g}-month useful life (the depreciation period, --depreciation-years): "
            f"cash break-even only at month {res.payback_month}")


def render_buy_vs_rent(res, fmt: str = "table") -> None:
    emit([buy_vs_rent_sheet(res)], fmt, [_note(n) for n in res.notes])


def tokens_text(tokens: int) -> str:
    """1234567 -> '1.2M', 4000000000 -> '4.0B', 790000000 -> '790M'."""
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if tokens >= scale:
            value = tokens / scale
            return f"{value:.0f}{unit}" if value >= 10 else f"{value:.1f}{unit}"
    return str(tokens)


def afford_sheet(res) -> Sheet:
    per = "one run" if res.per == "run" else "a month"
    sheet = Sheet(f"what ${res.budget_usd:,.2f} buys ({per}): training tokens per model and method", [
        Col("model"), Col("params", "right", show="wide"), Col("method"), Col("tokens", "right"),
        Col("samples of 500 tokens", "right", show="wide"), Col("GPUs", "right", show="wide"),
        Col("GPU", show="wide"), Col("platform", show="wide"), Col("instance", show="wide"),
        Col("region", show="wide"), Col("pricing", show="wide"), Col("on", show="narrow"), Col("hours", "right"),
        Col("$", "right"), Col("why none", show="wide")])
    for r in res.rows:
        c, e = r.candidate, r.estimate
        if c is None:
            sheet.add([r.model, tokens_text(r.params), r.method, "0", "-", "-", "-", "-", "-", "-", "-", r.reason,
                       "-", "-", r.reason])
            continue
        o = c.offer
        sheet.add([r.model, tokens_text(r.params), r.method, tokens_text(r.tokens), f"{int(r.tokens / 500):,}",
                   c.num_gpus, o.gpu, o.platform, o.instance, o.region, c.pricing,
                   f"{c.num_gpus}x {o.gpu} {o.platform} {c.pricing}", f"{wall_hours(e):.1f}", usd(total_usd(e)), ""])
    return sheet


def render_afford(res, fmt: str = "table") -> None:
    emit([afford_sheet(res)], fmt, [_note(n) for n in res.notes])
