"""The estimator's LoRA and total parameter counts equal what peft / transformers count on a real (tiny, random)
Llama built from a config: no download. Skips where the train extra (torch, transformers, peft) is not installed."""

from __future__ import annotations

import pytest

from frugaltune.estimate import shapes

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")

R = 8
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")  # transformers deprecations inside peft


@pytest.fixture(scope="module")
def tiny_llama_config():
    return transformers.LlamaConfig(num_hidden_layers=2, hidden_size=64, num_attention_heads=4, num_key_value_heads=2,
                                    intermediate_size=128, vocab_size=64, max_position_embeddings=128)


def _fresh_model(config):
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(config)


def test_total_params_match_transformers(tiny, tiny_llama_config):
    model = _fresh_model(tiny_llama_config)
    assert shapes.total_params(tiny) == sum(p.numel() for p in model.parameters()) == 82_240


@pytest.mark.parametrize("targets, peft_targets, expected", [
    (("q_proj", "v_proj"), ["q_proj", "v_proj"], 2 * R * ((64 + 64) + (64 + 32))),
    (("q_proj", "k_proj", "v_proj", "o_proj"), ["q_proj", "k_proj", "v_proj", "o_proj"],
     2 * R * ((64 + 64) + 2 * (64 + 32) + (64 + 64))),
    (("all-linear",), "all-linear", 2 * R * ((64 + 64) + 2 * (64 + 32) + (64 + 64) + 3 * (64 + 128))),
])
def test_lora_params_match_peft(tiny, tiny_llama_config, targets, peft_targets, expected):
    model = _fresh_model(tiny_llama_config)
    lora = peft.get_peft_model(model, peft.LoraConfig(r=R, lora_alpha=16, target_modules=peft_targets))
    trainable, _all = lora.get_nb_trainable_parameters()
    assert shapes.lora_params(tiny, R, targets) == trainable == expected
