"""`frugaltune estimate`: one job on one GPU/platform -> memory, speed, time and dollars."""

from __future__ import annotations

import json

from frugaltune.cli.app import app
from frugaltune.cli.estimate_table import render_estimate
from frugaltune.cli.fast import estimate_from_options
from frugaltune.cli.options import ESTIMATE_OPTIONS, with_options


def estimate_command(**kwargs) -> None:
    """Estimate peak GPU memory, tokens/s, hours and dollars of one fine-tuning job.

    Exit codes: 0 ok, 2 bad input (unknown GPU/model/platform, impossible sizes).
    """
    result = estimate_from_options(kwargs)
    if kwargs.get("json_out"):
        print(json.dumps(result.to_json(), indent=2))
    else:
        render_estimate(result)


app.command("estimate")(with_options(estimate_command, ESTIMATE_OPTIONS))
