"""`frugaltune report RUN... --html FILE`: one self-contained page (inline CSS and SVG; no script, no network).

Charts share one x axis, billed time (minutes; hours past 3 h): the machine time the run has paid for (each attempt
from its process start to its last event, attempts laid end to end), so an interruption and the resume after it sit
side by side and the cost line is straight. Every chart marks interruptions (an attempt that ended with a signal, or vanished)
and resumes (from which step). The cost chart draws the dollars accumulated against the estimate's band
(`cost_breakdown.total_cost_range` when the estimator gives one) when the estimate is for the machine measured.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from frugaltune.report import hardware, ledger
from frugaltune.report.svg import PALETTE, Band, Chart, Marker, Series, line_chart

CSS = """body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:760px;
color:#222}h1{font-size:20px}h2{font-size:16px;margin-top:28px}table{border-collapse:collapse;margin:8px 0}
td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}td:first-child,th:first-child{text-align:left}
svg{display:block;margin:10px 0;font-size:11px}svg .title{font-size:13px;font-weight:600}.note{color:#555}"""


def timeline(events: list[dict]) -> tuple[dict[int, float], dict[int, float]]:
    """(attempt -> its start in billed minutes, attempt -> its own start time): attempts laid end to end."""
    starts, ends = {}, {}
    for e in events:
        a = e["attempt"]
        begin = min(e.get("started", e["time"]), e["time"]) if e["event"] == "attempt_start" else e["time"]
        starts[a] = min(starts.get(a, begin), begin)
        ends[a] = max(ends.get(a, e["time"]), e["time"])
    offset, out = 0.0, {}
    for a in sorted(starts):
        out[a] = offset
        offset += (ends[a] - starts[a]) / 60
    return out, starts


def billed_minute(e: dict, offsets: dict[int, float], starts: dict[int, float]) -> float:
    return offsets[e["attempt"]] + (e["time"] - starts[e["attempt"]]) / 60


def markers(events: list[dict], suffix: str = "") -> list[Marker]:
    """Interruptions (SIGTERM, or an attempt that vanished before the next began) and resumes, in billed minutes."""
    offsets, starts = timeline(events)
    last = {}
    for e in events:
        last[e["attempt"]] = e
    out = []
    for e in events:
        x = billed_minute(e, offsets, starts)
        if e["event"] == "interrupted":
            out.append(Marker(x, f"interrupted at step {e.get('step')}{suffix}", "interrupted"))
        elif e["event"] == "resume":
            out.append(Marker(x, f"resumed from step {e.get('from_step')}{suffix}", "resumed"))
    for a, e in last.items():
        if a != max(last) and e["event"] not in ("interrupted", "finished", "failed"):
            out.append(Marker(billed_minute(e, offsets, starts), f"killed{suffix}", "killed"))
    return out


def _points(events: list[dict], kind: str, key: str) -> list[tuple[float, float]]:
    offsets, starts = timeline(events)
    return [(billed_minute(e, offsets, starts), float(e[key])) for e in events
            if e["event"] == kind and isinstance(e.get(key), (int, float))]


def _cost_band(summary: dict) -> Band | None:
    est = hardware.applicable_estimate(summary)
    if not est:
        return None
    c = est.get("cost_breakdown") or {}
    mid = c.get("compute_cost") if c.get("compute_cost") is not None else c.get("total_cost")
    low, high = (c.get("total_cost_range") or [None, None])[:2]
    if low is None or high is None:
        if mid is None:
            return None
        low, high = mid, mid
    gpu = (est.get("hardware") or {}).get("gpu")
    return Band(float(low), float(high), f"estimate for {gpu}: ${low:,.4g}-${high:,.4g}", mid)


def charts(runs: list[tuple[str, dict, list[dict]]]) -> list[Chart]:
    """The report's charts for one or several (name, summary, events) runs."""
    many = len(runs) > 1
    specs = [("loss", "loss"), ("tokens/s (active training)", "tokens/s"), ("memory", "GB"),
             ("GPU utilisation", "%"), ("cost so far", "USD")]
    out = [Chart(title, "billed minutes", unit) for title, unit in specs]
    for i, (name, summary, events) in enumerate(runs):
        tag, color = (f" ({name})" if many else ""), PALETTE[i % len(PALETTE)]
        alt = PALETTE[(i + 1) % len(PALETTE)] if not many else color
        out[0].series += [Series("train" + tag, _points(events, "step", "loss"), color),
                          Series("eval" + tag, _points(events, "eval", "eval_loss"), alt, dashed=True, dots=True)]
        out[1].series.append(Series("tokens/s" + tag, _points(events, "step", "tokens_per_sec"), color))
        out[2].series += [Series("peak (process)" + tag, _points(events, "step", "peak_memory_gb"), color),
                          Series("GPU in use" + tag, _points(events, "gpu", "memory_used_gb"), alt, dashed=True)]
        out[3].series.append(Series("utilisation" + tag, _points(events, "gpu", "utilization_pct"), color))
        out[4].series.append(Series("cost" + tag, _cost_points(summary, events), color))
        for chart in out:
            chart.markers += markers(events, tag)
        if not many:
            out[4].band = _cost_band(summary)
    out[3].empty_note = "no GPU samples: the run was not on a CUDA GPU, or nvidia-ml-py was not installed"
    out[4].empty_note = "no price: set cost.usd_per_hour (or cost.gpu on a GPU the catalog prices)"
    return _shared_time_axis(out)


def _shared_time_axis(drawn: list[Chart]) -> list[Chart]:
    """One x axis for all charts, from the first billed second; in hours when the run is longer than 3 hours."""
    end = max((x for c in drawn for s in c.series for x, _ in s.points), default=1.0)
    scale, label = (1 / 60, "billed hours") if end > 180 else (1.0, "billed minutes")
    for chart in drawn:
        chart.x_label, chart.x_range = label, (0.0, end * scale)
        for s in chart.series:
            s.points = [(x * scale, y) for x, y in s.points]
        for m in chart.markers:
            m.x *= scale
    return drawn


def _cost_points(summary: dict, events: list[dict]) -> list[tuple[float, float]]:
    """Dollars accumulated at each event: billed minutes x the run's hourly price."""
    price = summary.get("usd_per_hour")
    if price is None:
        return []
    offsets, starts = timeline(events)
    return [(m, m / 60 * price) for m in (billed_minute(e, offsets, starts) for e in events)]


def _summary_table(summary: dict) -> str:
    from frugaltune.report import compare
    from frugaltune.report.render import ROWS, _notes, format_cell

    est = hardware.applicable_estimate(summary)
    vs = compare.vs_estimate(summary, est)
    head = "<tr><th>figure</th><th>measured</th>" + ("<th>estimated</th><th>ratio</th>" if est else "") + "</tr>"
    rows = []
    for key, label, fmt in ROWS:
        cells = [label, format_cell(fmt, summary.get(key))]
        if est:
            ratio = vs.get(key, {}).get("ratio")
            cells += [format_cell(fmt, vs.get(key, {}).get("estimated")), f"{ratio:.2f}x" if ratio is not None else ""]
        rows.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in cells) + "</tr>")
    note = escape("; ".join(_notes(summary, est)) + ".")
    return f'<table class="summary">{head}{"".join(rows)}</table><p class="note">{note}</p>'


def _side_by_side(runs: list[tuple[str, dict, list[dict]]]) -> str:
    from frugaltune.report.multi import best_of, comparison_rows

    summaries = [s for _, s, _ in runs]
    head = "<tr><th>figure</th>" + "".join(f"<th>{escape(n)}</th>" for n, _, _ in runs) + "</tr>"
    body = "".join("<tr><td>" + escape(label) + "</td>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>"
                   for label, cells in comparison_rows(summaries))
    picks = "; ".join(f"{what}: {escape(runs[i][0])}" for what, i in best_of(summaries).items())
    return f'<table class="summary">{head}{body}</table><p class="note">{picks}.</p>'


def render_html(runs: list[tuple[str, dict, list[dict]]]) -> str:
    """The whole page for one or several runs."""
    one = len(runs) == 1
    name, summary, _ = runs[0]
    title = (f"{name}: {summary.get('method')} on {summary.get('model')}" if one
             else "runs compared: " + ", ".join(n for n, _, _ in runs))
    table = _summary_table(summary) if one else _side_by_side(runs)
    svgs = "\n".join(line_chart(c) for c in charts(runs))
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{CSS}</style></head><body>\n<h1>{escape(title)}</h1>\n<h2>Summary</h2>\n{table}\n"
            f"<h2>Over the run</h2>\n{svgs}\n<p class=\"note\">x axis: billed time (each attempt from its process "
            "start to its last event; gaps between attempts are not billed). Dashed vertical lines: interruptions "
            "and resumes.</p>\n</body></html>\n")


def write_html(run_dirs: list[str | Path], out: str | Path) -> Path:
    """Write the report of `run_dirs` to `out`; returns its path."""
    from frugaltune.report.render import load_report

    runs = []
    for d in run_dirs:
        summary = load_report(d)
        runs.append((summary.get("run_name") or Path(d).name, summary, ledger.read_events(Path(d) / ledger.METRICS)))
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(runs), encoding="utf-8")
    return path
