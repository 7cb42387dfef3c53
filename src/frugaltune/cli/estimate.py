"""`frugaltune estimate`: one job on one GPU/platform -> memory, speed, time and dollars.

The fastest command (scripts call it in loops): `--json` imports nothing beyond the estimator and the stdlib, and
writes JSON without importing json (frugaltune/jsonout.py); the table adds only frugaltune.console.
"""

from __future__ import annotations

from frugaltune.cli.commands import command
from frugaltune.cli.options import ESTIMATE_OPTIONS


def estimate_from_options(values: dict):
    """frugaltune.estimate.build.estimate called with the parsed flags."""
    from frugaltune.estimate import build as api

    kwargs = dict(values)
    kwargs.pop("json_out", None)
    kwargs.pop("format", None)
    catalog = kwargs.pop("catalog", None)
    return api.estimate(catalog_dirs=[catalog] if catalog else None, **kwargs)


@command("estimate", ESTIMATE_OPTIONS)
def estimate_command(**values) -> int:
    """Estimate peak GPU memory, tokens/s, hours and dollars of one fine-tuning job.

    Exit codes: 0 ok, 2 bad input (unknown GPU/model/platform, impossible sizes), 3 the job does not fit in the
    GPU's memory (the estimate is still printed, with a warning saying what would fit).
    """
    result = estimate_from_options(values)
    fmt = "json" if values["json_out"] else values.get("format", "table")
    if fmt == "json":
        from frugaltune.jsonout import dumps  # json.dumps(indent=2)'s text without importing json (start-up)

        print(dumps(result.to_json()))
    elif fmt == "table":
        from frugaltune.cli.estimate_table import render_estimate

        render_estimate(result)
    else:
        from frugaltune.cli.estimate_table import estimate_sheet
        from frugaltune.sheet import emit

        emit([estimate_sheet(result)], fmt, result.warnings)
    return 0 if result.memory.fits else 3
