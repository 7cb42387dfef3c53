"""Merge one user catalog file into the rows read so far (rules in `frugaltune.catalog.overrides`)."""

from __future__ import annotations

from frugaltune.catalog import resolve
from frugaltune.catalog.overrides import NEW_ROW_DEFAULTS, new_row, override_row, user_rows
from frugaltune.catalog.params import count_params
from frugaltune.catalog.types import GpuSpec, ModelArch, Offer, StoragePrice
from frugaltune.catalog.validate import CHECKS
from frugaltune.errors import CatalogError
from frugaltune.record import replace

_KEY_FIELDS: dict[type, tuple[str, ...]] = {
    GpuSpec: ("name",), ModelArch: ("name",), StoragePrice: ("platform", "item"),
    Offer: ("platform", "instance", "region", "gpu"),
}


def _key(cls: type, cells: dict[str, object]) -> tuple:
    """Row identity: forgiving for GPU and model names, case-insensitive for the other key columns."""
    if cls is GpuSpec:
        return (resolve.gpu_key(str(cells.get("name", ""))),)
    if cls is ModelArch:
        return (resolve.model_keys(str(cells.get("name", "")))[0],)
    return tuple(str(cells.get(c, "")).strip().lower() for c in _KEY_FIELDS[cls])


def _canonical_cells(cls: type, values: dict[str, object], where: str, gpus: dict[str, GpuSpec],
                     platform_index: dict[str, str], gpu_index: dict[str, str]) -> dict[str, object]:
    """Resolve the GPU and platform names a user wrote in offers/storage files to canonical keys."""
    values = dict(values)
    if "platform" in values:
        values["platform"] = platform_index.get(resolve.platform_key(values["platform"]),
                                                values["platform"].strip().lower())
    if cls is Offer and "gpu" in values:
        try:
            values["gpu"] = resolve.resolve_gpu(values["gpu"], gpus, gpu_index).name
        except CatalogError as err:
            raise CatalogError(f"{where}: column 'gpu': {err.message}", fix=err.fix) from None
    return values


def merge_file(cls: type, rows: list[object], path: str, gpus: dict[str, GpuSpec]) -> list[object]:
    """Apply one user file to `rows` (one class): a row with a known key overrides the cells it fills; other rows
    are new. Key cells of an overridden row keep their canonical spelling."""
    platforms = {r.platform for r in rows} | set(resolve.PLATFORM_ALIASES) if cls in (Offer, StoragePrice) else ()
    platform_index = resolve.build_platform_index(sorted(platforms))
    by_key = {_key(cls, r.__dict__): i for i, r in enumerate(rows)}
    gpu_index = resolve.build_gpu_index(gpus)  # once per file, not per row
    rows = list(rows)
    for where, values in user_rows(path, cls):
        values = _canonical_cells(cls, values, where, gpus, platform_index, gpu_index)
        index = by_key.get(_key(cls, {**NEW_ROW_DEFAULTS[cls], **values}))
        if index is not None:
            changes = {k: v for k, v in values.items() if k not in _KEY_FIELDS[cls]}
            row = rows[index] = _recount(override_row(rows[index], changes), changes)
        else:
            row = _recount(new_row(cls, values, where), values)
            by_key[_key(cls, row.__dict__)] = len(rows)
            rows.append(row)
        CHECKS[cls](row, where)
    return rows


def _recount(row: object, changes: dict[str, object]) -> object:
    """A model row whose shape a user changed gets its total_params recomputed unless they gave it."""
    if isinstance(row, ModelArch) and "total_params" not in changes:
        return replace(row, total_params=count_params(row))
    return row
