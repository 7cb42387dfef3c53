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
from frugaltune.errors import CatalogError
from frugaltune.record import asdict, fields

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
_CACHE: dict[tuple, "Catalog"] = {}


def schema_version() -> str:
    """The shipped catalog's schema version (data/SCHEMA_VERSION), e.g. 'v1'."""
    with open(os.path.join(DATA_DIR, "SCHEMA_VERSION"), encoding="utf-8") as fh:
        return fh.read().strip()


class Catalog:
    """GPUs, offers, models and storage prices, with forgiving lookups. Build it with `load_catalog()`.

    Offers can be held as plain rows grouped by GPU (`offer_chunks`, from the data cache): an estimate types only the
    offers of the GPU it asks about (`gpu_offers`), so its cost does not grow with the catalog; `offers` types them
    all, in catalog order, on first use (compare, catalog prices).
    """

    def __init__(self, gpus: dict[str, GpuSpec], offers: list[Offer] | None = None,
                 models: dict[str, ModelArch] | None = None, storage: list[StoragePrice] | None = None,
                 platforms: list[str] | None = None, user_dirs: list[str] | None = None,
                 offer_chunks: dict[str, bytes] | None = None, offer_fields: list[str] | None = None):
        self.gpus = gpus  # canonical name -> spec
        self.models = models or {}  # canonical name -> architecture
        self.storage = storage or []
        self.user_dirs = user_dirs or []  # the user catalog directories that were read
        self._offers = None if offers is None else list(offers)
        self._chunks = offer_chunks or {}  # GPU name -> marshal bytes of [(position, field values), ...]
        self._fields = offer_fields or []
        self._by_gpu: dict[str, list[tuple[int, Offer]]] = {}
        self._storage_prices: dict[tuple[str, str], tuple[float, str]] = {}
        if platforms is None:
            platforms = sorted({o.platform for o in self.offers})
        self.platforms = platforms  # canonical platform keys that have offers, sorted
        self._gpu_index = resolve.build_gpu_index(self.gpus)
        self._model_index = resolve.build_model_index(self.models)
        self._platform_index = resolve.build_platform_index(self.platforms)

    @property
    def offers(self) -> list[Offer]:
        """Every offer, in catalog order."""
        if self._offers is None:
            placed = [pair for gpu in self._chunks for pair in self._typed(gpu)]
            self._offers = [offer for _, offer in sorted(placed, key=lambda pair: pair[0])]
        return self._offers

    def gpu_offers(self, gpu_name: str) -> list[Offer]:
        """The offers of one canonical GPU name, in catalog order."""
        return self.offers_of_gpus((gpu_name,))

    def offers_of_gpus(self, gpu_names) -> list[Offer]:
        """The offers of these canonical GPU names (all when empty), in catalog order; only they are typed."""
        if not gpu_names:
            return self.offers
        if self._offers is not None and not self._chunks:
            return [o for o in self._offers if o.gpu in gpu_names]
        placed = [pair for name in dict.fromkeys(gpu_names) for pair in self._typed(name)]
        return [offer for _, offer in sorted(placed, key=lambda pair: pair[0])]

    def _typed(self, gpu_name: str) -> list[tuple[int, Offer]]:
        if gpu_name not in self._by_gpu:
            import marshal

            rows = marshal.loads(self._chunks[gpu_name]) if gpu_name in self._chunks else []
            self._by_gpu[gpu_name] = [(pos, Offer(**dict(zip(self._fields, values)))) for pos, values in rows]
        return self._by_gpu[gpu_name]

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
        return query.filter_offers(self.gpu_offers(gpu_name) if gpu_name else self.offers, gpu_name, key, num_gpus)

    def find_offer(self, gpu: str, platform: str | None = None, num_gpus: int = 1,
                   pricing: str = "on-demand") -> Offer:
        """The offer an estimate uses for GPU x platform (None = cheapest platform); rule in `query.pick_offer`.

        Raises:
            CatalogError: unknown GPU/platform, or no offer (the message says what exists instead).
        """
        key = self.platform(platform) if platform else None
        name = self.gpu(gpu).name
        try:
            return query.pick_offer(self.gpu_offers(name), name, key, num_gpus, pricing)
        except CatalogError:  # say what the platform does offer: that needs every offer (the error path only)
            return query.pick_offer(self.offers, name, key, num_gpus, pricing)

    def storage_usd_per_gb_month(self, platform: str, held: str = "running") -> tuple[float, str]:
        """(USD per GB-month, note) for a platform's storage held `running` or `stopped` (query.default_storage);
        the median of known prices where unknown. Answered once per platform (a planner asks per offer)."""
        key = (platform, held)
        if key not in self._storage_prices:
            self._storage_prices[key] = query.storage_usd_per_gb_month(self.storage, self.platform(platform), held)
        return self._storage_prices[key]

    def storage_price(self, platform: str, held: str = "running") -> StoragePrice | None:
        """The platform's storage row (with `free_gb`) for a volume held `running` or `stopped`, or None."""
        return query.default_storage(self.storage, self.platform(platform), held)


def _parse_shipped() -> dict[str, list[dict]]:
    """The shipped CSV files parsed to plain values: {file name: [row fields]}."""
    from frugaltune.catalog.csvio import read_rows

    return {name: [values for _, values in read_rows(os.path.join(DATA_DIR, name), cls, keep_empty=True)]
            for name, cls in FILES.items()}


def _merged(files: list[tuple[str, type]]) -> dict:
    """The shipped rows merged with the user files, as plain values for the data cache: GPUs, models and storage as
    field dicts; offers grouped by GPU, each group marshalled on its own (read only when that GPU is asked about)."""
    import marshal

    parsed = _parse_shipped()
    rows = {cls: [cls(**values) for values in parsed[name]] for name, cls in FILES.items()}
    if files:  # the merge code (and its validation) is imported only when a user has files
        from frugaltune.catalog.merge import merge_file

        for path, cls in files:
            rows[cls] = merge_file(cls, rows[cls], path, {g.name: g for g in rows[GpuSpec]})
    names = [f.name for f in fields(Offer)]
    by_gpu: dict[str, list] = {}
    for pos, offer in enumerate(rows[Offer]):
        by_gpu.setdefault(offer.gpu, []).append((pos, tuple(getattr(offer, n) for n in names)))
    return {"gpus": [asdict(g) for g in rows[GpuSpec]], "models": [asdict(m) for m in rows[ModelArch]],
            "storage": [asdict(s) for s in rows[StoragePrice]], "offer_fields": names,
            "offer_chunks": {gpu: marshal.dumps(group) for gpu, group in by_gpu.items()},
            "platforms": sorted({o.platform for o in rows[Offer]})}


def _build(dirs: list[str]) -> Catalog:
    """The catalog for these user directories: merged once per version of every file (datacache), typed here."""
    files = override_files(dirs)
    sources = [os.path.join(DATA_DIR, name) for name in sorted(FILES)] + [path for path, _ in files]
    data = datacache.cached("catalog", sources, lambda: _merged(files))
    return Catalog(gpus={g["name"]: GpuSpec(**g) for g in data["gpus"]},
                   models={m["name"]: ModelArch(**m) for m in data["models"]},
                   storage=[StoragePrice(**s) for s in data["storage"]], platforms=data["platforms"],
                   user_dirs=dirs, offer_chunks=data["offer_chunks"], offer_fields=data["offer_fields"])


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
