"""Helpers for the runner tests: a small classification dataset, tiny-preset configs, reading run outputs."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LABELS = ["electrician", "plumber", "welder", "carpenter"]
CUES = {
    "electrician": ["wiring", "breaker", "panel", "conduit", "circuit", "outlets"],
    "plumber": ["pipe", "drain", "valve", "water heater", "leak", "fixtures"],
    "welder": ["MIG", "TIG", "steel", "bead", "weld", "torch"],
    "carpenter": ["framing", "trim", "stairs", "wood", "doors", "cabinets"],
}
OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
               "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}


def write_data(path: Path, n: int = 96, seed: int = 0) -> Path:
    """n classification rows {text, label}, seeded."""
    rng = random.Random(seed)
    with path.open("w") as f:
        for _ in range(n):
            label = rng.choice(LABELS)
            cues = rng.sample(CUES[label], 3)
            f.write(json.dumps({"text": f"Apprentice wanted for {cues[0]}, {cues[1]} and {cues[2]} work.",
                                "label": label}) + "\n")
    return path


def config_dict(tmp: Path, *, steps: int = 12, out: str = "run", **sections) -> dict:
    """A tiny-preset LoRA classification config writing under `tmp`; `sections` replace whole sections' keys."""
    data = tmp / "train.jsonl"
    if not data.exists():
        write_data(data)
    cfg = {
        "model": {"source": "preset:tiny-llama", "vocab_size": 256},
        "method": {"kind": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.1, "targets": ["q_proj", "v_proj"]}},
        "data": {"path": str(data), "format": "classification", "max_seq_len": 96, "eval_fraction": 0.1},
        "training": {"max_steps": steps, "lr": 0.01, "micro_batch": 4, "grad_accum": 2, "log_every": 1,
                     "warmup_steps": 2, "seed": 7,
                     "cpu_threads": 1},  # tiny ops: one thread is fastest, and immune to a busy machine
        "checkpoints": {"every_steps": 4, "every_minutes": None, "keep_last": 2},
        "output": {"dir": str(tmp / out)},
        "cost": {"usd_per_hour": 1.5},
    }
    for section, values in sections.items():
        cfg[section] = {**cfg.get(section, {}), **values}
    return cfg


def write_config(tmp: Path, name: str = "run.yaml", **kwargs) -> Path:
    import yaml

    path = tmp / name
    path.write_text(yaml.safe_dump(config_dict(tmp, **kwargs)))
    return path


def events(run_dir: Path, kind: str | None = None) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    evs = [json.loads(line) for line in lines if line.strip()]
    return [e for e in evs if kind is None or e["event"] == kind]


def step_losses(run_dir: Path) -> dict[int, float]:
    """step -> loss as last logged (a redone step keeps its latest value)."""
    return {e["step"]: e["loss"] for e in events(run_dir, "step")}


def load_tensors(path: Path) -> dict:
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    return torch.load(path, weights_only=True)


def assert_same_tree(a, b, where: str = "") -> None:
    """Exact equality of nested dicts/lists of tensors and numbers."""
    import torch

    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), f"tensor differs at {where}"
    elif isinstance(a, dict):
        assert set(a) == set(b), f"keys differ at {where}: {set(a) ^ set(b)}"
        for k in a:
            assert_same_tree(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"length differs at {where}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def cli_process(args: list[str], cwd: Path | None = None, **popen) -> subprocess.Popen:
    """`python -m frugaltune ARGS` in its own process group, offline."""
    env = {**os.environ, **OFFLINE_ENV}
    return subprocess.Popen([sys.executable, "-c", "from frugaltune.cli import main; main()", *args],
                            cwd=cwd or REPO, env=env, start_new_session=True, **popen)


def wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None, poll: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} before the condition held")
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(poll)


def logged_steps(run_dir: Path) -> int:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return 0
    return sum(1 for line in path.read_text().splitlines() if '"event": "step"' in line)
