"""`frugaltune launch`: the SkyPilot task it writes is one SkyPilot's own parser accepts (the real `skypilot`, which
`make test` installs into .venv-cloud), asks for the planned GPUs on spot with our exit code 75 in its recovery
policy and runs `frugaltune train`; secrets travel by name only; a missing SkyPilot or missing credentials is one
line."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from frugaltune.cli.app import run

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/trade-classifier/multi-gpu.yaml"
SKY_PYTHON = REPO / ".venv-cloud" / "bin" / "python"
SECRET = "hf_not_a_real_token_0123456789"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)  # the job's workdir is the current directory, which must hold the config
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # SkyPilot writes ~/.sky


def _launch(*args: str) -> int:
    return run(["launch", EXAMPLE, *args])


def _sky_parse(path: Path, home: Path) -> dict:
    """What SkyPilot's own parser (`sky.Task.from_yaml`) makes of the task, from the real package."""
    assert SKY_PYTHON.is_file(), "SkyPilot is installed into .venv-cloud by `make test`; run it once"
    code = (f"import json, sky\nt = sky.Task.from_yaml({str(path)!r})\nr = list(t.resources)\n"
            "print(json.dumps({'name': t.name, 'run': t.run, 'num_nodes': t.num_nodes,"
            " 'use_spot': [x.use_spot for x in r], 'accelerators': [x.accelerators for x in r],"
            " 'recovery': [x.job_recovery for x in r], 'clouds': [str(x.cloud) for x in r],"
            " 'disk': [x.disk_size for x in r]}))")
    proc = subprocess.run([str(SKY_PYTHON), "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={**os.environ, "HOME": str(home)}, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_spot_dry_run_writes_a_task_skypilot_accepts(tmp_path, capsys):
    out = tmp_path / "sky.yaml"
    assert _launch("--spot", "--dry-run", "-o", str(out)) == 0
    assert f"task: {out} (4x A10G spot" in capsys.readouterr().out
    task = yaml.safe_load(out.read_text())
    assert task["resources"]["ordered"][0] == {"cloud": "aws", "region": "us-east-1"}  # compare's cheapest offer
    assert task["resources"]["disk_size"] >= 50 + 14  # base image + the 7B model's bf16 weights
    assert task["setup"] == "pip install -e '.[train]'" and task["workdir"] == "."
    sky = _sky_parse(out, tmp_path / "home")
    assert sky["use_spot"] == [True] and sky["accelerators"] == [{"A10G": 4}]
    assert sky["recovery"][0]["recover_on_exit_codes"] == [75] and sky["recovery"][0]["max_restarts_on_errors"] >= 1
    assert sky["run"].startswith("frugaltune train examples/trade-classifier/multi-gpu.yaml")
    assert sky["clouds"] == ["AWS"] and sky["num_nodes"] == 1


def test_several_machines_meet_at_the_first_and_overrides_reach_the_job(tmp_path, capsys):
    out = tmp_path / "sky.yaml"
    assert _launch("--dry-run", "-o", str(out), "--set", "distributed.num_nodes=2", "--cloud", "gcp") == 0
    assert "2 machines write one run: mount shared storage" in capsys.readouterr().out  # checked again at start
    task = yaml.safe_load(out.read_text())
    assert task["num_nodes"] == 2 and task["resources"]["use_spot"] is True  # cost.pricing: spot in the config
    assert "SKYPILOT_NODE_IPS" in task["run"] and "--set distributed.num_nodes=2" in task["run"]
    assert task["resources"]["cloud"] == "gcp" and "ordered" not in task["resources"]  # no 4x A10G offer on GCP
    sky = _sky_parse(out, tmp_path / "home")
    assert sky["num_nodes"] == 2 and sky["clouds"] == ["GCP"]


def test_secrets_pass_by_name_and_are_never_written(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET + "aws")
    out_dir = tmp_path / "out"
    out = out_dir / "sky.yaml"
    assert _launch("--dry-run", "-o", str(out), "--set", f"output.dir={out_dir}") == 0
    task = yaml.safe_load(out.read_text())
    assert task["secrets"] == {"HF_TOKEN": None, "AWS_SECRET_ACCESS_KEY": None}
    for path in out_dir.rglob("*"):  # the task and anything else written under the run directory
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path

    fake = _fake_sky(tmp_path, "echo \"$@\" > \"$ARGS_FILE\"; exit 0")
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    monkeypatch.setenv("ARGS_FILE", str(tmp_path / "args"))
    local_mirror = ["--set", f"checkpoints.mirror={tmp_path / 'bucket'}"]  # a bucket this test can write
    assert _launch("-o", str(out), *local_mirror) == 0  # a real launch: sky gets the names, reads the values itself
    args = (tmp_path / "args").read_text()
    assert "jobs launch -y -n trade-classifier-llama2-7b-fsdp --secret HF_TOKEN" in args and SECRET not in args


def _fake_sky(tmp_path: Path, body: str) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    sky = bindir / "sky"
    sky.write_text(f"#!/bin/sh\n{body}\n")
    sky.chmod(sky.stat().st_mode | stat.S_IEXEC)
    return bindir


def test_a_bucket_the_job_cannot_write_stops_a_real_launch(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", f"{_fake_sky(tmp_path, 'exit 0')}:{os.environ['PATH']}")
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("")
    assert _launch("-o", str(tmp_path / "sky.yaml"), "--set", f"checkpoints.mirror={blocked / 'run'}") == 2
    assert "checkpoint mirror" in capsys.readouterr().err


def test_no_skypilot_or_no_credentials_is_one_line(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sky.yaml"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert _launch("-o", str(out)) == 2
    err = capsys.readouterr().err
    assert "SkyPilot is not installed" in err and "frugaltune[cloud]" in err and "Traceback" not in err
    assert out.is_file()  # the task was written all the same

    fake = _fake_sky(tmp_path, "echo 'No cloud access. Run sky check to enable clouds.' >&2; exit 1")
    monkeypatch.setenv("PATH", str(fake))
    assert _launch("-o", str(out), "--set", f"checkpoints.mirror={tmp_path / 'bucket'}") == 2
    err = capsys.readouterr().err
    assert "SkyPilot has no cloud credentials" in err and "sky check" in err and len(err.strip().splitlines()) <= 2


@pytest.mark.parametrize(("sets", "message"), [
    (["checkpoints.mirror=null"], "checkpoints.mirror is not set"),
    (["cost.gpu=null"], "cost.gpu: the GPU to launch on is not set"),
])
def test_a_launch_that_would_lose_work_or_has_no_gpu_is_refused(sets, message, capsys):
    assert _launch(*[a for s in sets for a in ("--set", s)]) == 2
    assert message in capsys.readouterr().err


def test_launch_help_names_the_clouds():
    proc = subprocess.run([sys.executable, "-c", "from frugaltune.cli import main; main()", "launch", "--help"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "runpod" in proc.stdout and "--dry-run" in proc.stdout


def test_launch_works_on_a_machine_with_only_the_cloud_extra(tmp_path):
    # .venv-cloud holds frugaltune[cloud] (SkyPilot) without the training stack, as a laptop that only launches
    out = tmp_path / "sky.yaml"
    proc = subprocess.run([str(SKY_PYTHON), "-c", "from frugaltune.cli import main; main()", "launch", EXAMPLE,
                           "--spot", "--dry-run", "-o", str(out)], capture_output=True, text=True, timeout=300,
                          cwd=REPO, env={**os.environ, "HOME": str(tmp_path / "home")}, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "training stack is not installed here" in proc.stdout
    task = yaml.safe_load(out.read_text())
    assert task["resources"]["accelerators"] == {"A10G": 4} and task["resources"]["use_spot"] is True
    assert task["resources"]["ordered"][0]["cloud"] == "aws" and task["resources"]["disk_size"] >= 64
