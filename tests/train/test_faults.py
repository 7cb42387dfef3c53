"""Faults that end a run cleanly (train/faults.py): a full disk during a checkpoint save, an unwritable or foreign
output directory, a mirror that fails mid-run (reported at once, retried with backoff, no stall at the end, exit 69,
caught up by a rerun), stale upload snapshots cleaned at start, and SIGTERM before the first step. Tiny preset, CPU."""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import time

import pytest
import yaml
from ft_runner_util import config_dict, events

from frugaltune.errors import ConfigError, StorageError
from frugaltune.train import checkpoint as ckpt
from frugaltune.train import faults
from frugaltune.train.config import RunConfig
from frugaltune.train.recipe import Recipe, train


def run_cli(args):
    from frugaltune.cli.app import run

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(args)
    return code, out.getvalue(), err.getvalue()


def test_disk_full_during_a_save_keeps_the_previous_checkpoint_and_exits_74(tmp_path, monkeypatch):
    real = Recipe._write_checkpoint_files

    def fill_the_disk(self, out, rng_states):
        if self.progress.step == 8:
            (out / "optimizer.pt").write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, out, rng_states)

    monkeypatch.setattr(Recipe, "_write_checkpoint_files", fill_the_disk)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(config_dict(tmp_path, steps=12)))
    code, out, err = run_cli(["train", str(config), "-q"])
    assert code == 74
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert errors[0].startswith("error: saving checkpoint step-000008 failed: the disk is full")
    root = tmp_path / "run" / "checkpoints"
    assert [p.name for p in ckpt.list_checkpoints(root)] == ["step-000004"] and ckpt.verify(root / "step-000004") is None
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # the partial copy is gone, space freed at once
    last = events(tmp_path / "run")[-1]
    assert last["event"] == "failed" and "disk is full" in last["error"]
    monkeypatch.setattr(Recipe, "_write_checkpoint_files", real)  # space freed: the same command resumes at step 4
    assert run_cli(["train", str(config), "-q"])[0] == 0
    assert events(tmp_path / "run", "resume")[-1]["from_step"] == 4


def test_output_dir_problems_are_one_line(tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "config.yaml").write_text("my: own config\n")
    cases = [(str(tmp_path / "a_file"), ConfigError, "is a file"),
             (str(tmp_path / "a_file" / "run"), ConfigError, "cannot be created"),
             (str(tmp_path / "project"), ConfigError, "no run wrote"),
             ("/sys/frugaltune-run", ConfigError, "cannot be created in /sys .it is not writable"),
             ("/proc/frugaltune-run", ConfigError, "cannot be created in /proc")]  # access() says writable
    for out, kind, words in cases:
        cfg = RunConfig.from_dict(config_dict(tmp_path, steps=2, out="x"))
        with pytest.raises(kind, match=words):
            train(cfg, output_dir=out, quiet=True)
    assert (tmp_path / "project" / "config.yaml").read_text() == "my: own config\n"


def test_empty_output_dir_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(config_dict(tmp_path, steps=2)))
    code, _, err = run_cli(["train", str(config), "-o", ""])
    assert code == 2 and "output.dir" in err and sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml",
                                                                                              "train.jsonl"]


def test_sigterm_before_the_first_step_does_not_claim_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(Recipe, "_estimate", lambda self: self.signals.request())  # the notice arrives while loading
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(config_dict(tmp_path, steps=4)))
    code, out, _ = run_cli(["train", str(config)])
    assert code == 75
    assert "checkpoint saved" not in out and "no checkpoint yet" in out
    assert ckpt.list_checkpoints(tmp_path / "run" / "checkpoints") == []


def test_sigterm_while_loading_exits_before_any_training_or_eval(tmp_path, monkeypatch):
    # a slow-loading stand-in gets a real SIGTERM (a spot notice) mid-load: the run exits 75 as soon as loading is
    # done, before eval_before's evaluation and before any step, and says so; the ledger records the interruption
    import os
    import signal

    real = Recipe._load_data_and_model

    def slow_load(self):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)  # the rest of a large model's loading
        real(self)

    monkeypatch.setattr(Recipe, "_load_data_and_model", slow_load)
    monkeypatch.setattr(Recipe, "_evaluate", lambda self: pytest.fail("evaluated after the stop notice"))
    monkeypatch.setattr(Recipe, "_train_step", lambda self: pytest.fail("trained after the stop notice"))
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(config_dict(tmp_path, steps=4, training={"eval_before": True})))
    code, out, _ = run_cli(["train", str(config)])
    assert code == 75 and "SIGTERM before the first step" in out
    kinds = [e["event"] for e in events(tmp_path / "run")]
    assert kinds[-1] == "interrupted" and "train_start" not in kinds and "eval" not in kinds and "step" not in kinds
    assert events(tmp_path / "run")[-1]["signal"] == "SIGTERM"


def test_sigterm_while_a_large_model_loads_exits_75_at_once_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    # a spot notice (30 s - 2 min) must not wait for a large model to finish loading: the load is abandoned at once,
    # nothing is written over the newest checkpoint, and the exit is 75 (restartable) whether one exists or not
    import os
    import signal
    import threading

    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(config_dict(tmp_path, steps=4)))
    loaded = []

    def slow_load(self):
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()  # the notice comes mid-load
        time.sleep(60)  # the rest of a large model's loading
        loaded.append(self)

    def stopped_during_load() -> tuple[int, str, float]:
        with monkeypatch.context() as patch:
            patch.setattr(Recipe, "_load_data_and_model", slow_load)
            started = time.monotonic()
            code, out, _ = run_cli(["train", str(config)])
            return code, out, time.monotonic() - started

    code, out, seconds = stopped_during_load()
    assert code == 75 and seconds < 30 and not loaded
    assert "SIGTERM before the first step, while loading the model: nothing to save" in out
    assert events(tmp_path / "run")[-1]["event"] == "interrupted"
    assert run_cli(["train", str(config), "--max-steps", "2"])[0] == 0  # a run that saved step 2
    saved = ckpt.complete_checkpoints(tmp_path / "run" / "checkpoints")[-1]
    before = {p.name: p.stat().st_mtime_ns for p in saved.iterdir()}
    code, out, seconds = stopped_during_load()
    assert code == 75 and seconds < 30 and not loaded and f"checkpoint {saved.name} is kept" in out
    assert {p.name: p.stat().st_mtime_ns for p in saved.iterdir()} == before
    assert run_cli(["train", str(config)])[0] == 0  # the next run resumes from it and finishes
    assert [e["from_step"] for e in events(tmp_path / "run", "resume")] == [2]


@pytest.fixture
def fast_backoff(monkeypatch):
    import frugaltune.train.mirror_queue as mq

    monkeypatch.setattr(mq, "RETRY_DELAYS_S", (30.0, 30.0))  # the end must not wait out the backoff: grace only
    monkeypatch.setattr(faults, "MIRROR_GRACE_S", 0.5)


def test_mirror_outage_is_reported_at_once_and_does_not_stall_the_end(tmp_path, monkeypatch, fast_backoff, caplog):
    from frugaltune.train.mirror import CheckpointMirror

    real_call, down = CheckpointMirror._call, {"after": "step-000004"}

    def store_goes_down(self, what, fn):  # every upload after step 4's fails, as when the endpoint is lost
        if what.startswith("upload") and down["after"] and what != f"upload of {down['after']}":
            if down.get("seen"):
                return real_call(self, what, lambda: (_ for _ in ()).throw(
                    ConnectionError("Could not connect to the endpoint URL")))
            down["seen"] = what == "upload of the run's log"
        return real_call(self, what, fn)

    monkeypatch.setattr(CheckpointMirror, "_call", store_goes_down)
    monkeypatch.setattr(faults, "MIRROR_GRACE_S", 3.0)  # the end waits this once, not again when closing
    mirror = tmp_path / "mirror"
    cfg = RunConfig.from_dict(config_dict(tmp_path, steps=12, checkpoints={"mirror": str(mirror)}))
    with caplog.at_level(logging.WARNING, logger="frugaltune"):
        result = train(cfg, quiet=True)
    returned = time.time()
    assert result.status == "finished" and result.exit_code == 69
    assert "unreachable" in result.error.message and "run the same command" in result.error.fix
    import re

    down_s = int(re.search(r"unreachable for (\d+) s", result.error.message).group(1))
    assert down_s < 20  # training went on, the end gave the store 3 s more: not the 60 s of backoff
    news = events(result.run_dir, "mirror")
    assert news[0]["ok"] is False and news[0]["step"] < 12  # reported while training, not at the end
    assert "Could not connect" in news[0]["message"]
    assert events(result.run_dir)[-1]["event"] == "finished" and result.summary["status"] == "finished"
    assert returned - events(result.run_dir)[-1]["time"] < 3.0  # closing the mirror gave no second grace
    assert ckpt.verify(result.run_dir / "checkpoints" / "step-000012") is None  # local checkpoints complete
    assert CheckpointMirror(str(mirror)).list_complete() == ["step-000004"]
    assert any("is failing" in r.message for r in caplog.records)
    down["after"] = None  # the store is back: a rerun uploads the newest
    again = train(cfg, quiet=True)
    assert again.exit_code == 0
    assert CheckpointMirror(str(mirror)).list_complete()[-1] == "step-000012"


def test_stale_upload_snapshots_are_removed_at_start(tmp_path):
    cfg = RunConfig.from_dict(config_dict(tmp_path, steps=4, checkpoints={"mirror": str(tmp_path / "mirror")}))
    stale = tmp_path / "run" / "checkpoints" / ".mirror-step-000004-abc123"
    stale.mkdir(parents=True)
    (stale / "optimizer.pt").write_bytes(b"x" * 1000)
    (tmp_path / "run" / "checkpoints" / ".download-step-000008-xyz").mkdir()
    train(cfg, quiet=True)
    assert not [p for p in (tmp_path / "run" / "checkpoints").iterdir() if p.name.startswith(".")]


def test_mirror_restore_adopts_the_log_from_the_mirror(tmp_path, monkeypatch):
    import shutil

    from frugaltune.train.mirror_log import download_log

    cfg = RunConfig.from_dict(config_dict(tmp_path, steps=8, checkpoints={"mirror": str(tmp_path / "m")}))
    original = Recipe._after_step

    def stop_at_6(self):
        original(self)
        if self.progress.step == 6:
            self.signals.request()

    monkeypatch.setattr(Recipe, "_after_step", stop_at_6)
    first = train(cfg, quiet=True)
    monkeypatch.setattr(Recipe, "_after_step", original)
    from frugaltune.train.mirror import CheckpointMirror

    logged = download_log(CheckpointMirror(str(tmp_path / "m")))
    assert [e["step"] for e in logged if e["event"] == "step"] == [1, 2, 3, 4, 5, 6]
    shutil.rmtree(first.run_dir)  # a new machine
    resumed = train(cfg, quiet=True)
    assert resumed.summary["attempts"] == 2 and resumed.summary["steps"] == 8
    assert [e["step"] for e in events(resumed.run_dir, "step")] == list(range(1, 9))


def test_a_stop_signal_raises_only_inside_interruptible_work():
    import os
    import signal

    from frugaltune.train.signals import Interrupted, StopSignals

    with StopSignals() as stop:
        with stop.interruptible(enabled=False):  # a multi-process run: the ranks stop together at a step boundary
            os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested
        with pytest.raises(Interrupted), stop.interruptible():  # it came before: raised on entry
            pytest.fail("entered after the signal")
    with StopSignals() as stop:
        with pytest.raises(Interrupted, match="SIGINT"), stop.interruptible():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(30)
        os.kill(os.getpid(), signal.SIGTERM)  # outside: a flag for the next step boundary, no exception
        assert stop.signal_name == "SIGINT"
