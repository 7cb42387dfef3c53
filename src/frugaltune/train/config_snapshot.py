"""The run config's defaults and JSON schema as plain data, built with pydantic once per version of the code and
cached (frugaltune.datacache), so `frugaltune plan` writes a complete run YAML without importing pydantic (~200 ms of
a command that should take a tenth of that). The schema's home stays train/config.py; `complete(raw)` gives what
`RunConfig.from_dict(raw).model_dump(mode="json")` gives for a well-formed mapping (a test checks it on planned
configs); `frugaltune train` still validates everything when it reads the file.
"""

from __future__ import annotations


def snapshot() -> dict:
    """{"defaults": RunConfig() as JSON data, "schema": its JSON schema, "models": each section model's defaults}."""
    from frugaltune import datacache

    return datacache.cached("run-config-snapshot", datacache.package_sources("pydantic"), _build)


def _build() -> dict:
    from frugaltune.train import config as C

    schema = C.json_schema()
    models = {}
    for name in schema.get("$defs", {}):
        cls = getattr(C, name, None)
        try:
            models[name] = cls().model_dump(mode="json")
        except Exception:  # noqa: BLE001 -- a section without defaults for every field: completed from raw only
            continue
    return {"defaults": C.RunConfig().model_dump(mode="json"), "schema": schema, "models": models}


def complete(raw: dict) -> dict:
    """`raw` (sections of a run config) filled with every default, numbers typed as the schema says (an int where a
    float is expected becomes a float), in the schema's key order."""
    snap = snapshot()
    return _merge(snap["defaults"], raw, snap["schema"], snap)


def _merge(base: dict, raw: dict, node: dict, snap: dict) -> dict:
    props = node.get("properties", {})
    unknown = set(raw) - set(props)
    if unknown:
        raise KeyError(f"run config keys not in the schema: {sorted(unknown)}")
    out = dict(base)
    for key, value in raw.items():
        ref = _model_ref(props[key])
        if isinstance(value, dict) and ref is not None:
            start = out.get(key) if isinstance(out.get(key), dict) else snap["models"].get(ref, {})
            out[key] = _merge(start, value, snap["schema"]["$defs"][ref], snap)
        else:
            out[key] = _typed(value, props[key])
    return {key: out[key] for key in props if key in out}


def _model_ref(prop: dict) -> str | None:
    """The section model a property holds ('#/$defs/LoraConfig' -> 'LoraConfig'), directly or as an option."""
    for option in [prop, *prop.get("anyOf", [])]:
        if "$ref" in option:
            return option["$ref"].rsplit("/", 1)[-1]
    return None


def _typed(value, prop: dict):
    types = {option.get("type") for option in [prop, *prop.get("anyOf", [])]}
    if type(value) is int and "number" in types and "integer" not in types:
        return float(value)
    return value
