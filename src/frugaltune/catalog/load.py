"""Load the catalog: shipped data files + user overrides -> a typed, cached `Catalog`.

Stdlib only, so the estimate path starts fast: no pandas, numpy, pydantic or torch, and (with the parsed rows
cached by frugaltune.datacache) not even csv or pathlib. The result is cached per process, keyed on the user
directories and each user file's mtime and size.
"""

from __future__ import annotations

import os

from frugaltune import datacache
from frugaltune.catalog import query, resolve
from frugaltune.catalog.overrides import FILES, file_signature, override_files, user_catalog_dirs
from frugaltune.catalog.types import GpuSpec, ModelArch, Offer, StoragePrice
from frugaltune.record import field, record

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
_CACHE: dict[tuple, Catalog] = {}


def schema_version() -> str:
    """The shipped catalog's schema version (data/SCHEMA_VERSION), e.g. 'v1'."""
    with open(os.path.join(DATA_DIR, "SCHEMA_VERSION"), encoding="utf-8") as fh:
        return fh.read().strip()


@record
class Catalog:
    """GPUs, offers, models and storage prices, with forgiving lookups. Build it with `load_catalog()`."""

    gpus: dict[str, GpuSpec]  # canonical name -> spec
    offers: list[Offer]
    models: dict[str, ModelArch]  # canonical name -> architecture
    storage: list[StoragePrice]
    platforms: list[str]  # canonical platform keys that have offers, sorted
    user_dirs: list[str] = field(default_factory=list)  # the user catalog directories that were read
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

    def storage_usd_per_gb_month(self, platform: str, held: str = "running") -> tuple[float, str]:
        """(USD per GB-month, note) for a platform's storage held `running` or `stopped` (query.default_storage);
        the median of known prices where unknown."""
        return query.storage_usd_per_gb_month(self.storage, self.platform(platform), held)

    def storage_price(self, platform: str, held: str = "running") -> StoragePrice | None:
        """The platform's storage row (with `free_gb`) for a volume held `running` or `stopped`, or None."""
        return query.default_storage(self.storage, self.platform(platform), held)


def _parse_shipped() -> dict[str, list[dict]]:
    """The shipped CSV files parsed to plain values: {file name: [row fields]}."""
    from frugaltune.catalog.csvio import read_rows

    return {name: [values for _, values in read_rows(os.path.join(DATA_DIR, name), cls, keep_empty=True)]
            for name, cls in FILES.items()}


_SHIPPED: dict[type, list[object]] = {}


def _shipped_rows() -> dict[type, list[object]]:
    """Typed rows of the shipped files, parsed once per user (datacache) and built once per process."""
    if not _SHIPPED:
        sources = [os.path.join(DATA_DIR, name) for name in sorted(FILES)]
        parsed = datacache.cached("catalog-rows", sources, _parse_shipped)
        _SHIPPED.update({cls: [cls(**values) for values in parsed[name]] for name, cls in FILES.items()})
    return _SHIPPED


def _build(dirs: list[str]) -> Catalog:
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


def load_catalog(extra_dirs: list[str | os.PathLike] | None = None) -> Catalog:
    """The shipped catalog merged with user catalog files (see `frugaltune.catalog.overrides`); cached per process.

    Args:
        extra_dirs: directories from the CLI's `--catalog DIR`, highest precedence, in order.

    Returns:
        A Catalog of typed rows (plain Python floats/ints/bools).

    Raises:
        CatalogError: a named directory does not exist, or a user file is malformed (naming file, line, column).
    """
    dirs = user_catalog_dirs(extra_dirs)
    key = (tuple(dirs), file_signature(dirs))
    catalog = _CACHE.get(key)
    if catalog is None:
        catalog = _CACHE[key] = _build(dirs)
    return catalog
