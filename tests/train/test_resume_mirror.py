"""Resume on a new machine: checkpoints mirrored to S3 (moto's server on 127.0.0.1, a real S3 API), the local run
directory lost, and `train` continues from the mirror exactly where the run stopped; the run's ledger travels
with the checkpoint, so billing still counts the machine that is gone."""

from __future__ import annotations

import shutil

import pytest
from ft_runner_util import assert_same_tree, config_dict, events, load_tensors, step_losses

from frugaltune.train.config import RunConfig
from frugaltune.train.recipe import Recipe, train


def stop_at(monkeypatch, step):
    original = Recipe._after_step

    def after(self):
        original(self)
        if self.progress.step == step:
            self.signals.request()  # the SIGTERM handler's effect; the real signal is tested in test_resume

    monkeypatch.setattr(Recipe, "_after_step", after)
    return original


def test_resume_from_s3_mirror_into_an_empty_directory(tmp_path, s3_mirror_url, monkeypatch):
    straight = train(RunConfig.from_dict(config_dict(tmp_path, steps=12, out="straight")), quiet=True)
    cfg = RunConfig.from_dict(config_dict(tmp_path, steps=12, out="spot",
                                          checkpoints={"mirror": s3_mirror_url, "keep_last": 2}))
    original = stop_at(monkeypatch, 6)
    first = train(cfg, quiet=True)
    assert first.exit_code == 75  # saved at step 6 (plus step 4 on schedule), both uploaded before exiting
    monkeypatch.setattr(Recipe, "_after_step", original)

    from frugaltune.train.mirror import CheckpointMirror

    assert CheckpointMirror(s3_mirror_url).list_complete() == ["step-000004", "step-000006"]
    shutil.rmtree(first.run_dir)  # the spot machine is gone, and its disk with it

    resumed = train(cfg, quiet=True)
    assert resumed.exit_code == 0 and resumed.steps == 12
    resume = events(resumed.run_dir, "resume")[0]
    assert resume["source"] == "mirror" and resume["from_step"] == 6
    assert_same_tree(load_tensors(resumed.run_dir / "final" / "adapter_model.safetensors"),
                     load_tensors(straight.run_dir / "final" / "adapter_model.safetensors"))
    want = step_losses(straight.run_dir)
    assert step_losses(resumed.run_dir) == want  # steps 1-6 from the adopted ledger, 7-12 from this machine
    s = resumed.summary
    assert s["attempts"] == 2 and s["interruptions"] == 1
    assert s["billed_hours"] > sum(e["seconds"] for e in events(resumed.run_dir, "resume")) / 3600
    assert CheckpointMirror(s3_mirror_url).list_complete() == ["step-000008", "step-000012"]  # keep_last on S3


def test_unreachable_mirror_fails_at_start(tmp_path, monkeypatch):
    from frugaltune.errors import CheckpointError

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    cfg = RunConfig.from_dict(config_dict(tmp_path, steps=2, checkpoints={"mirror": "s3://bucket/run"}))
    with pytest.raises(CheckpointError, match="checkpoint mirror s3://bucket/run"):
        train(cfg, quiet=True)
