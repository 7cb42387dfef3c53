"""Forgiving names: GPUs, models and platforms as users type them -> canonical catalog keys.

Matching rules (all case-insensitive; spaces, dashes and underscores are ignored):
- GPUs: the canonical name or any alias of its row; leading vendor words (NVIDIA, Tesla, GeForce, Quadro, AMD,
  Instinct) and a trailing "GPU" are ignored, so nvidia-smi names ("Tesla T4", "NVIDIA A100-SXM4-80GB") resolve.
  Failing that, a spelling is split into a base name, a memory size and a form factor (`gpu_parts`), as people,
  nvidia-smi and clouds write them: "RTX 4090 24GB", "NVIDIA H100 80GB HBM3", "nvidia-h100-mega-80gb" (GCP),
  "A100-80GB-SXM" (SkyPilot). The base picks the GPU rows, the memory (within 10 %) and form factor narrow them.
  Ambiguous bare names pick documented defaults (gpus.csv aliases): A100 -> A100-40GB, H100 -> H100-SXM,
  V100 -> V100-16GB; a name still left with several sizes is refused with the candidates listed.
- Models: the name, the Hugging Face id (with or without its org), or an alias; then the same with "-hf",
  "-instruct", "-chat", "-base" tokens removed anywhere and "-it"/"-pt" at the end, because those repos share the
  base model's shapes. Then a local config.json / model directory, then a bare size ("7B", "0.5b", "generic-13B").
- Platforms: a key ("lambda") or a spelling in PLATFORM_ALIASES ("Lambda Labs", "vast.ai", "AWS EC2").
"""

from __future__ import annotations

import os

from frugaltune.catalog.types import GpuSpec, ModelArch
from frugaltune.errors import CatalogError, did_you_mean

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

# Plain string operations, not `re`: importing re (and enum) is ~9 ms of `estimate --json` start-up.
_SEPARATORS = str.maketrans("_-", "  ")  # with whitespace: what separates the tokens of a name
_GPU_VENDOR_WORDS = {"nvidia", "tesla", "geforce", "quadro", "amd", "instinct"}
# Words that name no GPU: packaging, marketing and cloud-SKU decorations ("nvidia-h100-mega-80gb" is an H100 SXM).
_GPU_NOISE_WORDS = _GPU_VENDOR_WORDS | {"gpu", "generation", "graphics", "card", "mega", "hgx", "dgx", "oam",
                                       "superchip", "hbm2", "hbm2e", "hbm3", "hbm3e", "gddr6", "gddr6x", "gddr7"}
# Form factors as written -> one word; "nvlink" is SkyPilot's spelling of NVLink-connected (SXM) H100s.
_GPU_FORMS = {"sxm": "sxm", "sxm2": "sxm", "sxm4": "sxm", "sxm5": "sxm", "sxm6": "sxm", "nvlink": "sxm",
              "pcie": "pcie", "pci": "pcie", "nvl": "nvl"}
_MEMORY_UNITS = ("gib", "gb", "g")
_MODEL_DROP_ANYWHERE = {"hf", "instruct", "chat", "base"}
_MODEL_DROP_AT_END = {"it", "pt"}

PLATFORM_ALIASES: dict[str, tuple[str, ...]] = {
    "aws": ("amazon", "amazon web services", "ec2", "aws ec2", "amazon ec2"),
    "gcp": ("google", "google cloud", "google cloud platform", "gce", "google compute engine"),
    "azure": ("microsoft azure", "ms azure"),
    "lambda": ("lambda labs", "lambdalabs", "lambda cloud", "lambda.ai"),
    "modal": ("modal labs", "modal.com"),
    "runpod": ("runpod.io", "run pod"),
    "vast": ("vast.ai", "vastai"),
    "coreweave": ("core weave",),
    "nebius": ("nebius ai", "nebius.com"),
    "paperspace": ("paperspace gradient", "digitalocean paperspace"),
}


def _tokens(name: str) -> list[str]:
    """Lower-case tokens split at whitespace, '_' and '-': 'NVIDIA A100-SXM4_80GB' -> ['nvidia', 'a100', ...]."""
    return name.lower().translate(_SEPARATORS).split()


def gpu_key(name: str) -> str:
    """'NVIDIA A100-SXM4-80GB' -> 'a100sxm480gb'."""
    tokens = _tokens(name)
    while tokens and tokens[0] in _GPU_VENDOR_WORDS:
        tokens.pop(0)
    if len(tokens) > 1 and tokens[-1] == "gpu":
        tokens.pop()
    return "".join(tokens)


def _memory_gb(token: str) -> float | None:
    """'80gb' -> 80.0, '48g' -> 48.0, '141gib' -> 141.0; None for anything else."""
    for unit in _MEMORY_UNITS:
        number = token[: -len(unit)]
        if token.endswith(unit) and number.replace(".", "", 1).isdigit():
            return float(number)
    return None


def gpu_parts(name: str) -> tuple[str, float | None, str | None]:
    """(base, memory GB, form factor) of a GPU spelling: 'NVIDIA A100-SXM4-80GB' -> ('a100', 80.0, 'sxm'),
    'RTX 4090 24 GB' -> ('rtx4090', 24.0, None), 'nvidia-tesla-t4' -> ('t4', None, None).
    A leading count ('8x') and the noise words (vendor, packaging, memory type) are dropped."""
    tokens = name.lower().replace("/", " ").replace(",", " ").translate(_SEPARATORS).split()
    if tokens and tokens[0].endswith("x") and tokens[0][:-1].isdigit():
        tokens.pop(0)
    base, memory, form = [], None, None
    for i, token in enumerate(tokens):
        if token in _GPU_NOISE_WORDS or (token in _MEMORY_UNITS and memory is not None):
            continue
        if token in _GPU_FORMS:
            form = _GPU_FORMS[token]
        elif _memory_gb(token) is not None and base:
            memory = _memory_gb(token)
        elif token.replace(".", "", 1).isdigit() and i + 1 < len(tokens) and tokens[i + 1] in _MEMORY_UNITS and base:
            memory = float(token)
        else:
            base.append(token)
    return "".join(base), memory, form


def _row_form(spec: GpuSpec) -> str | None:
    """The form factor a catalog row stands for: from its name, else from its aliases (A100-40GB: 'A100-SXM4-40GB')."""
    named = gpu_parts(spec.name)[2]
    if named:
        return named
    forms = {gpu_parts(alias)[2] for alias in spec.aliases} - {None}
    return forms.pop() if len(forms) == 1 else None


def _gpu_candidates(name: str, gpus: dict[str, GpuSpec]) -> tuple[list[GpuSpec], list[GpuSpec]]:
    """(rows whose base name matches `name`'s, those rows narrowed by its memory size and form factor)."""
    base, memory, form = gpu_parts(name)
    by_base = [g for g in gpus.values() if base and base in {gpu_parts(s)[0] for s in (g.name, *g.aliases)}]
    rows = by_base
    if memory is not None:
        rows = [g for g in rows if abs(g.memory_gb - memory) <= 0.1 * g.memory_gb]
    forms = {g.name: _row_form(g) for g in rows}
    if form is not None:
        rows = [g for g in rows if forms[g.name] == form] or [g for g in rows if forms[g.name] is None]
    elif len({g.memory_gb for g in rows}) == 1 and len(rows) > 1:
        rows = [g for g in rows if forms[g.name] in (None, "sxm")] or rows  # same size: SXM is the default
    return by_base, rows


def _gpu_by_parts(name: str, gpus: dict[str, GpuSpec], index: dict[str, str]) -> GpuSpec:
    """The one row `name` stands for by base name, memory and form factor; CatalogError when none or several."""
    by_base, rows = _gpu_candidates(name, gpus)
    base, memory, form = gpu_parts(name)
    if len(rows) > 1 and memory is None and form is None and index.get(base) in {g.name for g in rows}:
        return gpus[index[base]]  # "H100 HBM3", "H100-MEGA": the bare name's documented default
    if len(rows) == 1:
        return rows[0]
    if rows:
        raise CatalogError(f"GPU {name!r} is ambiguous: it could be {', '.join(sorted(g.name for g in rows))}.",
                           fix="add the memory size (e.g. '80GB') or the form factor ('PCIe', 'SXM'), "
                               "or use one of those names.")
    if by_base:
        sizes = ", ".join(f"{g.name} ({g.memory_gb:g} GB)" for g in sorted(by_base, key=lambda g: g.name))
        raise CatalogError(f"Unknown GPU {name!r}: the catalog has {sizes}.",
                           fix="check the memory size and form factor, or add your own GPU in a gpus.csv "
                               "of a user catalog dir.")
    raise CatalogError(
        f"Unknown GPU {name!r}.{did_you_mean(name, gpus)}",
        fix="`frugaltune catalog gpus` lists them; add your own GPU in a gpus.csv of a user catalog dir.",
    )


def _model_tokens(name: str) -> list[str]:
    return _tokens(name.strip().rstrip("/").rsplit("/", 1)[-1])


def model_keys(name: str) -> list[str]:
    """Lookup keys of a model spelling: exact, then with instruct/chat/hf/base (anywhere) and it/pt (end) removed."""
    tokens = _model_tokens(name)
    exact = "".join(tokens)
    stripped = [t for t in tokens if t not in _MODEL_DROP_ANYWHERE]
    while len(stripped) > 1 and stripped[-1] in _MODEL_DROP_AT_END:
        stripped.pop()
    return [exact] if "".join(stripped) in ("", exact) else [exact, "".join(stripped)]


def platform_key(name: str) -> str:
    """'Lambda Labs' -> 'lambdalabs'; 'vast.ai' -> 'vastai'."""
    return "".join(_tokens(name.replace(".", " ")))


def bare_size(spec: str) -> tuple[float, str] | None:
    """(number, 'B' or 'M') of a bare model size: '7B', '0.5b', '135M', 'generic-13B', 'generic 7 b'; else None."""
    text = spec.strip().lower()
    if text.startswith("generic"):
        text = text[len("generic"):].lstrip(" \t_-")
    number, unit = text[:-1].rstrip(), text[-1:]
    digits = number.replace(".", "", 1)
    if unit not in ("b", "m") or not digits.isdigit() or not (number[0].isdigit() and number[-1].isdigit()):
        return None
    return float(number), unit.upper()


def build_gpu_index(gpus: dict[str, GpuSpec]) -> dict[str, str]:
    """Normalized spelling -> canonical GPU name. Canonical names win over aliases of other rows."""
    index: dict[str, str] = {gpu_key(n): n for n in gpus}
    for name, spec in gpus.items():
        for alias in spec.aliases:
            index.setdefault(gpu_key(alias), name)
    return index


def build_model_index(models: dict[str, ModelArch]) -> dict[str, str]:
    """Normalized spelling -> model name. Priority: names, hf ids, aliases, then their suffix-stripped forms."""
    index: dict[str, str] = {}
    passes = [
        lambda m: [m.name],
        lambda m: [m.hf_id] if m.hf_id else [],
        lambda m: list(m.aliases),
    ]
    for spellings_of in passes:
        for model in models.values():
            for spelling in spellings_of(model):
                index.setdefault(model_keys(spelling)[0], model.name)
    for spellings_of in passes:
        for model in models.values():
            for spelling in spellings_of(model):
                index.setdefault(model_keys(spelling)[-1], model.name)
    return index


def build_platform_index(platforms: Iterable[str]) -> dict[str, str]:
    index = {platform_key(p): p for p in platforms}
    for key, spellings in PLATFORM_ALIASES.items():
        index.setdefault(platform_key(key), key)
        for spelling in spellings:
            index.setdefault(platform_key(spelling), key)
    return index


def resolve_gpu(name: str, gpus: dict[str, GpuSpec], index: dict[str, str]) -> GpuSpec:
    """Canonical GpuSpec for a forgiving `name` (see the module docstring).

    Raises:
        CatalogError: unknown (with 'Did you mean' or the sizes the catalog has), or several GPUs fit.
    """
    canonical = index.get(gpu_key(name))
    if canonical is not None:
        return gpus[canonical]
    return _gpu_by_parts(name, gpus, index)


def resolve_platform(name: str, index: dict[str, str]) -> str:
    """Canonical platform key for a forgiving `name`. Raises CatalogError when unknown."""
    key = index.get(platform_key(name))
    if key is None:
        keys = sorted(set(index.values()))
        raise CatalogError(
            f"Unknown platform {name!r}.{did_you_mean(name, keys)}",
            fix=f"use one of {', '.join(keys)} (`frugaltune catalog prices` lists their offers), "
            "or add your own offers.csv in a user catalog dir.",
        )
    return key


def resolve_model(spec: str, models: dict[str, ModelArch], index: dict[str, str]) -> ModelArch:
    """A catalog model, a local config.json / model directory, or a generic model of a bare size.

    Raises:
        CatalogError: unknown name (with 'Did you mean'), or an unreadable config.json.
    """
    path = os.path.expanduser(spec)
    if os.path.isfile(path) or os.path.isfile(os.path.join(path, "config.json")) or spec.endswith(".json"):
        return _from_config(path)
    for key in model_keys(spec):
        if key in index:
            return models[index[key]]
    size = bare_size(spec)
    if size:
        from frugaltune.catalog.generic import generic_arch

        number, unit = size
        return generic_arch(number * (1e9 if unit == "B" else 1e6), label=f"{number:g}{unit}")
    if os.path.isdir(path):
        return _from_config(path)  # raises: the directory has no config.json
    choices = list(models) + [m.hf_id for m in models.values() if m.hf_id]
    from frugaltune.catalog.hub import arch_from_hub, looks_like_hub_id

    if looks_like_hub_id(spec):  # outside the catalog: its config.json from the HF cache or the Hub
        return arch_from_hub(spec, did_you_mean(spec, choices))
    raise CatalogError(
        f"Unknown model {spec!r}.{did_you_mean(spec, choices)}",
        fix="`frugaltune catalog models` lists them; or pass a local config.json / model directory, "
        "or a bare size such as 7B.",
    )


def _from_config(path: str) -> ModelArch:
    from frugaltune.catalog.hfconfig import arch_from_config

    return arch_from_config(path)
