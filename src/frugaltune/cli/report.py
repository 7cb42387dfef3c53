"""`frugaltune report`, `frugaltune probe`, `frugaltune calibration list|export|import`: did it really cost that?"""

from __future__ import annotations

import sys

from frugaltune.cli.commands import command
from frugaltune.cli.options import FORMAT, Opt, argument, switch

JSON = switch("json_out", "Print JSON for scripts.", "--json")

PROBE_HELP = """Run CONFIG's first steps here and price the whole run from what they measured.

Sets the run up exactly as `frugaltune train` would (real data, model and settings, in a scratch directory), times
optimizer steps until their speed settles (step-time variation under 10 %, warm-up left out; at most about three
minutes) or --steps of them, one checkpoint save and one evaluation, then projects the whole configured run:
training hours, hours with start-up, evaluations and saves, billed hours and dollars on this machine's price
(cost.usd_per_hour, or the catalog's price of the GPU measured). On a GPU the catalog knows it shows the catalog
estimate beside it with measured/estimated ratios, and the planner's cheapest options re-priced at the measured
speed; on a CPU it projects this machine only. The measurement goes to the calibration store
(~/.config/frugaltune/measurements.jsonl), so later estimates for this GPU x method use it. Nothing is left behind
unless --keep.
"""

REPORT_HELP = """Show what a run really did (tokens/s, peak memory, hours, dollars, loss, accuracy) beside its estimate.

One RUN_DIR: the measured-vs-estimated table (a CPU or a GPU the catalog does not know is shown alone: no GPU
estimate applies). Several: the runs side by side (cost, time, final loss and accuracy). --html FILE writes one
self-contained page (no network needed) with the charts: loss, tokens/s, memory, GPU utilisation over time and
cost against the estimate's band, interruptions and resumes marked.
"""


@command("probe", [argument("config", "Run YAML to probe.", "CONFIG"),
                    Opt("steps", int, None, "Steps to time (default: until the speed settles).", min=1),
                    switch("keep", "Keep the probe's scratch run directory (checkpoint, ledger)."),
                    switch("no_record", "Do not add the measurement to the calibration store.", "--no-record"),
                    JSON, FORMAT], doc=PROBE_HELP)
def probe_cmd(config: str, steps: int | None, keep: bool, no_record: bool, json_out: bool, format: str) -> int:
    from frugaltune.cli.train import _log_warnings_plainly, _process_start
    from frugaltune.train.probe import probe

    _log_warnings_plainly()
    result = probe(config, steps=steps, keep=keep, record=not no_record, started_at=_process_start())
    if json_out or format == "json":
        import json

        print(json.dumps(result, indent=2, default=str))
    else:
        from frugaltune.report.probe_render import render

        render(result, fmt=format)
    return 0


@command("report", [Opt("run_dirs", str, None, "A run's output.dir; give several to compare runs side by side.",
                        positional=True, required=True, multiple=True, metavar="RUN_DIR..."),
                     Opt("html", str, None, "Write a self-contained HTML report with charts to FILE.",
                         metavar="FILE"),
                     JSON, FORMAT], doc=REPORT_HELP)
def report_cmd(run_dirs: list[str], html: str | None, json_out: bool, format: str) -> int:
    from frugaltune.report.render import load_report

    json_out = json_out or format == "json"

    summaries = [load_report(d) for d in run_dirs]
    if html:
        from frugaltune.report.html import write_html

        path = write_html(run_dirs, html)
        if not json_out:
            print(f"wrote {path}")
    if json_out:
        import json

        print(json.dumps(summaries[0] if len(summaries) == 1 else summaries, indent=2, default=str))
    elif len(summaries) > 1:
        from frugaltune.report.multi import render_side_by_side

        render_side_by_side(summaries, run_dirs, fmt=format)
    elif not html:
        from frugaltune.report.render import render

        render(summaries[0], fmt=format)
    return 0


STORE = [Opt("url", str, None, "Directory or fsspec URL (s3://bucket/prefix) holding the team's files.",
             positional=True, required=True, metavar="URL"),
         Opt("team", str, None, "The team's file name under URL (default: team -> URL/team.jsonl)."), JSON]


@command("calibration list", [JSON, FORMAT])
def calibration_list(json_out: bool, format: str) -> int:
    """List the measurements that calibrate your estimates (finished GPU runs and probes)."""
    from frugaltune.report.calibration_store import local_rows

    rows = local_rows()
    if json_out or format == "json":
        import json

        print(json.dumps(rows, indent=2))
        return 0
    from frugaltune.report.multi import render_measurements

    render_measurements(rows, fmt=format)
    return 0


@command("calibration export", STORE)
def calibration_export(url: str, team: str | None, json_out: bool) -> int:
    """Merge your measurements into the team's file at URL (no duplicates), so everyone's estimates use them."""
    from frugaltune.report.calibration_store import export_rows

    out = export_rows(url, team)
    _print_store(out, json_out, f"exported {out['exported']} new measurement(s) to {out['file']} "
                                f"({out['already_there']} already there; {out['total']} in the team's file)")
    return 0


@command("calibration import", STORE)
def calibration_import(url: str, team: str | None, json_out: bool) -> int:
    """Merge the team's measurements at URL into yours (no duplicates); later estimates use them."""
    from frugaltune.report.calibration_store import import_rows

    out = import_rows(url, team)
    if out["skipped"]:
        print(f"warning: skipped {out['skipped']} row(s) of {out['source']} that are not measurements (no method, "
              "or a tokens/s or memory figure that is not a finite positive number).", file=sys.stderr)
    _print_store(out, json_out, f"imported {out['imported']} new measurement(s) from {out['source']} "
                                f"({out['already_here']} already here; {out['total']} in {out['file']})")
    return 0


def _print_store(out: dict, json_out: bool, line: str) -> None:
    if json_out:
        import json

        print(json.dumps(out, indent=2))
    else:
        print(line)
