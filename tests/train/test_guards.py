"""Training that notices it is broken (train/guards.py): a non-finite loss or gradient stops the run with exit 65
before that step touches the weights, the last good checkpoint is kept, the ledger and summary say why, and no
checkpoint is ever written from weights that are not finite. Tiny preset, CPU."""

from __future__ import annotations

import contextlib
import io
import math

import pytest
import yaml
from ft_runner_util import config_dict, events, load_tensors

from frugaltune.errors import DivergedError
from frugaltune.train import checkpoint as ckpt
from frugaltune.train.config import RunConfig
from frugaltune.train.guards import scaler_active
from frugaltune.train.recipe import Recipe, train


def poison_loss_at(monkeypatch, step: int, value: float = math.nan) -> None:
    """The loss of optimizer step `step` (1-based) becomes `value` (as lr 1e30 or a bad batch would make it)."""
    from frugaltune.train import stack_runtime

    real = stack_runtime.step_loss
    original_count = Recipe._count
    state = {"step": 0}

    def count(self, *args):
        original_count(self, *args)
        state["step"] = self.progress.step

    def loss(model, batch, training, **kw):
        out = real(model, batch, training, **kw)
        return out * value if state["step"] + 1 == step else out

    monkeypatch.setattr(Recipe, "_count", count)
    monkeypatch.setattr(stack_runtime, "step_loss", loss)


def test_a_nan_loss_stops_with_exit_65_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    poison_loss_at(monkeypatch, 6)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(config_dict(tmp_path, steps=12)))
    from frugaltune.cli.app import run

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = run(["train", str(config), "-q"])
    assert code == 65
    lines = [line for line in err.getvalue().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err.getvalue()
    assert lines[0].startswith("error: training diverged at step 6: the loss is nan")
    assert "step-000004, is kept" in lines[0] and "lower training.lr" in err.getvalue()
    run_dir = tmp_path / "run"
    assert [p.name for p in ckpt.list_checkpoints(run_dir / "checkpoints")] == ["step-000004"]
    assert ckpt.verify(run_dir / "checkpoints" / "step-000004") is None
    weights = load_tensors(run_dir / "checkpoints" / "step-000004" / "adapter_model.safetensors")
    assert all(bool(t.isfinite().all()) for t in weights.values())
    last = events(run_dir)[-1]
    assert last["event"] == "diverged" and "the loss is nan" in last["error"]
    # the ledger names the step the message names, the checkpoint kept, and (as every event) the steps completed
    assert last["diverged_at_step"] == 6 and "at step 6" in last["error"] and last["step"] == 5
    assert last["last_good_checkpoint"] == "step-000004"
    import json

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "diverged" and "step 6" in summary["stop_reason"]
    assert not any(isinstance(v, float) and not math.isfinite(v) for v in summary.values())


def test_an_infinite_gradient_with_a_finite_loss_stops_too(tmp_path, monkeypatch):
    real = Recipe._train_step

    def step(self):
        if self.progress.step == 2:  # the third step's backward overflows in one adapter
            backward = self.engine.backward

            def overflow(model, loss):
                backward(model, loss)
                next(p for p in model.parameters() if p.grad is not None).grad.fill_(math.inf)

            self.engine.backward = overflow
        return real(self)

    monkeypatch.setattr(Recipe, "_train_step", step)
    cfg = RunConfig.from_dict(config_dict(tmp_path, steps=8))
    with pytest.raises(DivergedError, match="training diverged at step 3: the gradient norm is inf") as err:
        train(cfg, quiet=True)
    assert "no checkpoint was written yet" in err.value.message and "starts over" in err.value.fix
    last = events(tmp_path / "run")[-1]
    assert last["event"] == "diverged" and last["diverged_at_step"] == 3 and last["last_good_checkpoint"] is None


def test_weights_that_are_not_finite_are_never_checkpointed(tmp_path, monkeypatch):
    real = Recipe.save_checkpoint

    def save(self, reason):
        if self.progress.step == 8:
            with self.torch.no_grad():
                next(p for p in self.model.parameters() if p.requires_grad).fill_(math.nan)
        return real(self, reason)

    monkeypatch.setattr(Recipe, "save_checkpoint", save)
    cfg = RunConfig.from_dict(config_dict(tmp_path, steps=12))
    with pytest.raises(DivergedError, match="diverged at step 8: the trained weights are no longer finite.*this checkpoint was not written"):
        train(cfg, quiet=True)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "run" / "checkpoints")] == ["step-000004"]
    last = events(tmp_path / "run")[-1]
    assert (last["diverged_at_step"], last["step"], last["last_good_checkpoint"]) == (8, 8, "step-000004")


def test_a_rerun_after_lowering_the_rate_resumes_from_the_kept_checkpoint(tmp_path, monkeypatch):
    poison_loss_at(monkeypatch, 7)
    cfg = RunConfig.from_dict(config_dict(tmp_path, steps=10))
    with pytest.raises(DivergedError):
        train(cfg, quiet=True)
    monkeypatch.undo()
    cfg.training.lr = 0.005
    result = train(cfg, quiet=True)
    assert result.exit_code == 0 and events(result.run_dir, "resume")[-1]["from_step"] == 4
    assert result.summary["failures"] == 1 and result.summary["status"] == "finished"


def test_fp16_loss_scaling_owns_gradient_overflow():
    class Scaled:
        class accelerator:  # noqa: N801
            scaler = object()

    class Plain:
        class accelerator:  # noqa: N801
            scaler = None

    assert scaler_active(Scaled()) and not scaler_active(Plain())
