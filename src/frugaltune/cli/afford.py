"""`frugaltune afford`: what a budget buys, model sizes x methods x training tokens, and on which offers."""

from __future__ import annotations

from frugaltune.cli.commands import command
from frugaltune.cli.options import CATALOG, FORMAT, JOB_OPTIONS, JSON, Opt

AFFORD = [
    Opt("budget_usd", float, None, "What you can spend, USD.", required=True, min=0),
    Opt("per", str, "run", "The budget is for one training run, or for a month of runs.", ("run", "month")),
    Opt("model", str, None, "Models to consider (repeat, or comma-separate; default: one per size class, 0.5B to "
        "70B).", multiple=True),
    Opt("gpu", str, None, "Only these GPUs (repeat, or comma-separate).", multiple=True),
    Opt("platform", str, None, "Only these platforms (repeat, or comma-separate).", multiple=True),
    Opt("spot", bool, None, "--spot: spot offers only; --no-spot: on-demand only; default: both."),
    Opt("max_gpus", int, 8, "Most GPUs per option."),
    Opt("interruptions_per_hour", float, None, "Spot interruption rate, overriding the catalog's assumption."),
    *[o for o in JOB_OPTIONS if o.dest in ("seq_len", "precision", "lora_r", "packing")],
    CATALOG, JSON, FORMAT,
]


@command("afford", AFFORD)
def afford_command(**values) -> None:
    """What you can fine-tune for a budget: for each model size x method (QLoRA, LoRA, full), the most training
    tokens the budget pays for, on which offer, in how many hours.

    Tokens are trained tokens (samples x tokens per sample x epochs); each offer's cost is fitted as fixed +
    per-token (billing minimums, storage) from estimates, and the answer is checked with an estimate at that size.
    With --per month the run must also finish within the month.
    """
    from frugaltune.plan import api
    from frugaltune.plan.render import render_afford

    job = {k: values.pop(k) for k in ("seq_len", "precision", "lora_r", "packing")}
    json_out, fmt = values.pop("json_out"), values.pop("format")
    fmt = "json" if json_out else fmt
    catalog = values.pop("catalog")
    res = api.afford(**values, **job, catalog_dirs=[catalog] if catalog else None)
    if fmt == "json":
        import json

        return print(json.dumps(res.to_json(), indent=2))
    render_afford(res, fmt)
