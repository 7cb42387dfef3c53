"""Checkpoint mirroring to fsspec URLs: memory://, a local directory, file://, and real s3:// (moto's server on
127.0.0.1, see conftest.py). Uploads run in the background, write the manifest last and are verified; only
complete checkpoints are listed; downloads are verified and appear atomically."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from frugaltune.errors import CheckpointError, ConfigError
from frugaltune.train.mirror import CheckpointMirror
from frugaltune.train.checkpoint import write_checkpoint
from frugaltune.train.mirror_manifest import read_manifest


def _checkpoint(root: Path, step: int, *, big_bytes: int = 3000) -> Path:
    """A step directory as the runner writes it (checkpoint.py): weights, optimizer state, a nested file, the
    manifest last."""

    def files(d: Path) -> None:
        (d / "adapter").mkdir(parents=True)
        (d / "adapter" / "adapter_model.safetensors").write_bytes(os.urandom(big_bytes))
        (d / "optimizer.pt").write_bytes(os.urandom(500 + step))
        (d / "trainer_state.json").write_text(json.dumps({"step": step}))

    return write_checkpoint(root, step, files).path


def _files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in d.rglob("*") if p.is_file()}


def _same_tree(a: Path, b: Path) -> bool:
    return _files(a) == _files(b)


@pytest.fixture(params=["memory", "local", "file"])
def url(request, tmp_path) -> str:
    if request.param == "memory":
        return f"memory://ft-{uuid.uuid4().hex[:8]}/run"
    if request.param == "local":
        return str(tmp_path / "mirror")
    return f"file://{tmp_path / 'mirror-file'}"


def _roundtrip(url: str, tmp_path: Path, **kwargs) -> None:
    local = tmp_path / "ckpt"
    steps = [_checkpoint(local, s) for s in (5, 10, 100)]
    mirror = CheckpointMirror(url, **kwargs)
    mirror.check()
    futures = [mirror.upload_async(d) for d in steps]
    mirror.wait(timeout=60)
    assert [f.result() for f in futures] == ["step-000005", "step-000010", "step-000100"]
    assert mirror.list_complete() == ["step-000005", "step-000010", "step-000100"]  # newest last, by number
    out = mirror.download("step-000010", tmp_path / "restored")
    assert out == tmp_path / "restored" / "step-000010" and _same_tree(out, steps[1])
    assert [p.name for p in (tmp_path / "restored").iterdir()] == ["step-000010"]  # no staging dir left
    assert mirror.prune(2) == ["step-000005"]
    assert mirror.list_complete() == ["step-000010", "step-000100"]
    assert not [p for p in local.iterdir() if p.name.startswith(".")]  # upload snapshots cleaned up
    mirror.close()


def test_roundtrip(url, tmp_path):
    _roundtrip(url, tmp_path)


def test_roundtrip_s3_via_environment(s3_mirror_url, tmp_path):
    _roundtrip(s3_mirror_url, tmp_path)


def test_roundtrip_s3_with_storage_options_and_etag_check(s3_mirror_url, s3_storage_options, tmp_path):
    # verify_bytes=0: no file is read back, so the size + single-part ETag (MD5) path is the one checked
    _roundtrip(s3_mirror_url, tmp_path, storage_options=s3_storage_options, verify_bytes=0)


def test_interrupted_or_damaged_uploads_are_not_listed(url, tmp_path):
    mirror = CheckpointMirror(url)
    good = _checkpoint(tmp_path / "ckpt", 10)
    mirror.upload_async(good)
    mirror.wait(60)
    fs, root = mirror.fs, mirror.root
    # an upload interrupted before its manifest: files there, no manifest
    partial = _checkpoint(tmp_path / "ckpt", 20)
    for p in partial.rglob("*"):
        if p.is_file() and p.name != "manifest.json":
            fs.makedirs(os.path.dirname(f"{root}/step-000020/{p.relative_to(partial).as_posix()}"), exist_ok=True)
            fs.pipe_file(f"{root}/step-000020/{p.relative_to(partial).as_posix()}", p.read_bytes())
    # a manifest whose listed file is short (a torn write) or missing
    torn = _checkpoint(tmp_path / "ckpt", 30)
    mirror.upload_async(torn)
    missing = _checkpoint(tmp_path / "ckpt", 40)
    mirror.upload_async(missing)
    mirror.wait(60)
    fs.pipe_file(f"{root}/step-000030/optimizer.pt", b"short")
    fs.rm_file(f"{root}/step-000040/trainer_state.json")
    assert mirror.list_complete() == ["step-000010"]
    with pytest.raises(CheckpointError, match="step-000020 has no manifest.json"):
        mirror.download("step-000020", tmp_path / "restored")
    # pruning removes the stale incomplete step older than the kept one, never the newer incomplete ones
    _checkpoint(tmp_path / "ckpt2", 25)
    mirror.upload_async(tmp_path / "ckpt2" / "step-000025")
    mirror.wait(60)
    assert mirror.prune(1) == ["step-000010", "step-000020"]
    assert mirror.list_complete() == ["step-000025"]


def test_upload_failing_midway_leaves_previous_checkpoint(tmp_path, monkeypatch):
    mirror = CheckpointMirror(f"memory://ft-{uuid.uuid4().hex[:8]}/run")
    mirror.upload_async(_checkpoint(tmp_path, 1))
    mirror.wait(60)
    real_open, opened = mirror.fs.open, []

    def flaky_open(path, mode="rb", **kw):
        if "w" in mode:
            opened.append(path)
            if len(opened) == 2:
                raise ConnectionError("connection reset by peer")
        return real_open(path, mode, **kw)

    monkeypatch.setattr(mirror.fs, "open", flaky_open)
    mirror.upload_async(_checkpoint(tmp_path, 2))
    with pytest.raises(CheckpointError, match=r"memory://.*upload of step-000002 failed: ConnectionError") as info:
        mirror.wait(60)
    assert "reachable" in info.value.fix
    assert mirror.list_complete() == ["step-000001"]
    mirror.wait(1)  # the error was reported once


def test_corrupted_file_fails_verification_on_download(url, tmp_path):
    mirror = CheckpointMirror(url)
    step = _checkpoint(tmp_path / "ckpt", 7)
    mirror.upload_async(step)
    mirror.wait(60)
    remote = f"{mirror.root}/step-000007/adapter/adapter_model.safetensors"
    data = bytearray(mirror.fs.cat_file(remote))
    data[100] ^= 0xFF  # same size, one byte flipped: only the sha256 can tell
    mirror.fs.pipe_file(remote, bytes(data))
    assert mirror.list_complete() == ["step-000007"]
    dest = tmp_path / "restored"
    _checkpoint(dest, 7)  # an older copy already there must survive a failed download
    before = (dest / "step-000007" / "optimizer.pt").read_bytes()
    with pytest.raises(CheckpointError, match=r"adapter/adapter_model.safetensors failed verification \(sha256"):
        mirror.download("step-000007", dest)
    assert [p.name for p in dest.iterdir()] == ["step-000007"]
    assert (dest / "step-000007" / "optimizer.pt").read_bytes() == before
    # a successful download replaces the existing directory
    mirror.fs.pipe_file(remote, (step / "adapter" / "adapter_model.safetensors").read_bytes())
    assert _same_tree(mirror.download("step-000007", dest), step)


def test_corrupted_s3_object_fails_verification(s3_mirror_url, tmp_path):
    test_corrupted_file_fails_verification_on_download(s3_mirror_url, tmp_path)


def test_upload_runs_in_background_and_survives_local_deletion(tmp_path, monkeypatch):
    import shutil

    mirror = CheckpointMirror(f"memory://ft-{uuid.uuid4().hex[:8]}/run")
    gate = threading.Event()
    real = mirror._upload_file
    monkeypatch.setattr(mirror, "_upload_file", lambda *a: (gate.wait(10), real(*a)))
    step = _checkpoint(tmp_path, 3)
    expected = _files(step)
    t0 = time.perf_counter()
    future = mirror.upload_async(step)
    assert time.perf_counter() - t0 < 1.0 and not future.done()  # training does not wait for the upload
    with pytest.raises(CheckpointError, match="still running"):
        mirror.wait(timeout=0.05)
    shutil.rmtree(step)  # local rotation deletes it while the upload is running
    gate.set()
    mirror.wait(30)
    out = mirror.download("step-000003", tmp_path / "back")
    assert _files(out) == expected


def test_reupload_replaces_a_step(url, tmp_path):
    mirror = CheckpointMirror(url)
    mirror.upload_async(_checkpoint(tmp_path / "a", 9))
    mirror.wait(60)
    newer = _checkpoint(tmp_path / "b", 9, big_bytes=5000)
    mirror.upload_async(newer)
    mirror.wait(60)
    assert mirror.list_complete() == ["step-000009"]
    assert _same_tree(mirror.download("step-000009", tmp_path / "c"), newer)


def test_keep_last_prunes_after_each_upload(tmp_path):
    mirror = CheckpointMirror(str(tmp_path / "m"), keep_last=2)
    for s in (1, 2, 3, 4):
        mirror.upload_async(_checkpoint(tmp_path / "ckpt", s))
    mirror.wait(60)
    assert mirror.list_complete() == ["step-000003", "step-000004"]
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["step-000003", "step-000004"]


def test_local_checkpoint_problems(tmp_path):
    mirror = CheckpointMirror(str(tmp_path / "m"))
    (tmp_path / "step-000001").mkdir()
    with pytest.raises(CheckpointError, match="no manifest.json"):
        mirror.upload_async(tmp_path / "step-000001")
    step = _checkpoint(tmp_path / "ckpt", 2)
    (step / "optimizer.pt").write_bytes(b"x" * (len((step / "optimizer.pt").read_bytes())))  # same size, new bytes
    mirror.upload_async(step)
    with pytest.raises(CheckpointError, match="no longer matches its manifest"):
        mirror.wait(60)
    (step / "trainer_state.json").unlink()
    with pytest.raises(CheckpointError, match="trainer_state.json is listed in its manifest but missing"):
        mirror.upload_async(step)
    assert mirror.list_complete() == []


def test_manifest_shapes():
    listed = json.dumps({"files": [{"path": "a.bin", "size": 3, "sha256": hashlib.sha256(b"abc").hexdigest()},
                                   {"name": "manifest.json", "bytes": 10}]}).encode()
    entries = read_manifest(listed, "x")
    assert [(e.path, e.size_bytes) for e in entries] == [("a.bin", 3)]
    for bad in (b"not json", b'{"files": {"../escape": {"size": 1}}}', b'{"files": {"a": {"sha256": "00"}}}'):
        with pytest.raises(CheckpointError, match="manifest"):
            read_manifest(bad, "x")


def test_bad_urls_and_unreachable_storage(tmp_path, s3_env):
    with pytest.raises(ConfigError, match="cannot open this URL"):
        CheckpointMirror("nosuchproto://bucket/x")
    with pytest.raises(ConfigError, match="keep_last"):
        CheckpointMirror("memory://x", keep_last=0)
    missing_bucket = CheckpointMirror(f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/run")
    with pytest.raises(CheckpointError, match=r"s3://no-such-bucket-.*write test failed") as info:
        missing_bucket.check()
    assert "create the bucket" in info.value.fix
    (tmp_path / "a_file").write_text("")
    with pytest.raises(CheckpointError, match="a_file"):
        CheckpointMirror(str(tmp_path / "a_file" / "sub")).check()
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = CheckpointMirror("s3://bucket/run", storage_options={
        "retries": 1, "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"},
        "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}}})
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match=r"s3://bucket/run: listing failed") as info:
        dead.list_complete()
    assert time.perf_counter() - t0 < 30
    assert "reachable" in info.value.fix


def test_fix_text_is_worded_by_the_mirror_urls_kind(tmp_path):
    # a local path has no network endpoint or cloud credentials: its fixes speak of directories, disks and mounts
    from frugaltune.errors import MirrorError
    from frugaltune.train.faults import with_timeout
    from frugaltune.train.mirror import is_local_url

    assert is_local_url("/mnt/ckpt") and is_local_url("file:///mnt/ckpt") and is_local_url("rel/dir")
    assert not is_local_url("s3://b/run") and not is_local_url("gs://b/run")
    for url, words in (("/proc/frugaltune-mirror", "create the directory first"),
                       (f"file://{tmp_path}/a_file/sub", "create the directory first")):
        (tmp_path / "a_file").write_text("")
        with pytest.raises(CheckpointError) as info:
            CheckpointMirror(url).check()
        assert words in info.value.fix or "mount" in info.value.fix, (url, info.value.fix)
        assert not any(w in info.value.fix for w in ("endpoint", "network,", "AWS", "credentials", "bucket"))
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere
        with pytest.raises(CheckpointError) as info:
            CheckpointMirror(str(locked / "m")).check()
        assert "writable by this user" in info.value.fix
    for url, said, unsaid in (("/mnt/nfs/ckpt", "mount", "endpoint"), ("s3://b/run", "endpoint", "mount")):
        with pytest.raises(MirrorError) as info:
            with_timeout(lambda: time.sleep(5), 0.05, "the write test", url)
        assert said in info.value.fix and unsaid not in info.value.fix


def test_clean_local_leftovers(tmp_path):
    from frugaltune.train.mirror import clean_local_leftovers

    _checkpoint(tmp_path, 1)
    for name in (".mirror-step-000001-abc", ".download-step-000002-x", ".replaced-step-000003-1"):
        (tmp_path / name / "sub").mkdir(parents=True)
    removed = clean_local_leftovers(tmp_path)
    assert len(removed) == 3 and [p.name for p in tmp_path.iterdir()] == ["step-000001"]
    assert clean_local_leftovers(tmp_path / "missing") == []
