"""A ModelArch from a Hugging Face `config.json` (no weights, no transformers import).

Reads the architecture keys of Llama / Mistral / Mixtral / Qwen2 / Qwen2.5 / Qwen3 / Gemma 1-3 / Phi-3 style configs
(`num_hidden_layers`, `hidden_size`, `intermediate_size`, `num_attention_heads`, `num_key_value_heads`, `head_dim`,
`vocab_size`, `max_position_embeddings`, `tie_word_embeddings`), plus GPT-2 (`n_layer`, `n_embd`, ...) and Falcon
keys. Defaults missing from a config follow the transformers config classes: `num_key_value_heads` = heads,
`head_dim` = hidden / heads, `tie_word_embeddings` False for Llama/Mistral/Qwen/Phi-3 and True otherwise
(PretrainedConfig's default). Multimodal configs (Gemma 3, LLaVA) use their `text_config`: the text decoder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from frugaltune.catalog.params import count_params
from frugaltune.catalog.types import ModelArch
from frugaltune.errors import CatalogError
from frugaltune.record import replace

_UNTIED_BY_DEFAULT = {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "phi3"}
_QKV_BIAS_ALWAYS = {"qwen2", "qwen2_moe"}
_QK_NORM = {"qwen3", "qwen3_moe", "gemma3", "gemma3_text"}
_FOUR_NORMS = {"gemma2", "gemma3", "gemma3_text"}
_KEY_SYNONYMS = {  # GPT-2 / Falcon spellings -> Llama spellings
    "n_layer": "num_hidden_layers", "n_embd": "hidden_size", "n_head": "num_attention_heads",
    "n_inner": "intermediate_size", "n_positions": "max_position_embeddings", "num_kv_heads": "num_key_value_heads",
    "ffn_hidden_size": "intermediate_size", "num_local_experts": "num_experts",
}


def read_config(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """(config file, its dict) for a config.json path or a directory holding one. Raises CatalogError."""
    path = Path(path)
    file = path / "config.json" if path.is_dir() else path
    if not file.is_file():
        raise CatalogError(f"No model config at {file}.",
                           fix="pass a config.json file or a model directory that contains one.")
    try:
        cfg = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise CatalogError(f"{file}:{err.lineno}:{err.colno}: not valid JSON ({err.msg}).",
                           fix="fix the JSON, or download the model's config.json again.") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CatalogError(f"{file}: cannot read ({err}).", fix="check the file's permissions.") from None
    if not isinstance(cfg, dict):
        raise CatalogError(f"{file}: expected a JSON object.", fix="pass a Hugging Face config.json.")
    return file, cfg


def _flatten(cfg: dict[str, Any]) -> dict[str, Any]:
    """The text decoder's keys (from `text_config` when present), with GPT-2/Falcon spellings renamed."""
    text = cfg.get("text_config")
    merged = {**cfg, **text} if isinstance(text, dict) else dict(cfg)
    for old, new in _KEY_SYNONYMS.items():
        if merged.get(old) is not None and merged.get(new) is None:
            merged[new] = merged[old]
    return merged


def _need(cfg: dict[str, Any], key: str, file: Path) -> int:
    value = cfg.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise CatalogError(f"{file}: '{key}' is missing or not a positive integer (got {value!r}).",
                           fix="pass the config.json of a decoder-only transformer (Llama, Mistral, Qwen, Gemma...).")
    return value


def _family_fields(cfg: dict[str, Any], model_type: str) -> dict[str, Any]:
    """Fields that depend on the architecture family rather than on explicit config keys."""
    gpt2, falcon = model_type == "gpt2", model_type == "falcon"
    parallel_falcon = falcon and cfg.get("parallel_attn", True) and not cfg.get("new_decoder_architecture")
    return {
        "tie_word_embeddings": bool(cfg.get("tie_word_embeddings", model_type not in _UNTIED_BY_DEFAULT)),
        "qkv_bias": gpt2 or model_type in _QKV_BIAS_ALWAYS or bool(cfg.get("attention_bias") or cfg.get("bias")),
        "linear_bias": gpt2 or (falcon and bool(cfg.get("bias"))),
        "qk_norm": model_type in _QK_NORM,
        "norm_type": "layernorm" if gpt2 or falcon else "rmsnorm",
        "norms_per_layer": 4 if model_type in _FOUR_NORMS else 1 if parallel_falcon else 2,
        "mlp_type": "plain" if gpt2 or falcon else "gated",
        "learned_pos_embeddings": int(cfg.get("max_position_embeddings", 0)) if gpt2 else 0,
        "hidden_act": str(cfg.get("hidden_act") or cfg.get("hidden_activation") or cfg.get("activation_function")
                          or ("gelu" if falcon else "silu")),
    }


def _kv_heads(cfg: dict[str, Any], model_type: str, heads: int) -> int:
    if model_type == "falcon" and not cfg.get("new_decoder_architecture") and cfg.get("multi_query", True):
        return 1
    return int(cfg.get("num_key_value_heads") or heads)


def _name(cfg: dict[str, Any], file: Path) -> tuple[str, str]:
    """(name, hf_id): from `_name_or_path` when it looks like 'org/name', else the model directory's name (or the
    file's stem for a file not called config.json)."""
    origin = str(cfg.get("_name_or_path") or "")
    if origin.count("/") == 1 and not origin.startswith((".", "/", "~")):
        return origin.split("/")[1], origin
    return (file.parent.resolve().name if file.name == "config.json" else file.stem) or "local-model", ""


def arch_from_config(path: str | Path) -> ModelArch:
    """Read a config.json (or a model directory with one) into a ModelArch; total_params is computed.

    Raises:
        CatalogError: no config, invalid JSON, or missing/invalid architecture keys (naming the file and key).
    """
    file, raw = read_config(path)
    cfg = _flatten(raw)
    model_type = str(cfg.get("model_type") or "").lower()
    hidden, heads = _need(cfg, "hidden_size", file), _need(cfg, "num_attention_heads", file)
    inter = cfg.get("moe_intermediate_size") or cfg.get("intermediate_size") or (4 * hidden)
    name, hf_id = _name(cfg, file)
    arch = ModelArch(
        name=name, hf_id=hf_id, num_layers=_need(cfg, "num_hidden_layers", file), hidden_size=hidden,
        intermediate_size=int(inter), num_heads=heads, num_kv_heads=_kv_heads(cfg, model_type, heads),
        head_dim=int(cfg.get("head_dim") or hidden // heads), vocab_size=_need(cfg, "vocab_size", file),
        max_position_embeddings=int(cfg.get("max_position_embeddings") or cfg.get("seq_length") or 2048),
        num_experts=int(cfg.get("num_experts") or 0), experts_per_token=int(cfg.get("num_experts_per_tok") or 0),
        sliding_window=cfg.get("sliding_window") if isinstance(cfg.get("sliding_window"), int) else None,
        source=f"config.json at {file}", data_date="unknown", notes=_notes(cfg, model_type),
        **_family_fields(cfg, model_type),
    )
    _check_sizes(arch, file)
    return replace(arch, total_params=count_params(arch), extra={"model_type": model_type, "config_path": str(file)})


_CONFIG_KEYS = {"num_layers": "num_hidden_layers", "num_heads": "num_attention_heads",
                "num_kv_heads": "num_key_value_heads"}  # ModelArch field -> the config.json key a user sees


def _check_sizes(arch: ModelArch, file: Path) -> None:
    """Every size positive and under the catalog's physical ceilings (a 10^12 hidden size priced 4e16 hours), and
    the attention heads a multiple of the key/value heads, as the catalog's own rows must be."""
    from frugaltune.catalog.validate import CEILINGS

    for field in ("num_layers", "hidden_size", "intermediate_size", "num_heads", "num_kv_heads", "head_dim",
                  "vocab_size", "num_experts", "experts_per_token"):
        value, key = getattr(arch, field), _CONFIG_KEYS.get(field, field)
        lo = 0 if field in ("num_experts", "experts_per_token") else 1
        if not lo <= value <= CEILINGS[field]:
            raise CatalogError(f"{file}: '{key}' = {value:,} is outside {lo}..{CEILINGS[field]:,} (no real model has "
                               "that).", fix="check the config.json: is it a transformer model's config?")
    if arch.num_heads % arch.num_kv_heads:
        raise CatalogError(f"{file}: {arch.num_heads} attention heads are not a multiple of {arch.num_kv_heads} "
                           "key/value heads.", fix="check num_attention_heads and num_key_value_heads.")


def _notes(cfg: dict[str, Any], model_type: str) -> str:
    notes = [f"model_type {model_type or 'unknown'}"]
    if cfg.get("shared_expert_intermediate_size"):
        notes.append("shared experts are not counted (params approximate)")
    if cfg.get("first_k_dense_replace") or cfg.get("kv_lora_rank"):
        notes.append("dense-first-layers / MLA attention not modelled (params approximate)")
    return "; ".join(notes)
