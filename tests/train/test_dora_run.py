"""DoRA (peft use_dora) in the runner: a real few-step fine-tune of the tiny preset on CPU trains the magnitude vectors
next to the adapters, saves them in every checkpoint and in the final adapter, and resumes exactly from a checkpoint;
QDoRA (DoRA on the 4-bit base) trains too. A DoRA config with method full is refused before anything loads."""

from __future__ import annotations

import pytest
from ft_runner_util import assert_same_tree, config_dict, events, load_tensors, step_losses

from frugaltune.errors import ConfigError
from frugaltune.train.config import RunConfig
from frugaltune.train.recipe import train

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")
STEPS = 8
DORA = {"kind": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.1, "targets": ["q_proj", "v_proj"],
                                 "use_dora": True}}


def _magnitudes(tensors: dict) -> dict:
    return {k: v for k, v in tensors.items() if "lora_magnitude_vector" in k}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return tmp_path_factory.mktemp("dora")


@pytest.fixture(scope="module")
def straight(shared):
    result = train(RunConfig.from_dict(config_dict(shared, steps=STEPS, out="straight", method=DORA)), quiet=True)
    assert result.exit_code == 0
    return result.run_dir


def test_dora_checkpoints_hold_trained_magnitudes(straight):
    final = load_tensors(straight / "final" / "adapter_model.safetensors")
    mags = _magnitudes(final)
    # tiny preset: 2 layers x (q_proj, v_proj), one magnitude per output feature
    assert len(mags) == 4 and all(v.ndim == 1 for v in mags.values())
    first = load_tensors(next((straight / "checkpoints" / "step-000004").glob("**/adapter_model.safetensors")))
    assert set(_magnitudes(first)) == set(mags)
    assert any(not (first[k] == mags[k]).all() for k in mags)  # the magnitudes train between steps 4 and 8


def test_dora_resumes_exactly_from_a_checkpoint(shared, straight):
    cfg = RunConfig.from_dict(config_dict(shared, steps=STEPS, out="resumed", method=DORA))
    result = train(cfg, resume=str(straight / "checkpoints" / "step-000004"), quiet=True)
    assert result.exit_code == 0 and events(result.run_dir, "resume")[0]["from_step"] == 4
    assert step_losses(result.run_dir) == {s: v for s, v in step_losses(straight).items() if s > 4}
    assert_same_tree(load_tensors(result.run_dir / "final" / "adapter_model.safetensors"),
                     load_tensors(straight / "final" / "adapter_model.safetensors"))


def test_qdora_trains_magnitudes_on_the_4bit_base(shared):
    pytest.importorskip("bitsandbytes")
    method = {**DORA, "kind": "qlora"}
    result = train(RunConfig.from_dict(config_dict(shared, steps=2, out="qdora", method=method)), quiet=True)
    assert result.exit_code == 0
    assert len(_magnitudes(load_tensors(result.run_dir / "final" / "adapter_model.safetensors"))) == 4


def test_dora_with_full_fine_tuning_is_refused(shared):
    with pytest.raises(ConfigError, match="use_dora"):
        RunConfig.from_dict(config_dict(shared, method={"kind": "full", "lora": {"use_dora": True}}))
