"""`frugaltune report RUN_DIR`: one table, measured beside estimated with the ratio."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from frugaltune.report import compare, hardware, ledger

ROWS = (  # (summary key, label, format)
    ("status", "status", "{}"),
    ("steps", "steps", "{:,}"),
    ("tokens_processed", "tokens processed", "{:,}"),
    ("trainable_tokens", "trainable tokens (loss taken)", "{:,}"),
    ("tokens_per_sec", "tokens/s (active training)", "{:,.1f}"),
    ("peak_memory_gb", "peak memory GB", "{:.3f}"),
    ("train_hours", "training hours (active)", "{:.4f}"),
    ("billed_hours", "billed hours (all attempts)", "{:.4f}"),
    ("wall_hours", "wall hours (first start to end)", "{:.4f}"),
    ("cost_usd", "cost USD", "${:.4f}"),
    ("attempts", "attempts", "{}"),
    ("interruptions", "interruptions", "{}"),
    ("steps_redone", "steps redone after kills", "{}"),
    ("checkpoint_save_seconds_mean", "checkpoint save s (mean)", "{:.3f}"),
    ("resume_seconds_mean", "resume s (mean)", "{:.3f}"),
    ("eval_loss_before", "eval loss before training", "{:.4f}"),
    ("eval_accuracy_before", "eval accuracy before training", "{:.3f}"),
    ("final_train_loss", "final train loss", "{:.4f}"),
    ("final_eval_loss", "final eval loss", "{:.4f}"),
    ("eval_accuracy", "eval accuracy", "{:.3f}"),
)


@dataclass(frozen=True)
class RunReport:
    """What a run measured beside its own estimate: `frugaltune report RUN_DIR` as a value.

    `summary` is the run's summary.json (recomputed from metrics.jsonl when newer); `vs_estimate` maps each
    compared figure to {measured, estimated, ratio}.
    """

    run_dir: Path
    summary: dict

    @property
    def status(self) -> str | None:
        return self.summary.get("status")

    @property
    def vs_estimate(self) -> dict[str, dict]:
        return self.summary.get("vs_estimate") or {}

    def measured(self, figure: str):
        """A measured figure by its summary key (tokens_per_sec, peak_memory_gb, billed_hours, cost_usd, ...)."""
        return self.summary.get(figure)

    def to_json(self) -> dict:
        """The summary, as `frugaltune report RUN_DIR --json` prints it."""
        return dict(self.summary)


def report(run_dir: str | Path) -> RunReport:
    """The report of a run directory (a `frugaltune train` output.dir).

    Raises:
        FrugalError: the directory holds no run summary yet.
    """
    return RunReport(Path(run_dir), load_report(run_dir))


def load_report(run_dir: str | Path) -> dict:
    """summary.json, recomputed from metrics.jsonl when events were written after it (e.g. a killed attempt)."""
    run_dir = Path(run_dir)
    summary = ledger.read_summary(run_dir)
    metrics = run_dir / ledger.METRICS
    if metrics.is_file() and metrics.stat().st_mtime > (run_dir / ledger.SUMMARY).stat().st_mtime:
        keep = {k: v for k, v in summary.items() if k not in ledger.summarize([])}
        summary = ledger.summarize(ledger.read_events(metrics), usd_per_hour=summary.get("usd_per_hour"), extra=keep)
        summary["vs_estimate"] = compare.vs_estimate(summary, hardware.applicable_estimate(summary))
    return ledger.finite_summary(summary)


def format_cell(fmt: str, value) -> str:
    if value is None:
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def render(summary: dict, console=None, fmt: str = "table") -> None:
    """Print the run as a table: figure | measured | estimated | measured/estimated; only the measurement
    (and a line saying why) when no estimate applies to the machine the run measured. `fmt` csv/md: the same
    rows as a file (the notes go to stderr)."""
    sheet, estimate = report_sheet(summary)
    notes = ["; ".join(_notes(summary, estimate)) + "."]
    if fmt != "table":
        from frugaltune.sheet import emit

        emit([sheet], fmt, notes)
        return
    from frugaltune.console import Console

    console = console or Console()
    console.print(sheet.table(console.width))
    for note in notes:
        console.print(note)


def report_sheet(summary: dict):
    """(the Sheet of figures measured beside the estimate's, the estimate that applies or None)."""
    from frugaltune.sheet import Col, Sheet

    title = f"{summary.get('run_name', 'run')}: {summary.get('method')} on {summary.get('model')}"
    estimate = hardware.applicable_estimate(summary)
    columns = [Col("figure"), Col("measured", "right")]
    if estimate:
        columns += [Col("estimated", "right"), Col("ratio", "right")]
    sheet = Sheet(title, columns)
    vs = compare.vs_estimate(summary, estimate)
    for key, label, fmt in ROWS:
        est, cells = vs.get(key, {}), [label, format_cell(fmt, summary.get(key))]
        if estimate:
            ratio = est.get("ratio")
            cells += [format_cell(fmt, est.get("estimated")), f"{ratio:.2f}x" if ratio is not None else ""]
        sheet.add(cells)
    return sheet, estimate


def _notes(summary: dict, estimate: dict | None) -> list[str]:
    price = summary.get("usd_per_hour")
    source = " (catalog)" if summary.get("price_source") == "catalog" else ""
    machine = (summary.get("hardware") or {}).get("name") or summary.get("device")
    notes = [f"measured on {machine}" if machine and estimate else None,
             f"priced at ${price:.4g}/h{source}" if price is not None else "no price set (cost.usd_per_hour)"]
    if estimate:
        hw = estimate.get("hardware") or {}
        notes.append(f"estimated for {hw.get('gpu')}" + (f" on {hw['platform']}" if hw.get("platform") else ""))
    notes.append(f"peak memory: {summary.get('peak_memory_source') or '-'}")
    note = hardware.not_applicable_note(summary) if not estimate else None
    notes.append(note or summary.get("estimate_note"))
    return [n for n in notes if n]
