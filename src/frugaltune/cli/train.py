"""`frugaltune train`, `frugaltune schema`: thin commands over frugaltune.train (report, probe: cli/report.py)."""

from __future__ import annotations

import sys

from frugaltune.cli.commands import command
from frugaltune.cli.options import Opt, argument, switch

TRAIN_HELP = """Fine-tune a model as CONFIG (a run YAML) says: LoRA, QLoRA or full, on CPU or GPU.

Resumes by itself: with --resume auto (the default) it continues from the newest complete checkpoint in
output.dir, or from checkpoints.mirror when that holds a newer one (a new machine with an empty disk); same data
order, RNG, optimizer and scheduler, so the result equals an uninterrupted run.

Exit codes:
  0   finished
  2   bad config, data or model (the message says what to fix)
  65  diverged: the loss or a gradient stopped being finite; stopped before
      that step touched the weights, the last good checkpoint is kept. Lower
      training.lr (or check the data), then run again to resume from it.
  69  finished (or stopped), but the checkpoint mirror stayed unreachable: the
      local checkpoints are complete; run again when it is back to upload.
  74  the run's disk failed (full, read-only): the previous checkpoint is
      intact; free space, then run the same command to resume.
  75  interrupted by SIGTERM/SIGINT (e.g. a spot reclaim notice): a checkpoint
      was saved at the next step boundary (while the model loads: it stops
      at once, nothing to save yet); run the same command again to
      continue. Supervisors: SkyPilot `recover_on_exit_codes: [75]`, or
      `until frugaltune train run.yaml; do [ $? -eq 75 ] || exit 1; done`.
A SIGKILL loses at most the work since the last checkpoint.

On several GPUs: set distributed.num_processes (and engine ddp, fsdp or deepspeed, e.g. --set
distributed.num_processes=4 --set distributed.engine=fsdp); the command starts the processes itself and writes
the torchrun command, an accelerate config and the DeepSpeed config into output.dir/distributed/.

Writes into output.dir: checkpoints/step-NNNNNN/, metrics.jsonl, summary.json (measured vs estimated),
final/ (the adapter or model with its tokenizer), config.yaml.
"""


TRAIN_OPTIONS = [
    argument("config", "Run YAML (`frugaltune schema --example` writes one).", "CONFIG"),
    Opt("output_dir", str, None, "Overrides output.dir.", flags=("-o", "--output-dir"), metavar="DIR"),
    Opt("max_steps", int, None, "Overrides training.max_steps.", min=1),
    Opt("resume", str, "auto", "auto | never | PATH of a step-NNNNNN checkpoint."),
    switch("dry_run", "Validate config and data, print the estimate, exit."),
    switch("json_out", "With --dry-run: print the plan as JSON.", "--json"),
    switch("quiet", "No progress output.", "-q", "--quiet"),
    Opt("sets", str, None, "Override any config value: a dotted KEY=VALUE with a YAML value, e.g. "
        "distributed.num_processes=2 (repeat for more).", flags=("--set",), multiple=True, metavar="KEY=VALUE"),
]


@command("train", TRAIN_OPTIONS, doc=TRAIN_HELP)
def train_cmd(config: str, output_dir: str | None, max_steps: int | None, resume: str, dry_run: bool,
              json_out: bool, quiet: bool, sets: list[str] | None) -> int:
    from frugaltune.train.config import load_config, parse_set

    overrides = dict(parse_set(item) for item in sets or [])
    flags = (("output.dir", output_dir), ("training.max_steps", max_steps))
    overrides.update({k: v for k, v in flags if v is not None})
    cfg = load_config(config, overrides)
    from frugaltune.train.data_auto import resolve_data_format

    cfg = resolve_data_format(cfg, announce=None if quiet else lambda line: print(line, file=sys.stderr if json_out
                                                                                   else sys.stdout))
    if dry_run:
        from frugaltune.train.dryrun import dry_run as plan_run
        from frugaltune.train.dryrun import render as render_plan

        import json

        plan = plan_run(cfg)
        print(json.dumps(plan, indent=2, default=str)) if json_out else render_plan(plan)
        return 0
    from frugaltune.launch import local

    if local.needs_launch(cfg):  # N processes: start them, each runs this same command
        worker = ["train", config, "--resume", resume, *(["-o", output_dir] if output_dir else []),
                  *(["--max-steps", str(max_steps)] if max_steps else []), *(["--quiet"] if quiet else []),
                  *[arg for item in sets or [] for arg in ("--set", item)]]
        return local.launch(cfg, worker)
    local.watch_launcher()
    _log_warnings_plainly()
    from frugaltune.train.recipe import train

    result = train(cfg, resume=resume, quiet=quiet, started_at=_process_start())
    if not quiet and result.summary:  # rank 0 only, under torchrun
        _print_end(result)
    if result.error is not None:  # training finished, something after it did not (the mirror is down)
        from frugaltune.cli.app import print_error

        print_error(result.error, json_out=json_out)
    return result.exit_code


def _process_start() -> float | None:
    """When this process started (its imports are machine time too), or None when it cannot be told."""
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # noqa: BLE001 -- psutil missing or no /proc: bill from the start of setup instead
        return None


def _log_warnings_plainly() -> None:
    import logging
    import sys

    class _CurrentStderr(logging.StreamHandler):
        """Writes to sys.stderr as it is now (run in-process twice, a captured stderr may have been closed)."""

        stream = property(lambda self: sys.stderr, lambda self, value: None)

    logger = logging.getLogger("frugaltune")
    if not any(getattr(h, "_frugaltune", False) for h in logger.handlers):
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("warning: %(message)s"))
        handler._frugaltune = True
        logger.addHandler(handler)
    import os

    logger.setLevel(logging.WARNING if os.environ.get("RANK", "0") == "0" else logging.ERROR)  # rank 0 speaks


def _print_end(result) -> None:
    s = result.summary
    if result.status == "interrupted":
        saved = (f"checkpoint {result.checkpoint.name} saved" if result.checkpoint is not None
                 else "no checkpoint yet (stopped before the first step), so the next run starts over")
        print(f"interrupted at step {result.steps}; {saved}. Run the same command to resume (exit code 75).")
        return
    acc, loss = s.get("eval_accuracy"), s.get("final_train_loss")
    print(f"finished {result.steps} steps in {s.get('billed_hours', 0) * 3600:.1f}s billed; "
          f"{s.get('tokens_per_sec') or 0:,.0f} tokens/s; final loss "
          + ("-" if loss is None else f"{loss:.4g}")
          + (f"; eval accuracy {acc:.3f}" if acc is not None else "")
          + f". Report: frugaltune report {result.run_dir}")


@command("schema", [switch("example", "Print a complete run YAML with every default instead.")])
def schema_cmd(example: bool) -> int:
    """Print the run config's JSON schema (every key, its type, default and meaning)."""
    from frugaltune import datacache

    # Importing pydantic and building the schema costs ~200 ms: build the text once per version of the code.
    texts = datacache.cached("run-config-schema", datacache.package_sources("pydantic"), _schema_texts)
    print(texts["example" if example else "schema"], end="")
    return 0


def _schema_texts() -> dict:
    import json

    from frugaltune.train.config import RunConfig, json_schema

    return {"schema": json.dumps(json_schema(), indent=2) + "\n",
            "example": RunConfig().to_yaml(header="frugaltune train run.yaml\n(every key with its default; see "
                                                  "`frugaltune schema` for what each means)")}
