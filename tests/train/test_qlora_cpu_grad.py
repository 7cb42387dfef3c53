"""QLoRA gradients on a CPU are the gradients of the dequantised model, also after an evaluation.

bitsandbytes repacks a 4-bit weight for its inference kernel (`gemv_4bit`, no backward) the first time a layer runs
in eval mode on an AVX512-BF16 CPU; training through the repacked layer drops the base path from the backward pass.
`keep_4bit_differentiable` keeps every 4-bit layer on the differentiable path.
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
bnb = pytest.importorskip("bitsandbytes")
peft = pytest.importorskip("peft")

from bitsandbytes.functional import _convert_weight_packed_for_cpu, dequantize_4bit  # noqa: E402
from ft_runner_util import config_dict  # noqa: E402

from frugaltune.train.config import RunConfig  # noqa: E402
from frugaltune.train.model import keep_4bit_differentiable  # noqa: E402


class TwoLayers(torch.nn.Module):
    def __init__(self, up, down):
        super().__init__()
        self.up_proj, self.down_proj = up, down

    def forward(self, x):
        return self.down_proj(torch.relu(self.up_proj(x)))


def quantised(lin):
    q = bnb.nn.Linear4bit(lin.in_features, lin.out_features, bias=False, compute_dtype=torch.float32,
                          quant_type="nf4")
    q.weight = bnb.nn.Params4bit(lin.weight.data.clone(), requires_grad=False, quant_type="nf4")._quantize("cpu")
    return q


def dequantised(q):
    ref = torch.nn.Linear(q.in_features, q.out_features, bias=False)
    ref.weight.data = dequantize_4bit(q.weight.data, q.weight.quant_state).float().clone()
    return ref


def adapter_grads(model, x) -> dict:
    model.zero_grad()
    model(x).pow(2).sum().backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def with_lora(base, seed=1):
    cfg = peft.LoraConfig(r=4, target_modules=["up_proj", "down_proj"], lora_dropout=0.0, init_lora_weights=False)
    torch.manual_seed(seed)
    return peft.get_peft_model(base, cfg)


def test_adapter_gradients_match_the_dequantised_model_after_an_evaluation():
    torch.manual_seed(0)
    up, down = quantised(torch.nn.Linear(128, 256, bias=False)), quantised(torch.nn.Linear(256, 128, bias=False))
    for layer in (up, down):  # what bitsandbytes does on an AVX512-BF16 CPU: repack for its inference kernel
        layer.support_avx512bf16_for_cpu = True
        layer.weight.data, layer.weight.quant_state = _convert_weight_packed_for_cpu(layer.weight.data,
                                                                                    layer.weight.quant_state)
    model = with_lora(TwoLayers(up, down))
    assert keep_4bit_differentiable(model) == 2
    assert not any(getattr(m.weight.quant_state, "packing_format_for_cpu", False) for m in (up, down))
    reference = with_lora(TwoLayers(dequantised(up), dequantised(down)))
    x = torch.randn(3, 5, 128)
    model.eval()
    with torch.no_grad():  # an evaluation: would repack again without the guard
        model(x)
    model.train()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "gemv_4bit: an autograd kernel was not registered" would raise here
        got = adapter_grads(model, x)
    want = adapter_grads(reference, x)
    assert got.keys() == want.keys() and len(got) == 4
    for name in got:  # the first layer's adapters get their gradient through the 4-bit second layer
        rel = float((got[name] - want[name]).norm() / want[name].norm())
        assert rel < 1e-5, f"{name}: gradient {rel:.1e} off the dequantised fp32 model"


def test_a_qlora_run_keeps_every_4bit_layer_differentiable(tmp_path):
    from frugaltune.train.recipe import Recipe

    cfg = RunConfig.from_dict(config_dict(tmp_path, steps=2, method={"kind": "qlora"}))
    recipe = Recipe(cfg, quiet=True)
    try:
        recipe.setup()
        layers = [m for m in recipe.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
        assert layers and all(m.support_avx512bf16_for_cpu is False for m in layers)
    finally:
        recipe.cleanup()
