"""Live metrics: a real (tiny) run writes TensorBoard event files that TensorBoard's own reader reads back with the
loss series of metrics.jsonl; an MLflow file store and a W&B offline run get the same metrics; a resumed run
continues the same MLflow run; a sink that is not installed is a warning, not a failed run."""

from __future__ import annotations

import json
import logging
import time

import pytest
from ft_runner_util import write_config

from frugaltune.report.ledger import read_events
from frugaltune.train.recipe import train


def _losses(run_dir) -> list[tuple[int, float]]:
    return [(e["step"], e["loss"]) for e in read_events(run_dir / "metrics.jsonl") if e["event"] == "step"]


def _tensorboard_scalars(run_dir, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory):
    import importlib.util

    tmp = tmp_path_factory.mktemp("logging")
    sinks = {"mlflow": {"tracking_uri": str(tmp / "mlruns"), "experiment": "t"}} if importlib.util.find_spec(
        "mlflow") else {}  # mlflow-skinny comes with make test (the [logging] extra)
    cfg = write_config(tmp, steps=6, logging=sinks, training={"eval_every": 3})
    assert train(str(cfg), quiet=True).exit_code == 0
    return tmp / "run", tmp / "mlruns"


def test_tensorboard_reads_back_the_loss_series(logged_run):
    run_dir, _ = logged_run
    losses = _losses(run_dir)
    assert [s for s, _ in losses] == [1, 2, 3, 4, 5, 6]
    tb = _tensorboard_scalars(run_dir, "train/loss")
    assert [s for s, _ in tb] == [s for s, _ in losses]
    assert [v for _, v in tb] == pytest.approx([v for _, v in losses], rel=1e-6)  # float32 in the event file
    assert [s for s, _ in _tensorboard_scalars(run_dir, "eval/loss")] == [3, 6]
    cost = [v for _, v in _tensorboard_scalars(run_dir, "cost/usd_so_far")]
    assert cost == sorted(cost) and cost[-1] > 0  # dollars so far only grow
    assert len(_tensorboard_scalars(run_dir, "perf/tokens_per_sec")) == 6


def test_mlflow_file_store_holds_the_same_metrics(logged_run):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    run_dir, store = logged_run
    run_id = (run_dir / "mlflow_run_id").read_text().strip()
    client = MlflowClient(tracking_uri=store.resolve().as_uri())
    history = sorted((m.step, m.value) for m in client.get_metric_history(run_id, "train/loss"))
    assert history == _losses(run_dir)  # MLflow keeps doubles: exactly the ledger's values
    run = client.get_run(run_id)
    assert run.data.params["method"] == "lora" and run.info.status == "FINISHED"
    evals = [(e["step"], e["eval_loss"]) for e in read_events(run_dir / "metrics.jsonl") if e["event"] == "eval"]
    assert sorted((m.step, m.value) for m in client.get_metric_history(run_id, "eval/loss")) == evals


def test_resumed_run_continues_the_same_mlflow_run(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    cfg = write_config(tmp_path, steps=4, logging={"mlflow": {"tracking_uri": str(tmp_path / "mlruns")}})
    assert train(str(cfg), quiet=True, max_steps=2).exit_code == 0
    first = (tmp_path / "run" / "mlflow_run_id").read_text()
    assert train(str(cfg), quiet=True).exit_code == 0  # resumes from step 2 and trains to 4
    assert (tmp_path / "run" / "mlflow_run_id").read_text() == first
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").resolve().as_uri())
    assert [m.step for m in sorted(client.get_metric_history(first, "train/loss"), key=lambda m: m.step)] == [1, 2, 3, 4]


def _wandb_history(path) -> list[dict]:
    """The history rows of an offline .wandb file: a 7-byte header (":W&B", magic, version), then LevelDB-log
    framed records (32 KiB blocks; each chunk: crc32, length, type FULL/FIRST/MIDDLE/LAST) holding protobufs."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    data, pos, block, chunks, rows = path.read_bytes(), 7, 32768, b"", []
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = struct.unpack("<HB", data[pos + 4:pos + 7])
        chunks = data[pos + 7:pos + 7 + length] if kind in (1, 2) else chunks + data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(chunks)
            if record.WhichOneof("record_type") == "history":
                rows.append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item})
    return rows


def test_wandb_offline_run(tmp_path):
    pytest.importorskip("wandb")
    cfg = write_config(tmp_path, steps=3, logging={"tensorboard": False, "wandb": {"project": "ft-test"}})
    assert train(str(cfg), quiet=True).exit_code == 0
    run_dir = tmp_path / "run"
    run_id = (run_dir / "wandb_run_id").read_text().strip()
    (offline,) = (run_dir / "wandb").glob(f"offline-run-*-{run_id}")
    deadline, losses = time.time() + 60, []
    while len(losses) < 3 and time.time() < deadline:  # W&B's own process writes the file after finish() returns
        time.sleep(0.2)
        losses = [(h["_step"], h["train/loss"]) for h in _wandb_history(offline / f"run-{run_id}.wandb")
                  if "train/loss" in h]
    assert losses == _losses(run_dir)
    assert not (run_dir / "tensorboard").exists()


def test_a_missing_sink_library_is_a_warning(tmp_path, monkeypatch, caplog):
    import builtins

    real_import = builtins.__import__

    def no_mlflow(name, *args, **kwargs):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError("No module named 'mlflow'", name="mlflow")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    caplog.set_level(logging.WARNING, logger="frugaltune")
    cfg = write_config(tmp_path, steps=2, logging={"mlflow": {"tracking_uri": str(tmp_path / "mlruns")}})
    assert train(str(cfg), quiet=True).exit_code == 0
    assert "logging.mlflow: mlflow is not installed" in caplog.text and "pip install mlflow-skinny" in caplog.text
    assert _tensorboard_scalars(tmp_path / "run", "train/loss")  # the other sinks still work
