"""`frugaltune probe` for people: what was measured, the whole run projected from it, the estimate beside it."""

from __future__ import annotations

ROWS = (  # (label, section, key, format, vs_estimate key)
    ("tokens/s (warm-up excluded)", "measured", "tokens_per_sec", "{:,.1f}", "tokens_per_sec"),
    ("peak memory GB (allocated)", "measured", "peak_memory_allocated_gb", "{:.3f}", "peak_memory_gb"),
    ("peak memory GB (reserved)", "measured", "peak_memory_reserved_gb", "{:.3f}", None),
    ("checkpoint save s", "measured", "checkpoint_save_seconds", "{:.2f}", None),
    ("one evaluation s", "measured", "eval_seconds", "{:.2f}", None),
    ("start-up s", "measured", "setup_seconds", "{:.1f}", None),
    ("run: training hours", "projection", "train_hours", "{:.4f}", "train_hours"),
    ("run: hours (all of it)", "projection", "hours", "{:.4f}", None),
    ("run: billed hours", "projection", "billed_hours", "{:.4f}", "billed_hours"),
    ("run: cost USD", "projection", "cost_usd", "${:,.4f}", "cost_usd"),
)


def render(result: dict, console=None, fmt: str = "table") -> None:
    """The probe as a table (80 columns): measured and projected | estimate | ratio, then alternatives; `fmt`
    csv/md: the same tables as files (the lines around them go to stderr)."""
    from frugaltune.report.multi import _out
    from frugaltune.report.render import format_cell
    from frugaltune.sheet import Col, Sheet

    m, run, vs = result["measured"], result["run"], result.get("vs_estimate") or {}
    machine = result["machine"].get("name") or result["machine"].get("device")
    head = (f"probe of {result['run_name']} ({result['method']}, {result['model']}) on {machine}: "
            f"{m['measured_steps']} steps measured after {m['warmup_steps']} warm-up "
            f"(step-time variation {m['step_time_cv']:.0%}{', settled' if m['settled'] else ''}); the run: "
            f"{run['steps']:,} steps, {run['evaluations']} evaluations, {run['checkpoints']} checkpoints.")
    cols = [Col("figure"), Col("here", "right")]
    if result.get("estimate"):
        cols += [Col("estimate", "right"), Col("ratio", "right")]
    sheet = Sheet("", cols)
    for label, section, key, fmt_, vs_key in ROWS:
        cells = [label, format_cell(fmt_, result[section].get(key))]
        if result.get("estimate"):
            pair = vs.get(vs_key) or {}
            ratio = pair.get("ratio")
            cells += [format_cell(fmt_, pair.get("estimated")), f"{ratio:.2f}x" if ratio is not None else ""]
        sheet.add(cells)
    sheets = [sheet] + _alternatives(result)
    if fmt == "table":
        _out([], [head], console, fmt)
        _out(sheets, [_footer(result)], console, fmt)
    else:
        _out(sheets, [head, _footer(result)], console, fmt)


def _alternatives(result: dict) -> list:
    alts = result.get("alternatives") or []
    if not alts:
        return []
    from frugaltune.report.render import format_cell
    from frugaltune.sheet import Col, Sheet

    sheet = Sheet("the planner's cheapest options, at the speed measured here",
                  [Col("GPU"), Col("platform"), Col("tokens/s", "right"), Col("billed h", "right"),
                   Col("cost USD", "right")])
    for a in alts:
        gpu = a["gpu"] if a["num_gpus"] == 1 else f"{a['num_gpus']}x {a['gpu']}"
        sheet.add([gpu, a["platform"], f"{a['tokens_per_sec']:,.0f}", f"{a['billed_hours']:.3f}",
                   format_cell("${:,.2f}", a["cost_usd"])])
    return [sheet]


def _footer(result: dict) -> str:
    proj = result["projection"]
    lines = []
    if proj.get("usd_per_hour") is not None:
        lines.append(f"priced at ${proj['usd_per_hour']:.4g}/h ({result.get('price_source')})")
    else:
        lines.append("no price for this machine: set cost.usd_per_hour to price it")
    if result.get("note"):
        lines.append(result["note"])
    if result.get("calibration_record"):
        lines.append(f"measurement recorded in {result['calibration_record']}")
    if result.get("kept"):
        lines.append(f"probe run kept in {result['kept']}")
    return "; ".join(lines) + "."
