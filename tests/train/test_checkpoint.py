"""Atomic checkpoints: staged, fsynced, manifest last, renamed into place; broken ones ignored; keep last K."""

from __future__ import annotations

import json
import logging
import os
import random

import numpy as np
import pytest

from frugaltune.train import checkpoint as ck
from frugaltune.train.state import rng_from_tensors, rng_to_tensors


def files_writer(payload: dict[str, bytes]):
    def write(out):
        for name, data in payload.items():
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_bytes(data)
    return write


def test_write_checkpoint_publishes_a_complete_directory(tmp_path):
    saved = ck.write_checkpoint(tmp_path, 120, files_writer({"a.bin": b"x" * 10, "sub/b.json": b"{}"}))
    assert saved.path == tmp_path / "step-000120" and saved.step == 120 and saved.bytes == 12
    manifest = json.loads((saved.path / "manifest.json").read_text())
    assert manifest["step"] == 120 and set(manifest["files"]) == {"a.bin", "sub/b.json"}
    assert manifest["files"]["a.bin"]["size"] == 10
    assert ck.verify(saved.path) is None
    assert [p.name for p in tmp_path.iterdir()] == ["step-000120"]  # no staging left behind


def test_a_failing_writer_leaves_only_a_staging_dir_that_is_never_listed(tmp_path):
    ck.write_checkpoint(tmp_path, 1, files_writer({"a": b"1"}))

    def explode(out):
        (out / "a").write_bytes(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        ck.write_checkpoint(tmp_path, 2, explode)
    assert [p.name for p in ck.list_checkpoints(tmp_path)] == ["step-000001"]
    assert ck.newest_valid(tmp_path).name == "step-000001"
    assert [p.name.startswith(".staging-step-000002") for p in ck.clean_staging(tmp_path)] == [True]


@pytest.mark.parametrize("damage, reason", [
    (lambda d: (d / "manifest.json").unlink(), "no manifest"),
    (lambda d: (d / "w.bin").write_bytes(b"short"), "truncated"),
    (lambda d: (d / "w.bin").write_bytes(b"y" * 100), "sha256"),
    (lambda d: (d / "w.bin").unlink(), "missing file"),
    (lambda d: (d / "manifest.json").write_text("{not json"), "unreadable manifest"),
])
def test_damaged_newest_is_skipped_with_a_warning(tmp_path, damage, reason):
    for step in (10, 20):
        ck.write_checkpoint(tmp_path, step, files_writer({"w.bin": b"x" * 100}))
    damage(tmp_path / "step-000020")
    warnings = []
    assert ck.newest_valid(tmp_path, warn=warnings.append).name == "step-000010"
    assert len(warnings) == 1 and "step-000020" in warnings[0] and reason in warnings[0]


def test_keep_last_k_and_replacing_a_step(tmp_path):
    for step in (1, 2, 3, 4, 5):
        ck.write_checkpoint(tmp_path, step, files_writer({"w": str(step).encode()}))
    removed = ck.prune(tmp_path, keep_last=2)
    assert sorted(p.name for p in removed) == ["step-000001", "step-000002", "step-000003"]
    assert [p.name for p in ck.complete_checkpoints(tmp_path)] == ["step-000004", "step-000005"]
    ck.write_checkpoint(tmp_path, 5, files_writer({"w": b"again"}))  # a re-save of the same step replaces it
    assert (tmp_path / "step-000005" / "w").read_bytes() == b"again"
    assert ck.verify(tmp_path / "step-000005") is None


def test_rng_state_round_trips_through_weights_only_load(tmp_path):
    import torch

    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    torch.save(rng_to_tensors(ck.rng_state()), tmp_path / "rng.pt")
    expected = (random.random(), np.random.rand(), torch.rand(3))
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    ck.set_rng_state(rng_from_tensors(torch.load(tmp_path / "rng.pt", weights_only=True)))
    got = (random.random(), np.random.rand(), torch.rand(3))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])


def test_each_rank_resumes_its_own_random_streams(tmp_path, caplog):
    import types

    import torch

    from frugaltune.train.recipe_resume import load_rng

    for rank, seed in ((0, 10), (1, 11)):  # what ranks 0 and 1 of a 2-process run saved
        torch.manual_seed(seed)
        torch.save(rng_to_tensors(ck.rng_state()), tmp_path / ck.rng_file_name(rank))
    assert ck.rng_file_name(0) == "rng.pt" and ck.rng_file_name(1) == "rng-rank-1.pt"

    def resume_as(rank: int, processes: int, saved_processes: int = 2) -> torch.Tensor:
        recipe = types.SimpleNamespace(engine=types.SimpleNamespace(process_index=rank, num_processes=processes),
                                       is_main=rank == 0, torch=torch)
        torch.manual_seed(0)
        load_rng(recipe, tmp_path, saved_processes)
        return torch.rand(4)

    torch.manual_seed(11)
    rank1_stream = torch.rand(4)
    assert torch.equal(resume_as(1, 2), rank1_stream)           # rank 1 gets rank 1's generators back
    assert not torch.equal(resume_as(0, 2), rank1_stream)       # rank 0 gets its own
    assert torch.equal(resume_as(2, 3), resume_as(0, 2))         # a rank nobody saved: rank 0's
    with caplog.at_level(logging.WARNING):
        resume_as(0, 3)  # rank 0 says once that another process count cannot continue bit for bit
    assert "written by 2 process(es) and this run has 3" in caplog.text


def test_step_names():
    assert ck.step_dir_name(120) == "step-000120"
    assert ck.step_of("step-000120") == 120 and ck.step_of("step-1234567") == 1234567
    assert ck.step_of(".staging-step-000120-7") is None and ck.step_of("final") is None


def test_fsync_is_called_for_every_file(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(ck.os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    ck.write_checkpoint(tmp_path, 1, files_writer({"a": b"1", "b": b"2"}))
    assert len(synced) >= 5  # two files, the manifest, the staging dir, the parent dir
