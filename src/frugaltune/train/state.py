"""What a checkpoint holds besides tensors: the training progress, RNG states in a weights_only-loadable form,
and the config it was written with (to warn when a resumed run's config differs)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# Keys whose change makes a resumed run differ from an uninterrupted one (others, like output or checkpoint
# cadence, do not).
EXACTNESS_KEYS = ("model", "method", "data", "training.micro_batch", "training.grad_accum", "training.seed",
                  "training.lr", "training.schedule", "training.warmup_steps", "training.optimizer",
                  "training.weight_decay", "training.max_grad_norm", "training.precision", "training.epochs",
                  "training.max_steps")


@dataclass
class TrainProgress:
    """Where the run is: optimizer steps, micro-batches consumed (the data position), tokens so far."""

    step: int = 0
    micro_batches: int = 0
    tokens_processed: int = 0
    trainable_tokens: int = 0

    def to_json(self, batches_per_epoch: int, seed: int) -> dict:
        epoch, batch = divmod(self.micro_batches, batches_per_epoch)
        return {**asdict(self), "epoch": epoch, "batch_in_epoch": batch, "batches_per_epoch": batches_per_epoch,
                "sampler_seed": seed}

    @classmethod
    def from_json(cls, data: dict) -> TrainProgress:
        return cls(**{k: int(data[k]) for k in ("step", "micro_batches", "tokens_processed", "trainable_tokens")})


def rng_to_tensors(state: dict) -> dict:
    """RNG states as tensors, ints and lists only, so `torch.load(weights_only=True)` can read them back."""
    import torch

    version, internal, gauss = state["python"]
    name, keys, pos, has_gauss, cached = state["numpy"]
    out = {"python": {"version": version, "internal": torch.tensor(internal, dtype=torch.int64), "gauss": gauss},
           "numpy": {"name": name, "keys": torch.from_numpy(keys.astype("int64")), "pos": int(pos),
                     "has_gauss": int(has_gauss), "cached": float(cached)},
           "torch": state["torch"]}
    if "cuda" in state:
        out["cuda"] = list(state["cuda"])
    return out


def rng_from_tensors(data: dict) -> dict:
    import numpy as np

    py, npd = data["python"], data["numpy"]
    state = {"python": (py["version"], tuple(int(x) for x in py["internal"].tolist()), py["gauss"]),
             "numpy": (npd["name"], npd["keys"].numpy().astype(np.uint32), npd["pos"], npd["has_gauss"],
                       npd["cached"]),
             "torch": data["torch"]}
    if "cuda" in data:
        state["cuda"] = data["cuda"]
    return state


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj}


def config_differences(saved: dict, current: dict) -> list[str]:
    """'key: checkpoint X, config Y' for every exactness-relevant key that differs."""
    a, b = _flatten(saved), _flatten(current)
    diffs = []
    for key in sorted(set(a) | set(b)):
        if any(key == k or key.startswith(k + ".") for k in EXACTNESS_KEYS) and a.get(key) != b.get(key):
            diffs.append(f"{key}: checkpoint {a.get(key)!r}, config {b.get(key)!r}")
    return diffs
