"""Load the catalog: shipped data files + user overrides -> a typed, cached `Catalog`.

Stdlib only (csv, pathlib), so the estimate path starts fast: no pandas, numpy, pydantic or torch.
The result is cached per process, keyed on the user directories and each user file's mtime and size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from frugaltune.catalog import query, resolve
from frugaltune.catalog.csvio import read_rows
from frugaltune.catalog.overrides import FILES, file_signature, override_files, user_catalog_dirs
from frugaltune.catalog.types import GpuSpec, ModelArch, Offer, StoragePrice

DATA_DIR = Path(__file__).resolve().parent / "data"
_CACHE: dict[tuple, Catalog] = {}


def schema_version() -> str:
    """The shipped catalog's schema version (data/SCHEMA_VERSION), e.g. 'v1'."""
    return (DATA_DIR / "SCHEMA_VERSION").read_text().strip()


@dataclass
class Catalog:
    """GPUs, offers, models and storage prices, with forgiving lookups. Build it with `load_catalog()`."""

    gpus: dict[str, GpuSpec]  # canonical name -> spec
    offers: list[Offer]
    models: dict[str, ModelArch]  # canonical name -> architecture
    storage: list[StoragePrice]
    platforms: list[str]  # canonical platform keys that have offers, sorted
    user_dirs: list[Path] = field(default_factory=list)  # the user catalog directories that were read
    _gpu_index: dict[str, str] = field(default_factory=dict, repr=False)
    _model_index: dict[str, str] = field(default_factory=dict, repr=False)
    _platform_index: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._gpu_index = resolve.build_gpu_index(self.gpus)
        self._model_index = resolve.build_model_index(self.models)
        self._platform_index = resolve.build_platform_index(self.platforms)

    def gpu(self, name: str) -> GpuSpec:
        """GpuSpec for a forgiving name ('a100 80gb', 'Tesla T4', 'h100'). Raises CatalogError with suggestions."""
        return resolve.resolve_gpu(name, self.gpus, self._gpu_index)

    def model(self, spec: str) -> ModelArch:
        """ModelArch for a catalog name/alias/HF id, a config.json path or model dir, or a bare size ('7B')."""
        return resolve.resolve_model(spec, self.models, self._model_index)

    def platform(self, name: str) -> str:
        """Canonical platform key ('Lambda Labs' -> 'lambda'). Raises CatalogError with suggestions."""
        return resolve.resolve_platform(name, self._platform_index)

    def offers_for(self, gpu: str | None = None, platform: str | None = None,
                   num_gpus: int | None = None) -> list[Offer]:
        """Offers matching a GPU and/or platform (forgiving names) whose instance holds at least `num_gpus` GPUs."""
        gpu_name = self.gpu(gpu).name if gpu else None
        key = self.platform(platform) if platform else None
        return query.filter_offers(self.offers, gpu_name, key, num_gpus)

    def find_offer(self, gpu: str, platform: str | None = None, num_gpus: int = 1,
                   pricing: str = "on-demand") -> Offer:
        """The offer an estimate uses for GPU x platform (None = cheapest platform); rule in `query.pick_offer`.

        Raises:
            CatalogError: unknown GPU/platform, or no offer (the message says what exists instead).
        """
        key = self.platform(platform) if platform else None
        return query.pick_offer(self.offers, self.gpu(gpu).name, key, num_gpus, pricing)

    def storage_usd_per_gb_month(self, platform: str) -> tuple[float, str]:
        """(USD per GB-month, note) for a platform's default storage; the median of known prices where unknown."""
        return query.storage_usd_per_gb_month(self.storage, self.platform(platform))

    def storage_price(self, platform: str) -> StoragePrice | None:
        """The platform's default storage row (with `free_gb`), or None where the catalog has none."""
        return query.default_storage(self.storage, self.platform(platform))


def _read_shipped() -> dict[type, list[object]]:
    rows: dict[type, list[object]] = {}
    for name, cls in FILES.items():
        rows[cls] = [cls(**values) for _, values in read_rows(DATA_DIR / name, cls, keep_empty=True)]
    return rows


_SHIPPED: dict[type, list[object]] = {}


def _rows_cache_path() -> Path:
    """A pickle of the parsed shipped rows, keyed by the data files' names, sizes and mtimes (so an edited or
    upgraded package never reads a stale cache). Parsing the CSVs costs ~15 ms; unpickling ~1 ms."""
    stats = [(DATA_DIR / name).stat() for name in sorted(FILES)]
    sig = f"{schema_version()}-{sum(st.st_size for st in stats)}-{max(st.st_mtime_ns for st in stats)}"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "frugaltune" / f"catalog-rows-{sig}.pickle"


def _cached_shipped() -> dict[type, list[object]]:
    import pickle

    path = _rows_cache_path()
    try:
        with path.open("rb") as fh:
            return pickle.load(fh)
    except Exception:  # absent, truncated or from another version: rebuild it
        rows = _read_shipped()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL))
        os.replace(tmp, path)  # atomic: a concurrent reader sees the old file or the whole new one
    except OSError:
        pass  # a read-only home still works, just without the cache
    return rows


def _shipped_rows() -> dict[type, list[object]]:
    if not _SHIPPED:
        _SHIPPED.update(_cached_shipped())
    return _SHIPPED


def _build(dirs: list[Path]) -> Catalog:
    rows = dict(_shipped_rows())
    files = override_files(dirs)
    if files:  # the merge code (and its validation) is imported only when a user has files
        from frugaltune.catalog.merge import merge_file

        for path, cls in files:
            rows[cls] = merge_file(cls, rows[cls], path, {g.name: g for g in rows[GpuSpec]})
    offers = rows[Offer]
    return Catalog(
        gpus={g.name: g for g in rows[GpuSpec]},
        offers=offers,
        models={m.name: m for m in rows[ModelArch]},
        storage=rows[StoragePrice],
        platforms=sorted({o.platform for o in offers}),
        user_dirs=dirs,
    )


def load_catalog(extra_dirs: list[Path] | None = None) -> Catalog:
    """The shipped catalog merged with user catalog files (see `frugaltune.catalog.overrides`); cached per process.

    Args:
        extra_dirs: directories from the CLI's `--catalog DIR`, highest precedence, in order.

    Returns:
        A Catalog of typed rows (plain Python floats/ints/bools).

    Raises:
        CatalogError: a named directory does not exist, or a user file is malformed (naming file, line, column).
    """
    dirs = user_catalog_dirs([Path(d) for d in extra_dirs] if extra_dirs else None)
    key = (tuple(str(d) for d in dirs), file_signature(dirs))
    catalog = _CACHE.get(key)
    if catalog is None:
        catalog = _CACHE[key] = _build(dirs)
    return catalog
