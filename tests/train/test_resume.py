"""Exact resume: N straight steps == k steps + a real SIGTERM + resume + N-k steps (weights, optimizer, losses,
RNG); SIGKILL in the middle of a save leaves the previous checkpoint usable; a truncated or corrupted newest
checkpoint is skipped with a warning. Tiny preset on CPU, offline."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest
from ft_runner_util import (
    OFFLINE_ENV,
    assert_same_tree,
    cli_process,
    config_dict,
    events,
    load_tensors,
    logged_steps,
    step_losses,
    wait_for,
    write_config,
)

from frugaltune.train.config import RunConfig, load_config
from frugaltune.train.recipe import train

N_SIGTERM = 40
N_SHORT = 12


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One directory for the module: same data file (same path) for every run, so configs match exactly."""
    return tmp_path_factory.mktemp("resume")


@pytest.fixture(scope="module")
def straight_short(shared):
    """12 uninterrupted steps (checkpoints at 4, 8, 12; the last two kept)."""
    result = train(RunConfig.from_dict(config_dict(shared, steps=N_SHORT, out="straight12")), quiet=True)
    assert result.exit_code == 0
    return result.run_dir


def final_state(run_dir, step):
    ck = run_dir / "checkpoints" / f"step-{step:06d}"
    return {"adapter": load_tensors(run_dir / "final" / "adapter_model.safetensors"),
            "optimizer": load_tensors(ck / "optimizer.pt"), "scheduler": load_tensors(ck / "scheduler.pt"),
            "rng": load_tensors(ck / "rng.pt")}


def assert_same_run(a, b, steps):
    assert step_losses(a) == step_losses(b)  # exact float equality, every step
    assert sorted(step_losses(a)) == list(range(1, steps + 1))
    assert_same_tree(final_state(a, steps), final_state(b, steps))


def test_sigterm_and_resume_equals_uninterrupted_run(shared):
    straight = train(RunConfig.from_dict(config_dict(shared, steps=N_SIGTERM, out="straight40")), quiet=True)
    cfg_path = write_config(shared, name="split.yaml", steps=N_SIGTERM, out="split40")
    split = shared / "split40"
    proc = cli_process(["train", str(cfg_path), "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: logged_steps(split) >= 3, timeout=180, proc=proc)
        os.kill(proc.pid, signal.SIGTERM)  # a real signal to the training process
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 75, err.decode()[-2000:]
    stopped = events(split, "interrupted")[0]
    assert stopped["signal"] == "SIGTERM" and 3 <= stopped["step"] < N_SIGTERM
    assert (split / "checkpoints" / f"step-{stopped['step']:06d}" / "manifest.json").is_file()

    resumed = train(load_config(cfg_path), quiet=True)  # --resume auto
    assert resumed.exit_code == 0 and resumed.steps == N_SIGTERM
    assert events(split, "resume")[0]["from_step"] == stopped["step"]
    assert_same_run(straight.run_dir, split, N_SIGTERM)

    s = resumed.summary
    assert s["attempts"] == 2 and s["interruptions"] == 1 and s["status"] == "finished"
    assert s["tokens_processed"] == straight.summary["tokens_processed"]
    assert s["cost_usd"] == pytest.approx(s["billed_hours"] * 1.5)


def _kill_during_save_script(cfg_path, kill_at_step):
    return textwrap.dedent(f"""
        import os, signal
        from frugaltune.train import recipe
        original = recipe.Recipe._write_checkpoint_files
        def write_then_die(self, out, *args):
            original(self, out, *args)
            if self.progress.step == {kill_at_step}:
                # every file written, manifest not yet, directory not yet renamed into place
                (out / "optimizer.pt").write_bytes((out / "optimizer.pt").read_bytes()[:100])
                os.kill(os.getpid(), signal.SIGKILL)
        recipe.Recipe._write_checkpoint_files = write_then_die
        recipe.train({str(cfg_path)!r}, quiet=True)
    """)


def test_sigkill_during_save_keeps_previous_checkpoint(shared, straight_short, caplog):
    cfg_path = write_config(shared, name="killed.yaml", steps=N_SHORT, out="killed")
    run = shared / "killed"
    proc = subprocess.run([sys.executable, "-c", _kill_during_save_script(cfg_path, 8)],
                          env={**os.environ, **OFFLINE_ENV}, capture_output=True, timeout=300, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    ckpts = run / "checkpoints"
    assert (ckpts / "step-000004" / "manifest.json").is_file()
    assert not (ckpts / "step-000008").exists()
    assert [p.name for p in ckpts.iterdir() if p.name.startswith(".staging-")]  # the half-written save

    with caplog.at_level(logging.WARNING, logger="frugaltune"):
        result = train(load_config(cfg_path), quiet=True)
    assert result.exit_code == 0
    assert events(run, "resume")[0]["from_step"] == 4
    assert not [p for p in ckpts.iterdir() if p.name.startswith(".staging-")]
    assert any("interrupted" in r.getMessage() for r in caplog.records)
    assert_same_run(straight_short, run, N_SHORT)
    s = result.summary
    assert s["attempts"] == 2 and s["interruptions"] == 1 and s["steps_redone"] == 4


@pytest.mark.parametrize("damage", ["truncate", "bitflip", "no-manifest"])
def test_damaged_newest_checkpoint_falls_back_with_warning(shared, straight_short, damage, caplog):
    run = shared / f"damaged-{damage}"
    shutil.copytree(straight_short, run)
    shutil.rmtree(run / "final")
    newest = run / "checkpoints" / "step-000012"
    target = newest / "adapter_model.safetensors"
    data = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(data[: len(data) // 2])
    elif damage == "bitflip":
        target.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    else:
        (newest / "manifest.json").unlink()
    cfg = RunConfig.from_dict(config_dict(shared, steps=N_SHORT, out=f"damaged-{damage}"))
    with caplog.at_level(logging.WARNING, logger="frugaltune"):
        result = train(cfg, quiet=True)
    assert result.exit_code == 0
    assert events(run, "resume")[-1]["from_step"] == 8
    warned = [r.getMessage() for r in caplog.records if "step-000012" in r.getMessage()]
    assert warned and "falling back" in warned[0]
    assert_tensors = load_tensors(run / "final" / "adapter_model.safetensors")
    assert_same_tree(assert_tensors, load_tensors(straight_short / "final" / "adapter_model.safetensors"))


def test_resume_from_explicit_path_and_never(shared, straight_short):
    from frugaltune.errors import CheckpointError, ConfigError

    cfg = RunConfig.from_dict(config_dict(shared, steps=N_SHORT, out="straight12"))
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        train(cfg, resume="never", quiet=True)
    with pytest.raises(CheckpointError, match="not a usable checkpoint"):
        train(cfg, resume=str(shared / "nowhere"), quiet=True)
    other = RunConfig.from_dict(config_dict(shared, steps=N_SHORT, out="from-path"))
    result = train(other, resume=str(straight_short / "checkpoints" / "step-000008"), quiet=True)
    assert result.exit_code == 0
    assert events(result.run_dir, "resume")[0]["from_step"] == 8
    assert_same_tree(load_tensors(result.run_dir / "final" / "adapter_model.safetensors"),
                     load_tensors(straight_short / "final" / "adapter_model.safetensors"))
