"""The recipe stays launchable by torchrun: two CPU processes (gloo DDP) train one run; rank 0 alone keeps the
ledger and writes checkpoints; the data is sharded so that 2 ranks x micro-batch 4 see exactly the batches one
process with micro-batch 8 sees, with the same losses; SIGTERM + resume under torchrun is exact. (Multi-GPU
tuning is a later issue.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from ft_runner_util import OFFLINE_ENV, config_dict, events, logged_steps, step_losses, wait_for, write_config

from frugaltune.train.config import RunConfig
from frugaltune.train.recipe import train

NO_DROPOUT = {"kind": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "targets": ["q_proj", "v_proj"]}}


def _torchrun_command(cfg) -> list[str]:
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    frugaltune = shutil.which("frugaltune", path=os.path.dirname(sys.executable))
    assert torchrun and frugaltune
    return [torchrun, "--standalone", "--nproc_per_node", "2", frugaltune, "train", str(cfg), "--quiet"]


def _start(cfg) -> subprocess.Popen:
    return subprocess.Popen(_torchrun_command(cfg), env={**os.environ, **OFFLINE_ENV}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both workers
    return proc.returncode, err.decode()[-3000:]


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(tmp_path):
    # 5 steps x 2 micro-batches x 8 sequences stay inside the first epoch of 86 examples (at an epoch's end the
    # ranks wrap around to fill their last batch, as DistributedSampler does, so the totals would differ there)
    cfg = write_config(tmp_path, steps=5, out="ddp", method=NO_DROPOUT, checkpoints={"every_steps": 2})
    code, err = _finish(_start(cfg))
    assert code == 0, err
    ddp = tmp_path / "ddp"
    s = json.loads((ddp / "summary.json").read_text())
    assert s["num_processes"] == 2 and s["status"] == "finished" and s["steps"] == 5
    assert len(events(ddp, "attempt_start")) == 1  # one ledger writer
    assert [e["step"] for e in events(ddp, "checkpoint")] == [2, 4, 5]

    single = RunConfig.from_dict(config_dict(tmp_path, steps=5, out="single", method=NO_DROPOUT,
                                             training={"micro_batch": 8}, checkpoints={"every_steps": 2}))
    one = train(single, quiet=True).summary
    assert (s["tokens_processed"], s["trainable_tokens"]) == (one["tokens_processed"], one["trainable_tokens"])
    want = step_losses(tmp_path / "single")
    assert step_losses(ddp) == pytest.approx(want, rel=1e-4)


@pytest.mark.slow
def test_torchrun_sigterm_and_resume_equals_an_uninterrupted_two_process_run(tmp_path):
    # A SIGTERM to torchrun reaches both workers; they agree on the step, save (with every rank's generators:
    # rng.pt, rng-rank-1.pt) and stop; the resumed run repeats the uninterrupted one exactly. On CPU the ranks'
    # torch streams stay equal anyway (MKL's bernoulli takes one draw per dropout call), so which rank loads which
    # file is checked directly in test_checkpoint.py; on CUDA a rank's stream advances with its batch's size.
    steps = 8
    straight_cfg = write_config(tmp_path, name="straight.yaml", steps=steps, out="straight")
    code, err = _finish(_start(straight_cfg))
    assert code == 0, err
    split_cfg = write_config(tmp_path, name="split.yaml", steps=steps, out="split")
    split = tmp_path / "split"
    proc = _start(split_cfg)
    try:
        wait_for(lambda: logged_steps(split) >= 2, timeout=240, proc=proc)
    finally:
        proc.send_signal(signal.SIGTERM)  # torchrun forwards it to both workers, as on a spot reclaim
    _finish(proc)
    stopped = events(split, "interrupted")[0]
    assert 2 <= stopped["step"] < steps, stopped
    saved = split / "checkpoints" / f"step-{stopped['step']:06d}"
    assert (saved / "rng.pt").is_file() and (saved / "rng-rank-1.pt").is_file()
    code, err = _finish(_start(split_cfg))  # --resume auto
    assert code == 0, err
    assert len(events(split, "attempt_start")) == 2
    assert step_losses(split) == step_losses(tmp_path / "straight")  # exact, every step, on both sides of the stop
