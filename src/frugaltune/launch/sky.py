"""`frugaltune launch`: a run config as a SkyPilot managed-job task, and `sky jobs launch` on it.

The task asks for what the config was planned and priced for: `cost.gpu` x `distributed.num_processes` per machine
(`num_nodes` machines), on-demand or spot, on the clouds and regions our own `compare` ranks cheapest for this job
(SkyPilot's `any_of` with `ordered` preference), with a disk sized for the model and its checkpoints. Its `setup`
installs frugaltune with the training extra, its `run` is `frugaltune train CONFIG`, and its managed-job recovery
restarts the job when the machine is preempted or when frugaltune exits 75 (it saved a checkpoint on SIGTERM); the
restarted job resumes from `checkpoints.mirror`, the bucket frugaltune itself syncs every checkpoint to.

Secrets (the Hugging Face token, cloud keys for the bucket) are never written: the task lists their NAMES with null
values and `sky jobs launch --secret NAME` reads each value from the launching shell's environment.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from frugaltune.errors import ConfigError, FrugalError
from frugaltune.train.signals import EXIT_INTERRUPTED

# catalog GPU name -> SkyPilot accelerator name (SkyPilot's catalogs: `sky show-gpus`)
SKY_ACCELERATOR = {
    "T4": "T4", "L4": "L4", "A10": "A10", "A10G": "A10G", "L40S": "L40S", "A100-40GB": "A100",
    "A100-40GB-PCIe": "A100", "A100-80GB": "A100-80GB", "A100-80GB-PCIe": "A100-80GB", "H100-SXM": "H100",
    "H100-PCIe": "H100", "H100-NVL": "H100-NVL", "H200": "H200", "B200": "B200", "RTX-3090": "RTX3090",
    "RTX-4090": "RTX4090", "RTX-5090": "RTX5090", "RTX-A6000": "RTXA6000", "RTX-6000-Ada": "RTX6000-Ada",
    "V100-16GB": "V100", "V100-32GB": "V100-32GB", "V100-16GB-PCIe": "V100", "V100-32GB-PCIe": "V100-32GB",
    "MI300X": "MI300X",
}
# catalog platforms SkyPilot can launch on (Modal is serverless, CoreWeave goes through Kubernetes)
SKY_CLOUDS = ("aws", "gcp", "azure", "lambda", "runpod", "vast", "paperspace", "nebius")
REGIONAL = ("aws", "gcp", "azure")  # clouds whose catalog regions are SkyPilot region names
SECRET_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "WANDB_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_STORAGE_CONNECTION_STRING")
BASE_DISK_GB = 50  # OS image, Python environment, pip and Hugging Face caches
MAX_RESTARTS_ON_ERRORS = 3
CANDIDATES = 8  # clouds/regions listed in the task, best first


class LaunchError(FrugalError):
    """SkyPilot is missing, has no cloud credentials, or refused the task."""


def task(cfg, config_path: str, *, spot: bool, cloud: str = "any", sets: list[str] | None = None,
         ranked: list[tuple[str, str | None]] | None = None, params: float | None = None,
         workdir: Path | None = None) -> dict:
    """The SkyPilot task (a dict to dump as YAML) that runs `frugaltune train CONFIG` as `cfg` says.

    Args:
        cfg: the validated RunConfig (cost.gpu names the GPU).
        config_path: the config's path relative to `workdir` (what the run command passes).
        spot: use spot (preemptible) machines.
        cloud: one SkyPilot cloud, or "any".
        sets: `--set KEY=VALUE` overrides the run command repeats.
        ranked: (cloud, region or None) best first, from `rank_offers`; None lets SkyPilot choose.
        params: the model's parameter count, for the disk size (None: the base size only).
        workdir: the directory synced to the machine (default: the current one).
    """
    d = cfg.distributed
    resources = {"accelerators": {accelerator(cfg.cost.gpu): d.num_processes}, "use_spot": spot,
                 "disk_size": disk_size_gb(cfg, params),
                 "job_recovery": {"strategy": "EAGER_NEXT_REGION" if spot else "FAILOVER",
                                  "max_restarts_on_errors": MAX_RESTARTS_ON_ERRORS,
                                  "recover_on_exit_codes": [EXIT_INTERRUPTED]}}
    choices = _any_of(ranked or [], cloud)
    if choices:
        resources["ordered"] = choices  # SkyPilot tries them in this order; the fields above apply to each
    elif cloud != "any":
        resources["cloud"] = cloud
    out = {"name": _name(cfg.run_name), "workdir": str(workdir or "."), "resources": resources}
    if d.num_nodes > 1:
        out["num_nodes"] = d.num_nodes
    secrets = secret_names()
    if secrets:
        out["secrets"] = {name: None for name in secrets}  # values come from `--secret NAME` at launch
    out["setup"] = setup_command(workdir or Path.cwd())
    out["run"] = run_command(cfg, config_path, sets or [])
    return out


def secret_names() -> list[str]:
    """The secrets this shell has (their names only): the job gets them through `sky jobs launch --secret`."""
    return [name for name in SECRET_NAMES if os.environ.get(name)]


def accelerator(gpu: str | None) -> str:
    if not gpu:
        raise ConfigError("cost.gpu: the GPU to launch on is not set.",
                          fix="Write the config with `frugaltune plan -o run.yaml`, or --set cost.gpu=a100-80gb.")
    from frugaltune.catalog.load import load_catalog

    name = load_catalog().gpu(gpu).name
    if name not in SKY_ACCELERATOR:
        raise ConfigError(f"cost.gpu: SkyPilot has no accelerator name for {name} here.",
                          fix=f"Pick one of: {', '.join(sorted(SKY_ACCELERATOR))}.")
    return SKY_ACCELERATOR[name]


def disk_size_gb(cfg, params: float | None) -> int:
    """Disk for the job: a base image and caches, the downloaded weights (2 bytes per parameter), and the kept
    checkpoints plus the final model: each holds the adapter (small) or, when full fine-tuning, the weights and
    AdamW's two fp32 moments (2 + 8 bytes per parameter, 16 with an fp32 master copy under mixed precision).
    Rounded up to 10 GB."""
    if not params:
        return BASE_DISK_GB
    weights_gb = 2 * params / 1e9
    per_checkpoint_gb = 16 * params / 1e9 if cfg.method.kind == "full" else 0.05 * weights_gb
    total = BASE_DISK_GB + weights_gb + (cfg.checkpoints.keep_last + 1) * per_checkpoint_gb
    return int(math.ceil(total / 10) * 10)


def setup_command(workdir: Path) -> str:
    """Install frugaltune with its training extra: from the synced checkout when it is one, else from PyPI."""
    pyproject = Path(workdir) / "pyproject.toml"
    if pyproject.is_file() and re.search(r'(?m)^name\s*=\s*"frugaltune"', pyproject.read_text()):
        return "pip install -e '.[train]'"
    from importlib.metadata import PackageNotFoundError, version

    try:
        pinned = f"=={version('frugaltune')}"
    except PackageNotFoundError:
        pinned = ""
    return f"pip install 'frugaltune[train]{pinned}'"


def run_command(cfg, config_path: str, sets: list[str]) -> str:
    """`frugaltune train CONFIG`; on several machines the first one's address is the rendezvous point."""
    args = ["frugaltune", "train", config_path, *[a for s in sets for a in ("--set", s)]]
    line = " ".join(shlex.quote(a) for a in args)
    if cfg.distributed.num_nodes == 1:
        return line
    return ('export MASTER_ADDR=$(echo "$SKYPILOT_NODE_IPS" | head -n1) MASTER_PORT=29500\n' + line)


def _any_of(ranked: list[tuple[str, str | None]], cloud: str) -> list[dict]:
    out = []
    for name, region in ranked:
        if cloud not in ("any", name):
            continue
        choice = {"cloud": name, **({"region": region} if region and name in REGIONAL else {})}
        if choice not in out:
            out.append(choice)
    return out[:CANDIDATES]


def _name(run_name: str) -> str:
    """SkyPilot names: lower-case letters, digits and dashes, starting with a letter."""
    name = re.sub(r"[^a-z0-9-]+", "-", run_name.lower()).strip("-")
    return name if name[:1].isalpha() else f"ft-{name}"


def config_job(cfg) -> dict:
    """The estimator's job from the config alone (no data read): the model, method and batch settings."""
    t = cfg.training
    return {"model": cfg.model.source, "method": cfg.method.kind, "seq_len": cfg.data.max_seq_len,
            "micro_batch": t.micro_batch, "grad_accum": t.grad_accum, "grad_ckpt": t.grad_ckpt,
            "optimizer": t.optimizer, "lora_r": cfg.method.lora.r, "epochs": t.epochs or 1.0}


def catalog_params(cfg) -> float | None:
    """The model's parameter count from the catalog (for the disk size), when the catalog knows the model."""
    try:
        from frugaltune.catalog.load import load_catalog

        return float(load_catalog().model(cfg.model.source).total_params)
    except (FrugalError, AttributeError, TypeError):
        return None


def rank_offers(cfg, job: dict, *, spot: bool) -> tuple[list[tuple[str, str | None]], str | None]:
    """(cloud, region) of the offers our compare ranks best for this job with cost.gpu x num_processes, best
    first, on clouds SkyPilot launches on; and a note when there are none (SkyPilot then chooses)."""
    from frugaltune.plan.api import compare

    n = cfg.distributed.num_processes
    rest = {k: v for k, v in job.items() if k not in ("model", "gpu", "platform", "pricing", "num_gpus", "instance",
                                                      "region")}
    try:
        cmp = compare(job["model"], gpu=[cfg.cost.gpu], spot=spot, max_gpus=max(8, n), **rest)
    except FrugalError as err:
        return [], f"compare found no offer for this job ({err.message}); SkyPilot picks the cloud."
    out = [(c.offer.platform, c.offer.region) for c, _ in cmp.ranked
           if c.num_gpus == n and c.offer.platform in SKY_CLOUDS]
    note = None if out else (f"compare ranks no {n}x {cfg.cost.gpu} offer on a cloud SkyPilot launches on; "
                             "SkyPilot picks the cloud.")
    return out, note


def sky_command() -> str:
    """The `sky` executable, or a LaunchError saying how to get it."""
    sky = shutil.which("sky")
    if sky is None:
        raise LaunchError("SkyPilot is not installed (no `sky` command).",
                          fix="pip install 'frugaltune[cloud]' (or `pip install skypilot`), then `sky check`; "
                              "--dry-run writes the task without it.")
    return sky


def sky_launch(task_path: Path, name: str) -> int:
    """`sky jobs launch` the task; secrets are passed by name, their values come from this environment."""
    sky = sky_command()
    secrets = [a for n in secret_names() for a in ("--secret", n)]
    cmd = [sky, "jobs", "launch", "-y", "-n", name, *secrets, str(task_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        print(proc.stdout, end="")
        return 0
    text = proc.stdout + proc.stderr
    if re.search(r"no cloud access|sky check|credentials|not enabled|No enabled cloud", text, re.I):
        raise LaunchError("SkyPilot has no cloud credentials for this task.",
                          fix="Run `sky check` and set up the cloud it names; the task was written to "
                              f"{task_path}.")
    last = [line for line in text.strip().splitlines() if line.strip()][-1:] or ["(no output)"]
    raise LaunchError(f"sky jobs launch failed: {last[0].strip()}", fix=f"Inspect or edit {task_path} and retry.")
