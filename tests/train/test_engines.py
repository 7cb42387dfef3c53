"""The engines on CPU (gloo, 2 processes started by `frugaltune train` itself): FSDP2 and DeepSpeed ZeRO-2 save the
same step on every rank when a SIGTERM reaches the launcher or one rank, exit 75, and resume to the loss of an
uninterrupted run; the run directory holds the engine's checkpoint format and the generated launcher files; a
resume on one process reshards both (FSDP: DCP from the mirror on a new disk; DeepSpeed: a universal checkpoint)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys

import pytest
from ft_runner_util import OFFLINE_ENV, REPO, events, step_losses, wait_for

STEPS = 12
TINY = str(REPO / "examples" / "trade-classifier" / "tiny.yaml")
SHORT = [arg for kv in (f"training.max_steps={STEPS}", "training.log_every=1", "training.eval_before=false",
                         "training.eval_every=null", "checkpoints.every_steps=4", "data.max_eval_samples=8")
         for arg in ("--set", kv)]


def _args(engine: str, out) -> list[str]:
    extra = ["--set", "distributed.zero_stage=2"] if engine == "deepspeed" else []
    return ["train", TINY, "--set", f"distributed.engine={engine}", "--set", "distributed.num_processes=2",
            *extra, *SHORT, "-o", str(out), "--quiet"]


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, **OFFLINE_ENV, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", "from frugaltune.cli import main; main()", *args], cwd=REPO,
                            env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen, timeout: float = 240) -> tuple[int, str]:
    import psutil

    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:  # the launcher's group, and the workers torch started in sessions of their own
            workers = psutil.Process(proc.pid).children(recursive=True)
            os.killpg(proc.pid, signal.SIGKILL)
            for w in workers:
                with contextlib.suppress(psutil.Error):
                    w.kill()
            proc.wait()
    return proc.returncode, err.decode()[-8000:]


def _a_worker(proc: subprocess.Popen) -> int:
    import psutil

    children = psutil.Process(proc.pid).children()
    return children[-1].pid  # the last rank started


@pytest.mark.slow
@pytest.mark.parametrize(("engine", "target"), [("fsdp", "launcher"), ("deepspeed", "rank")])
def test_sigterm_saves_on_every_rank_and_resume_matches_an_uninterrupted_run(tmp_path, engine, target):
    straight, split, mirror = tmp_path / "straight", tmp_path / "split", tmp_path / "mirror"
    mirrored = ["--set", f"checkpoints.mirror={mirror}"] if engine == "fsdp" else []
    code, err = _finish(_start(_args(engine, straight)))
    assert code == 0, err
    s = json.loads((straight / "summary.json").read_text())
    assert s["distributed"]["engine"] == engine and s["distributed"]["world_size"] == 2
    assert s["status"] == "finished" and s["steps"] == STEPS

    proc = _start([*_args(engine, split), *mirrored])
    try:
        wait_for(lambda: (split / "checkpoints" / "step-000004" / "manifest.json").is_file(), 180, proc, poll=0.05)
    finally:
        os.kill(proc.pid if target == "launcher" else _a_worker(proc), signal.SIGTERM)
    code, err = _finish(proc)
    assert code == 75, err
    stopped = events(split, "interrupted")[0]["step"]
    assert 4 <= stopped < STEPS
    saved = split / "checkpoints" / f"step-{stopped:06d}"
    assert (saved / "rng.pt").is_file() and (saved / "rng-rank-1.pt").is_file()  # every rank's generators
    if engine == "fsdp":
        assert {p.name for p in (saved / "dcp").iterdir()} >= {".metadata", "__0_0.distcp", "__1_0.distcp"}
    else:
        names = {p.name for p in (saved / "deepspeed").iterdir()}
        assert {"zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"} <= names
    assert (split / "distributed" / "torchrun.sh").is_file() and (split / "distributed" / "accelerate.yaml").is_file()

    code, err = _finish(_start([*_args(engine, split), *mirrored]))  # the same command resumes
    assert code == 0, err
    assert events(split, "resume")[0]["from_step"] == stopped
    resumed = json.loads((split / "summary.json").read_text())
    assert resumed["final_train_loss"] == pytest.approx(s["final_train_loss"], abs=1e-4)
    want, got = step_losses(straight), step_losses(split)
    assert got.keys() == want.keys() and all(got[k] == pytest.approx(want[k], abs=1e-4) for k in want)

    # one process, more steps: FSDP's DCP checkpoint reshards (here on a new disk, from the mirror, which holds
    # every rank's shards); DeepSpeed's ZeRO-2 partitions go through its universal-checkpoint conversion
    more = ["--set", f"training.max_steps={STEPS + 2}", "--set", "distributed.num_processes=1"]
    run_dir = split
    if engine == "fsdp":
        assert (mirror / f"step-{STEPS:06d}" / "dcp" / "__1_0.distcp").is_file()
        run_dir = tmp_path / "new-disk"
    code, err = _finish(_start([*_args(engine, run_dir), *mirrored, *more]))
    assert code == 0, err
    resume = events(run_dir, "resume")[-1]
    assert (resume["from_step"], resume["source"]) == (STEPS, "mirror" if engine == "fsdp" else "local")
    assert events(run_dir, "finished")[-1]["step"] == STEPS + 2
    assert not [p for p in (run_dir / "checkpoints").iterdir() if not p.name.startswith("step-")]  # nothing left over


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fsdp", "deepspeed"])
def test_lora_adapters_save_and_resume_under_each_engine(tmp_path, engine):
    # LoRA checkpoints hold the adapter only (DCP ignore_frozen_params / DeepSpeed exclude_frozen_parameters); the
    # frozen base comes from the model on resume. One process: the engines also run alone (a one-rank group).
    from ft_runner_util import write_config

    cfg = write_config(tmp_path, steps=4, out="run", checkpoints={"every_steps": 2},
                       distributed={"engine": engine, "num_processes": 1})
    run_dir = tmp_path / "run"
    for steps in (4, 6):
        proc = _start(["train", str(cfg), "--set", f"training.max_steps={steps}", "--quiet"])
        code, err = _finish(proc)
        assert code == 0, err
    assert events(run_dir, "resume")[0]["from_step"] == 4 and events(run_dir, "finished")[-1]["step"] == 6
    assert (run_dir / "final" / "adapter_model.safetensors").is_file()
    state = json.loads((run_dir / "checkpoints" / "step-000006" / "trainer_state.json").read_text())
    assert state["distributed"]["engine"] == engine and state["distributed"]["world_size"] == 1
