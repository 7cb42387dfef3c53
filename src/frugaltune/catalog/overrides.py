"""User catalog files: rows that add to or override the shipped catalog. The tool never writes these files.

Where they live (lowest to highest precedence; a later directory's row wins):
1. `$XDG_CONFIG_HOME/frugaltune/catalog/` (default `~/.config/frugaltune/catalog/`), skipped when absent;
2. each directory in `$FRUGALTUNE_CATALOG_DIR` (os.pathsep-separated);
3. `extra_dirs` (the CLI's `--catalog DIR`), in the order given.
Each may hold gpus.csv, offers.csv, models.csv, storage.csv with the shipped files' column names (any subset).
A row whose key matches an existing row (GPU name; platform + instance + region + GPU; model name; platform +
item) overrides only the cells it fills; any other row is new and must fill the required columns.
"""

from __future__ import annotations

import os

from frugaltune.catalog.types import GpuSpec, ModelArch, Offer, StoragePrice
from frugaltune.errors import CatalogError
from frugaltune.record import replace

ENV_DIR = "FRUGALTUNE_CATALOG_DIR"
FILES: dict[str, type] = {"gpus.csv": GpuSpec, "offers.csv": Offer, "models.csv": ModelArch,
                          "storage.csv": StoragePrice}

# Columns a new user row may leave empty, with the value it then gets ("{where}" = file:line).
NEW_ROW_DEFAULTS: dict[type, dict[str, object]] = {
    GpuSpec: {"aliases": (), "architecture": "unknown", "segment": "unknown", "bf16_supported": False,
              "fp8_supported": False},
    Offer: {"instance": "user", "region": "any", "gpus_per_instance": 1, "on_demand_usd_per_gpu_hour": None,
            "spot_usd_per_gpu_hour": None, "billing_increment_s": 1, "billing_minimum_s": 1,
            "whole_instance": False, "kind": "cloud"},
    ModelArch: {"hf_id": "", "tie_word_embeddings": False},
    StoragePrice: {},
}
_OPTIONAL_NONE = ("memory_bandwidth_gb_per_s", "bf16_tflops", "fp16_tflops", "fp32_tflops", "tf32_tflops",
                  "fp8_tflops", "tdp_watts", "price_usd")


def user_catalog_dirs(extra_dirs: list[str | os.PathLike] | None = None) -> list[str]:
    """User catalog directories, lowest precedence first (see the module docstring).

    Raises:
        CatalogError: a directory named by $FRUGALTUNE_CATALOG_DIR or `extra_dirs` does not exist.
    """
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    dirs = [os.path.join(xdg, "frugaltune", "catalog")]
    dirs = [d for d in dirs if os.path.isdir(d)]
    named = [(p, f"${ENV_DIR}") for p in os.environ.get(ENV_DIR, "").split(os.pathsep) if p]
    named += [(os.fspath(p), "--catalog") for p in extra_dirs or []]
    for path, origin in named:
        if not os.path.isdir(os.path.expanduser(path)):
            what = "is a file, not a directory" if os.path.exists(os.path.expanduser(path)) else "does not exist"
            raise CatalogError(f"Catalog directory {path} ({origin}) {what}.",
                               fix="create it with your gpus.csv / offers.csv / models.csv / storage.csv, "
                               "or point to an existing directory.")
        dirs.append(os.path.expanduser(path))
    return dirs


def new_row(cls: type, values: dict[str, object], where: str) -> object:
    """Build a new row from a user file's cells, filling documented defaults; names missing required columns."""
    filled = {**NEW_ROW_DEFAULTS[cls], "source": f"user catalog {where}", "data_date": "unknown", **values}
    if cls is GpuSpec:
        filled = {**{k: None for k in _OPTIONAL_NONE}, **filled}
    if cls is ModelArch:
        heads = filled.get("num_heads")
        filled.setdefault("num_kv_heads", heads)
        if heads and filled.get("hidden_size"):
            filled.setdefault("head_dim", filled["hidden_size"] // heads)
    from frugaltune.catalog.csvio import required_columns

    missing = [c for c in required_columns(cls) if c not in filled]
    if missing:
        raise CatalogError(f"{where}: a new {cls.__name__} row needs column(s) {', '.join(missing)}.",
                           fix="fill them, or use the key of a shipped row to override only some of its cells.")
    return cls(**filled)


def override_row(row: object, values: dict[str, object]) -> object:
    """The shipped/earlier `row` with the user's non-empty cells replacing its values."""
    return replace(row, **values)


def override_files(dirs: list[str]) -> list[tuple[str, type]]:
    """Existing user catalog files in precedence order (gpus before offers, which name GPUs)."""
    return [(os.path.join(d, name), cls) for name, cls in FILES.items() for d in dirs
            if os.path.isfile(os.path.join(d, name))]


def file_signature(dirs: list[str]) -> tuple:
    """What the per-process cache is keyed on: each user file's path, mtime and size."""
    sig = []
    for path, _ in override_files(dirs):
        st = os.stat(path)
        sig.append((path, st.st_mtime_ns, st.st_size))
    return tuple(sig)


def user_rows(path: str, cls: type):
    """(where, values) for each row of a user file; `where` is 'file:line'."""
    from frugaltune.catalog.csvio import read_rows

    for line, values in read_rows(path, cls):
        yield f"{path}:{line}", values
