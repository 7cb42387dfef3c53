"""The recipe stays launchable by torchrun: two CPU processes (gloo DDP) train one run; rank 0 alone keeps the
ledger and writes checkpoints; the data is sharded so that 2 ranks x micro-batch 4 see exactly the batches one
process with micro-batch 8 sees, with the same losses. (Multi-GPU tuning is a later issue.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest
from ft_runner_util import OFFLINE_ENV, config_dict, events, step_losses, write_config

from frugaltune.train.config import RunConfig
from frugaltune.train.recipe import train

NO_DROPOUT = {"kind": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0, "targets": ["q_proj", "v_proj"]}}


@pytest.mark.slow
def test_torchrun_two_processes_match_one_process(tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    frugaltune = shutil.which("frugaltune", path=os.path.dirname(sys.executable))
    assert torchrun and frugaltune
    # 5 steps x 2 micro-batches x 8 sequences stay inside the first epoch of 86 examples (at an epoch's end the
    # ranks wrap around to fill their last batch, as DistributedSampler does, so the totals would differ there)
    cfg = write_config(tmp_path, steps=5, out="ddp", method=NO_DROPOUT, checkpoints={"every_steps": 2})
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2", frugaltune, "train", str(cfg), "--quiet"]
    proc = subprocess.Popen(cmd, env={**os.environ, **OFFLINE_ENV}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both workers
    assert proc.returncode == 0, err.decode()[-3000:]
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
