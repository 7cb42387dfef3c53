"""`frugaltune launch CONFIG`: run a training config on cloud GPUs as a SkyPilot managed job (launch/sky.py)."""

from __future__ import annotations

from frugaltune.cli.commands import command
from frugaltune.cli.options import Opt, argument, switch

CLOUDS = ("any", "aws", "gcp", "azure", "lambda", "runpod", "vast", "paperspace", "nebius")
LAUNCH_HELP = """Run CONFIG on cloud GPUs as a SkyPilot managed job that survives preemption.

Writes a SkyPilot task for the config's GPU (cost.gpu) x distributed.num_processes, on the clouds and regions
that `frugaltune compare` ranks cheapest for this job, with a disk sized for the model and checkpoints; its
run step is `frugaltune train CONFIG`, and its recovery restarts the job after a preemption or exit code 75,
resuming from checkpoints.mirror. Then runs `sky jobs launch` (needs `pip install 'frugaltune[cloud]'` and
`sky check`), unless --dry-run. Secrets (HF_TOKEN, cloud keys) are passed by name from your environment,
never written into the task.
"""

LAUNCH_OPTIONS = [
    argument("config", "Run YAML (`frugaltune plan -o run.yaml` writes one).", "CONFIG"),
    Opt("cloud", str, "any", "Launch on this cloud only (any: the ranked candidates).", CLOUDS),
    Opt("spot", bool, None, "Spot/preemptible machines (default: cost.pricing of the config)."),
    switch("dry_run", "Write the task file and stop (no SkyPilot needed)."),
    Opt("output", str, None, "Where the task goes (default: output.dir/sky.yaml).", flags=("-o", "--output"),
        metavar="FILE"),
    Opt("sets", str, None, "Override a config value (dotted KEY=VALUE, YAML value; repeatable); the job's run "
        "command repeats it.", flags=("--set",), multiple=True, metavar="KEY=VALUE"),
]


@command("launch", LAUNCH_OPTIONS, doc=LAUNCH_HELP)
def launch_cmd(config: str, cloud: str, spot: bool | None, dry_run: bool, output: str | None,
               sets: list[str] | None) -> int:
    import os
    from pathlib import Path

    from frugaltune.errors import ConfigError
    from frugaltune.launch import sky
    from frugaltune.train.config import load_config, parse_set

    from frugaltune.checks import writable_file

    writable_file(output, "-o")
    cfg = load_config(config, dict(parse_set(item) for item in sets or []))
    spot = cfg.cost.pricing == "spot" if spot is None else spot
    sky.accelerator(cfg.cost.gpu)  # a config with no GPU (or one SkyPilot cannot name) stops before any work
    relative = os.path.relpath(Path(config).resolve(), Path.cwd())
    if relative.startswith(".."):
        raise ConfigError(f"{config} is outside the current directory, which is what the job's machine receives.",
                          fix="Run frugaltune launch from the directory that holds the config and its data.")
    if not cfg.checkpoints.mirror and not dry_run:
        raise ConfigError("checkpoints.mirror is not set: a preempted machine takes its checkpoints with it.",
                          fix="Set checkpoints.mirror to a bucket (s3://bucket/run, gs://...), e.g. --set "
                              "checkpoints.mirror=s3://my-bucket/run.")
    job, params, notes = _job(cfg)
    ranked, rank_note = sky.rank_offers(cfg, job, spot=spot)
    task = sky.task(cfg, relative, spot=spot, cloud=cloud, sets=sets, ranked=ranked, params=params)
    notes += [rank_note] if rank_note else []
    notes += [] if cfg.checkpoints.mirror else ["checkpoints.mirror is not set: a recovered job would start over."]
    if cfg.distributed.num_nodes > 1:
        notes.append(f"{cfg.distributed.num_nodes} machines write one run: mount shared storage (NFS, a SkyPilot "
                     f"volume) at output.dir ({cfg.output.dir}) on every one; the run checks this at start.")
    path = Path(output or Path(cfg.output.dir) / "sky.yaml")
    _write(path, task, config)
    _report(path, task, " ".join(notes))
    if dry_run:
        return 0
    sky.sky_command()  # SkyPilot missing: say so before touching the bucket
    from frugaltune.train.preflight import check_mirror

    check_mirror(cfg.checkpoints.mirror)  # the job resumes from it: a bucket it cannot write fails here, not there
    return sky.sky_launch(path, task["name"])


def _job(cfg) -> tuple[dict, float | None, list[str]]:
    """(the estimator's job to rank offers for, the model's parameter count, notes) from the checks of
    `train --dry-run` (data, model), or from the config alone where the training stack is not installed."""
    from frugaltune.launch import sky

    try:
        from frugaltune.train.dryrun import dry_run

        # not here=True: the job's machine has its own disk, cores and credentials (the bucket is tested before a
        # real launch only)
        plan = dry_run(cfg, here=False)
    except ImportError as err:  # a laptop with the [cloud] extra only: the job's machine installs [train]
        return sky.config_job(cfg), sky.catalog_params(cfg), [
            f"the training stack is not installed here ({err.name}), so the data was not checked; offers are "
            "ranked for the model and method."]
    params = ((plan.get("estimate") or {}).get("model") or {}).get("params") or sky.catalog_params(cfg)
    return plan["estimate_job"], params, []


def _write(path, task: dict, config: str) -> None:
    import yaml

    from frugaltune.checks import writable_file

    writable_file(path, "-o")  # the default, output.dir/sky.yaml, too
    header = (f"# sky jobs launch {path}\n# Written by `frugaltune launch {config}`: a SkyPilot managed job that "
              "runs `frugaltune train`\n# and restarts it after a preemption or exit code 75 (it resumes from "
              "checkpoints.mirror).\n")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + yaml.safe_dump(task, sort_keys=False, default_flow_style=False))
    except OSError as err:
        from frugaltune.errors import ConfigError

        raise ConfigError(f"-o {path}: cannot write the task file ({err.strerror or err}).",
                          fix="give -o a file in a directory you can write.") from None


def _report(path, task: dict, note: str | None) -> None:
    r = task["resources"]
    (acc, count), = r["accelerators"].items()
    where = ", ".join(c["cloud"] + (f"/{c['region']}" if "region" in c else "") for c in r.get("ordered", [])[:4])
    print(f"task: {path} ({count}x {acc}{' spot' if r['use_spot'] else ''}, {task.get('num_nodes', 1)} machine(s), "
          f"{r['disk_size']} GB disk{'; best first: ' + where if where else ''})")
    if note:
        print(f"note: {note}")
