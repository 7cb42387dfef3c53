"""Runs side by side (`frugaltune report RUN1 RUN2 ...`: LoRA r8 vs r16, A10 vs L4) and the measurements table
(`frugaltune calibration list`)."""

from __future__ import annotations

from pathlib import Path

from frugaltune.report.render import format_cell

SIDE_BY_SIDE = (  # (label, summary key, format)
    ("status", "status", "{}"),
    ("machine", "machine", "{}"),
    ("method", "method", "{}"),
    ("steps", "steps", "{:,}"),
    ("tokens/s", "tokens_per_sec", "{:,.0f}"),
    ("peak memory GB", "peak_memory_gb", "{:.2f}"),
    ("training hours", "train_hours", "{:.4f}"),
    ("billed hours", "billed_hours", "{:.4f}"),
    ("cost USD", "cost_usd", "${:,.4f}"),
    ("interruptions", "interruptions", "{}"),
    ("final train loss", "final_train_loss", "{:.4f}"),
    ("final eval loss", "final_eval_loss", "{:.4f}"),
    ("eval accuracy", "eval_accuracy", "{:.3f}"),
)


def comparison_rows(summaries: list[dict]) -> list[tuple[str, list[str]]]:
    """(label, one formatted cell per run) for each figure compared."""
    rows = []
    for label, key, fmt in SIDE_BY_SIDE:
        if key == "machine":
            cells = [(s.get("hardware") or {}).get("name") or s.get("device") or "-" for s in summaries]
        else:
            cells = [format_cell(fmt, s.get(key)) for s in summaries]
        rows.append((label, cells))
    return rows


def best_of(summaries: list[dict]) -> dict[str, int]:
    """Index of the cheapest, the fastest (billed hours) and the most accurate run (lowest eval loss when no run
    has an accuracy), among the runs that report the figure."""
    picks = {}
    for name, key, lowest in (("cheapest", "cost_usd", True), ("fastest", "billed_hours", True),
                              ("most accurate", "eval_accuracy", False), ("lowest eval loss", "final_eval_loss", True)):
        have = [(s[key], i) for i, s in enumerate(summaries) if isinstance(s.get(key), (int, float))]
        if have:
            picks[name] = (min(have) if lowest else max(have))[1]
    return picks


def render_side_by_side(summaries: list[dict], run_dirs: list[str], console=None, fmt: str = "table") -> None:
    from frugaltune.sheet import Col, Sheet

    names = [s.get("run_name") or Path(d).name for d, s in zip(run_dirs, summaries)]
    sheet = Sheet("runs side by side", [Col("figure")] + [Col(n, "right") for n in names])
    for label, cells in comparison_rows(summaries):
        sheet.add([label, *cells])
    _out([sheet], ["; ".join(f"{what}: {names[i]}" for what, i in best_of(summaries).items()) + "."], console, fmt)


def render_measurements(rows: list[dict], console=None, fmt: str = "table") -> None:
    """The calibration store as a table: what was measured, on what, against which estimate."""
    from frugaltune.estimate.measured import measurements_path
    from frugaltune.sheet import Col, Sheet

    if not rows and fmt == "table":
        _out([], [f"no measurements yet in {measurements_path()}: a finished GPU run of `frugaltune train` or a "
                  "`frugaltune probe` adds one."], console, fmt)
        return
    sheet = Sheet(f"measurements ({measurements_path()})",
                  [Col(c, "right" if c in ("tok/s", "est.", "ratio") else "left")
                   for c in ("date", "machine", "method", "model", "tok/s", "est.", "ratio", "from")])
    for r in rows:
        measured, estimated = r.get("measured_tokens_per_sec_per_gpu"), r.get("estimated_tokens_per_sec_per_gpu")
        ratio = measured / estimated if measured and estimated else None
        sheet.add([str(r.get("date", "-")), str(r.get("gpu") or r.get("machine") or r.get("device") or "-"),
                   str(r.get("method", "-")), str(r.get("model", "-"))[-24:], format_cell("{:,.0f}", measured),
                   format_cell("{:,.0f}", estimated), format_cell("{:.2f}", ratio), str(r.get("source", "run"))])
    _out([sheet], ["GPU rows scale later estimates for that GPU x method (median ratio); CPU rows never do."],
         console, fmt)


def _out(sheets: list, notes: list[str], console, fmt: str) -> None:
    """Sheets then notes: on `console` for a table, else as files (sheet.emit: notes to stderr)."""
    if fmt != "table":
        from frugaltune.sheet import emit

        emit(sheets, fmt, notes)
        return
    from frugaltune.console import Console

    console = console or Console()
    for sheet in sheets:
        console.print(sheet.table(console.width))
    for note in notes:
        console.print(note)
