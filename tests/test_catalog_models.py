"""Model shapes: parameter counts, config.json reading, generic bare sizes, and the data generator."""

from __future__ import annotations

import csv
import filecmp
import json
import subprocess
import sys
from pathlib import Path

import pytest

from frugaltune.catalog.load import DATA_DIR, load_catalog
from frugaltune.catalog.params import active_params, count_params, param_counts
from frugaltune.errors import CatalogError
from frugaltune.record import replace

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "scripts" / "catalog" / "reference"  # the sourced tables the catalog is built from
CONFIGS = Path(__file__).parent / "fixtures" / "catalog" / "configs"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("FRUGALTUNE_CATALOG_DIR", raising=False)


@pytest.fixture
def cat():
    return load_catalog()


def _reference_models() -> list[dict]:
    with open(REFERENCE / "models.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


# --- parameter counts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", _reference_models(),
                         ids=lambda r: r["name"])
def test_count_params_matches_reference(cat, ref):
    arch = cat.model(ref["hf_id"])
    computed = int(ref["total_params_computed"])
    assert abs(count_params(arch) - computed) <= 0.005 * computed  # the bar: 0.5 %
    assert count_params(arch) == computed  # and in fact exact
    if ref["active_params_per_token_computed"]:
        assert active_params(arch) == int(ref["active_params_per_token_computed"])


def test_count_params_ignores_the_stored_total(cat):
    for arch in cat.models.values():
        assert count_params(replace(arch, total_params=None)) == arch.total_params


def test_llama_2_7b_by_hand(cat):
    arch = cat.model("llama-2-7b")
    parts = param_counts(arch)
    # V*h = 32000*4096; per layer 4*h^2 (q,k,v,o, MHA) + 3*h*I (gated MLP) + 2*h (RMSNorms); untied lm_head
    assert parts.embedding == 131_072_000 and parts.lm_head == 131_072_000
    assert parts.per_layer == 4 * 4096**2 + 3 * 4096 * 11008 + 2 * 4096
    assert parts.total == 6_738_415_616 and parts.non_embedding == 6_476_271_616


def test_gqa_bias_tied_and_moe_terms(cat):
    qwen = param_counts(cat.model("qwen2.5-0.5b"))  # 14 heads, 2 KV heads, d=64, q/k/v biases, tied
    assert qwen.attention_per_layer == 896 * 896 * 2 + 2 * 896 * 128 + 896 + 2 * 128 and qwen.lm_head == 0
    mixtral = cat.model("mixtral-8x7b")
    assert param_counts(mixtral).mlp_per_layer == 8 * 3 * 4096 * 14336 + 4096 * 8  # experts + router
    assert active_params(mixtral) == 12_879_925_248


# --- config.json ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("file, catalog_name", [
    ("llama-2-7b.json", "llama-2-7b"), ("qwen2.5-0.5b.json", "qwen2.5-0.5b"), ("qwen3-8b.json", "qwen3-8b"),
    ("gemma-3-4b-multimodal.json", "gemma-3-4b"), ("mixtral-8x7b.json", "mixtral-8x7b"), ("gpt2.json", "gpt2"),
    ("falcon-7b.json", "falcon-7b"), ("phi-3-mini-4k.json", "phi-3-mini-4k"),
])
def test_config_json_gives_the_catalog_shapes(cat, file, catalog_name):
    from_config, from_catalog = cat.model(str(CONFIGS / file)), cat.model(catalog_name)
    assert from_config.total_params == from_catalog.total_params
    shape = ("num_layers", "hidden_size", "intermediate_size", "num_heads", "num_kv_heads", "head_dim",
             "vocab_size", "tie_word_embeddings", "qkv_bias", "qk_norm", "norms_per_layer", "mlp_type", "num_experts")
    assert [getattr(from_config, f) for f in shape] == [getattr(from_catalog, f) for f in shape]


def test_model_directory_with_config_json(cat, tmp_path):
    model_dir = tmp_path / "my-finetune"
    model_dir.mkdir()
    cfg = json.loads((CONFIGS / "qwen2.5-0.5b.json").read_text())
    (model_dir / "config.json").write_text(json.dumps(cfg))
    arch = cat.model(str(model_dir))
    assert arch.name == "my-finetune" and arch.total_params == 494_032_768 and "config.json" in arch.source
    assert cat.model(str(model_dir / "config.json")) == arch
    named = cat.model(str(CONFIGS / "llama-2-7b.json"))
    assert (named.name, named.hf_id) == ("Llama-2-7b-hf", "meta-llama/Llama-2-7b-hf")


def test_bad_configs_are_clear_errors(cat, tmp_path):
    (tmp_path / "broken.json").write_text('{"hidden_size": 64,\n "num_hidden_layers": }')
    with pytest.raises(CatalogError, match=r"broken.json:2:\d+: not valid JSON"):
        cat.model(str(tmp_path / "broken.json"))
    (tmp_path / "partial.json").write_text('{"hidden_size": 64, "num_attention_heads": 4, "vocab_size": 10}')
    with pytest.raises(CatalogError, match=r"partial.json: 'num_hidden_layers' is missing"):
        cat.model(str(tmp_path / "partial.json"))
    (tmp_path / "empty-dir").mkdir()
    with pytest.raises(CatalogError, match="No model config"):
        cat.model(str(tmp_path / "empty-dir"))
    with pytest.raises(CatalogError, match="No model config"):
        cat.model(str(tmp_path / "missing.json"))


# --- bare sizes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, params, tolerance", [
    ("7B", 7e9, 0.04), ("7b", 7e9, 0.04), ("13b", 13e9, 0.01), ("70B", 70e9, 0.02), ("generic 30B", 30e9, 0.01),
    ("0.5B", 0.5e9, 0.10), ("135M", 135e6, 0.06), ("405B", 405e9, 0.01),
])
def test_bare_sizes(cat, spec, params, tolerance):
    arch = cat.model(spec)
    assert arch.name.startswith("generic-") and arch.total_params == count_params(arch)
    assert abs(arch.total_params - params) <= tolerance * params
    assert arch.hidden_size == 128 * arch.num_layers and arch.head_dim == 128
    assert arch.intermediate_size % 256 == 0 and arch.intermediate_size >= 8 * arch.hidden_size / 3


@pytest.mark.parametrize("spec, parsed", [
    ("7B", (7.0, "B")), (" 0.5b ", (0.5, "B")), ("135M", (135.0, "M")), ("generic-13B", (13.0, "B")),
    ("Generic 7 b", (7.0, "B")), ("generic_70B", (70.0, "B")), ("7.50B", (7.5, "B")),
    ("7", None), ("B", None), ("7GB", None), (".5B", None), ("7.B", None), ("7..5B", None), ("1e3B", None),
    ("llama7B", None), ("7Bb", None), ("", None),
])
def test_bare_size_parsing(spec, parsed):
    from frugaltune.catalog.resolve import bare_size

    assert bare_size(spec) == parsed


def test_generic_7b_is_llama_2_7b_shaped(cat):
    generic, llama = cat.model("7B"), cat.model("llama-2-7b")
    assert generic.name == "generic-7B" and generic.total_params == llama.total_params
    assert (generic.num_layers, generic.hidden_size, generic.intermediate_size) == (32, 4096, 11008)
    assert cat.model("0.5B").name == "generic-0.5B"


# --- the generator ------------------------------------------------------------------------------------------


def test_shipped_data_is_what_the_generator_writes(tmp_path):
    script = ROOT / "scripts" / "catalog" / "build_from_reference.py"
    subprocess.run([sys.executable, str(script), "--reference", str(REFERENCE), "--out", str(tmp_path)],
                   check=True, capture_output=True)
    for name in ("gpus.csv", "offers.csv", "models.csv", "storage.csv", "SCHEMA_VERSION"):
        assert filecmp.cmp(tmp_path / name, Path(DATA_DIR) / name, shallow=False), f"{name} differs: re-run the generator"
