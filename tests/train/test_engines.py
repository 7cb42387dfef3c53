"""The engines on CPU (gloo, 2 processes started by `frugaltune train` itself): FSDP2, DeepSpeed ZeRO-2, QLoRA
sharded by FSDP, and two machines (two launchers meeting at a c10d rendezvous on 127.0.0.1). Each run is stopped by
a SIGTERM to a launcher or to one rank after its first checkpoint: every rank saves the same step, the run exits 75,
and the same command resumes it to the losses of an uninterrupted run with the same engine (one uninterrupted run
per engine, shared by the module's tests). A resume on one process reshards (FSDP: DCP, here from the mirror on a
new disk; DeepSpeed: a universal checkpoint)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys

import pytest
from ft_runner_util import OFFLINE_ENV, REPO, events, step_losses, wait_for

STEPS = 12
TINY = str(REPO / "examples" / "trade-classifier" / "tiny.yaml")
SHORT = [arg for kv in (f"training.max_steps={STEPS}", "training.log_every=1", "training.eval_before=false",
                         "training.eval_every=null", "checkpoints.every_steps=4", "data.max_eval_samples=8")
         for arg in ("--set", kv)]
VARIANTS = {"fsdp": ["--set", "distributed.engine=fsdp"],
            "deepspeed": ["--set", "distributed.engine=deepspeed", "--set", "distributed.zero_stage=2"],
            "qlora-fsdp": ["--set", "distributed.engine=fsdp", "--set", "method.kind=qlora"]}


def _args(variant: str, out, *extra: str) -> list[str]:
    return ["train", TINY, *VARIANTS[variant], "--set", "distributed.num_processes=2", *SHORT, *extra,
            "-o", str(out), "--quiet"]


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


def _stop_after_first_checkpoint(proc: subprocess.Popen, run_dir, target) -> None:
    """SIGTERM `target(proc)` (the launcher's or a worker's pid) once the first checkpoint is published."""
    try:
        wait_for(lambda: (run_dir / "checkpoints" / "step-000004" / "manifest.json").is_file(), 180, proc, poll=0.05)
    finally:
        os.kill(target(proc), signal.SIGTERM)


def _launcher(proc: subprocess.Popen) -> int:
    return proc.pid


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """variant -> the run directory of its uninterrupted 2-process run (run on first use)."""
    runs: dict = {}

    def get(variant: str):
        if variant not in runs:
            out = tmp_path_factory.mktemp(variant) / "straight"
            code, err = _finish(_start(_args(variant, out)))
            assert code == 0, err
            s = json.loads((out / "summary.json").read_text())
            assert s["status"] == "finished" and s["steps"] == STEPS
            runs[variant] = out
        return runs[variant]

    return get


@pytest.fixture(scope="module")
def resumed(tmp_path_factory, uninterrupted):
    """variant -> (run directory, mirror or None, step stopped at) of a 2-process run stopped by a SIGTERM after its
    first checkpoint (to the launcher under fsdp, to one rank otherwise) and resumed by the same command; asserts
    on the way that it exited 75, every rank saved and the resume matches the uninterrupted run's losses."""
    runs: dict = {}

    def get(variant: str):
        if variant not in runs:
            engine = "deepspeed" if variant == "deepspeed" else "fsdp"
            base = tmp_path_factory.mktemp(f"{variant}-split")
            split, mirror = base / "split", (base / "mirror" if variant == "fsdp" else None)
            mirrored = ["--set", f"checkpoints.mirror={mirror}"] if mirror else []
            proc = _start(_args(variant, split, *mirrored))
            _stop_after_first_checkpoint(proc, split, _launcher if variant == "fsdp" else _a_worker)
            code, err = _finish(proc)
            assert code == 75, err
            stopped = _assert_every_rank_saved(split, engine)
            assert (split / "distributed" / "torchrun.sh").is_file()
            assert (split / "distributed" / "accelerate.yaml").is_file()
            code, err = _finish(_start(_args(variant, split, *mirrored)))  # the same command resumes
            assert code == 0, err
            _assert_resumed_like(split, uninterrupted(variant), stopped)
            runs[variant] = (split, mirror, stopped)
        return runs[variant]

    return get


def _assert_resumed_like(run_dir, straight, stopped: int) -> dict:
    assert events(run_dir, "resume")[0]["from_step"] == stopped
    want, got = step_losses(straight), step_losses(run_dir)
    assert got.keys() == want.keys() and all(got[k] == pytest.approx(want[k], abs=1e-4) for k in want)
    resumed = json.loads((run_dir / "summary.json").read_text())
    straight_summary = json.loads((straight / "summary.json").read_text())
    assert resumed["final_train_loss"] == pytest.approx(straight_summary["final_train_loss"], abs=1e-4)
    return resumed


def _assert_every_rank_saved(run_dir, engine: str) -> int:
    stopped = events(run_dir, "interrupted")[0]["step"]
    assert 4 <= stopped < STEPS
    saved = run_dir / "checkpoints" / f"step-{stopped:06d}"
    assert (saved / "rng.pt").is_file() and (saved / "rng-rank-1.pt").is_file()  # every rank's generators
    if engine == "fsdp":
        assert {p.name for p in (saved / "dcp").iterdir()} >= {".metadata", "__0_0.distcp", "__1_0.distcp"}
    else:
        names = {p.name for p in (saved / "deepspeed").iterdir()}
        assert {"zero_pp_rank_0_mp_rank_00_optim_states.pt", "zero_pp_rank_1_mp_rank_00_optim_states.pt"} <= names
    return stopped


ONE_PROCESS_MORE_STEPS = ["--set", f"training.max_steps={STEPS + 2}", "--set", "distributed.num_processes=1"]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fsdp", "deepspeed"])
def test_sigterm_saves_on_every_rank_and_resume_matches_an_uninterrupted_run(uninterrupted, resumed, engine):
    # fsdp: the SIGTERM goes to the launcher; deepspeed: to one rank (see `resumed`)
    straight = uninterrupted(engine)
    s = json.loads((straight / "summary.json").read_text())
    assert s["distributed"]["engine"] == engine and s["distributed"]["world_size"] == 2
    if engine == "deepspeed":  # every DeepSpeed rank loads the weights; FSDP's rank 1 gets them from rank 0
        assert step_losses(straight)[1] == pytest.approx(step_losses(uninterrupted("fsdp"))[1], abs=1e-5)
    split, _, stopped = resumed(engine)
    assert 4 <= stopped < STEPS and events(split, "finished")[-1]["step"] == STEPS


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fsdp", "deepspeed"])
def test_a_resume_on_one_process_reshards(tmp_path, resumed, engine):
    # one process, more steps: FSDP's DCP checkpoint reshards (here on a new disk, from the mirror, which holds
    # every rank's shards); DeepSpeed's ZeRO-2 partitions go through its universal-checkpoint conversion
    split, mirror, _ = resumed(engine)
    run_dir, mirrored = split, []
    if engine == "fsdp":
        assert (mirror / f"step-{STEPS:06d}" / "dcp" / "__1_0.distcp").is_file()
        run_dir, mirrored = tmp_path / "new-disk", ["--set", f"checkpoints.mirror={mirror}"]
    code, err = _finish(_start(_args(engine, run_dir, *mirrored, *ONE_PROCESS_MORE_STEPS)))
    assert code == 0, err
    resume = events(run_dir, "resume")[-1]
    assert (resume["from_step"], resume["source"]) == (STEPS, "mirror" if engine == "fsdp" else "local")
    assert events(run_dir, "finished")[-1]["step"] == STEPS + 2
    assert not [p for p in (run_dir / "checkpoints").iterdir() if not p.name.startswith("step-")]  # nothing left over


@pytest.mark.slow
def test_qlora_base_is_sharded_by_fsdp_and_resumes_exactly(resumed):
    # FSDP-QLoRA: stopped by a SIGTERM to one rank and resumed on 2 processes exactly (see `resumed`); checkpoints
    # hold the adapter only (DCP ignores frozen parameters; the base comes from the model on resume)
    split, _, _ = resumed("qlora-fsdp")
    import torch.distributed.checkpoint as dcp

    saved = dcp.FileSystemReader(str(split / "checkpoints" / f"step-{STEPS:06d}" / "dcp")).read_metadata()
    weights = [k for k in saved.state_dict_metadata if k.startswith("model.")]
    assert weights and all("lora_" in k for k in weights)
    assert (split / "final" / "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_qlora_on_one_process_holds_twice_the_bytes_of_a_rank_of_two(resumed):
    # the 4-bit base is split over the ranks: each of 2 holds half the parameter bytes one process holds; the
    # adapter checkpoint of 2 ranks reshards onto 1
    split, _, _ = resumed("qlora-fsdp")
    two = json.loads((split / "summary.json").read_text())["distributed"]
    code, err = _finish(_start(_args("qlora-fsdp", split, *ONE_PROCESS_MORE_STEPS)))
    assert code == 0, err
    assert events(split, "resume")[-1]["from_step"] == STEPS and events(split, "finished")[-1]["step"] == STEPS + 2
    one = json.loads((split / "summary.json").read_text())["distributed"]
    assert (two["world_size"], one["world_size"]) == (2, 1)
    assert two["param_bytes_per_rank"] == pytest.approx(one["param_bytes_per_rank"] / 2, rel=0.02)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_machines_stop_together_on_one_launchers_sigterm_and_resume(tmp_path, uninterrupted):
    # two launchers, one process each, as two machines would run them (here sharing the run directory as machines
    # share a network disk); a SIGTERM to the second machine's launcher stops both machines' ranks at one step
    run_dir = tmp_path / "run"

    def both() -> list[subprocess.Popen]:
        nodes = ["--set", "distributed.num_processes=1", "--set", "distributed.num_nodes=2",
                 "--set", f"distributed.rdzv_endpoint=127.0.0.1:{_free_port()}"]
        return [_start(["train", TINY, *VARIANTS["fsdp"], *SHORT, *nodes, "-o", str(run_dir), "--quiet"])
                for _ in range(2)]

    first = both()
    _stop_after_first_checkpoint(first[0], run_dir, lambda _: first[1].pid)
    results = [_finish(p) for p in first]
    assert [code for code, _ in results] == [75, 75], results
    stopped = _assert_every_rank_saved(run_dir, "fsdp")
    assert "--nnodes 2" in (run_dir / "distributed" / "torchrun.sh").read_text()
    results = [_finish(p) for p in both()]
    assert [code for code, _ in results] == [0, 0], results
    resumed = _assert_resumed_like(run_dir, uninterrupted("fsdp"), stopped)  # 2 x 1 process == 1 x 2 processes
    assert (resumed["distributed"]["num_nodes"], resumed["distributed"]["world_size"]) == (2, 2)


@pytest.mark.slow
def test_lora_adapters_save_and_resume_under_deepspeed_alone(tmp_path):
    # LoRA checkpoints hold the adapter only (DeepSpeed exclude_frozen_parameters); the frozen base comes from the
    # model on resume. One process: the engine also runs alone (a one-rank group). FSDP's adapter-only checkpoints
    # and one-rank runs: test_qlora_base_is_sharded_by_fsdp_and_resumes_exactly.
    from ft_runner_util import write_config

    cfg = write_config(tmp_path, steps=4, out="run", checkpoints={"every_steps": 2},
                       distributed={"engine": "deepspeed", "num_processes": 1})
    run_dir = tmp_path / "run"
    for steps in (4, 6):
        code, err = _finish(_start(["train", str(cfg), "--set", f"training.max_steps={steps}", "--quiet"]))
        assert code == 0, err
    assert events(run_dir, "resume")[0]["from_step"] == 4 and events(run_dir, "finished")[-1]["step"] == 6
    assert (run_dir / "final" / "adapter_model.safetensors").is_file()
    state = json.loads((run_dir / "checkpoints" / "step-000006" / "trainer_state.json").read_text())
    assert state["distributed"]["engine"] == "deepspeed" and state["distributed"]["world_size"] == 1
