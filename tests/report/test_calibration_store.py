"""The team's ledger: `frugaltune calibration list|export|import` through a local directory and a real S3 API (moto
on 127.0.0.1): one JSONL per team, merges without duplicates both ways, and an imported GPU run calibrates the
importer's next estimate."""

from __future__ import annotations

import json
import uuid

import pytest

from frugaltune.cli.app import run
from frugaltune.estimate import measured
from frugaltune.report.calibration_store import merge, row_key


def _record(gpu="A10", tps=900.0, **extra):
    return measured.record_measurement(gpu=gpu, method="lora", model="llama-2-7b", measured_tokens_per_sec_per_gpu=tps,
                                       estimated_tokens_per_sec_per_gpu=1000.0, source="run", **extra)


def _switch_user(tmp_path, monkeypatch, name: str) -> str:
    path = tmp_path / name / "measurements.jsonl"
    monkeypatch.setenv("FRUGALTUNE_MEASUREMENTS", str(path))
    return str(path)


def _lines(path) -> list[dict]:
    return [json.loads(x) for x in open(path).read().splitlines()]


def test_row_keys_and_merge():
    a, b = {"id": "1", "gpu": "A10"}, {"gpu": "L4", "measured_tokens_per_sec_per_gpu": 5}
    assert row_key(a) == "1" and row_key(b) == row_key(dict(reversed(list(b.items()))))  # content, any key order
    merged, added = merge([a], [a, b, b])
    assert merged == [a, b] and added == 1


def _roundtrip(url: str, tmp_path, monkeypatch, capsys):
    alice = _switch_user(tmp_path, monkeypatch, "alice")
    _record(tps=800.0)
    _record(gpu=None, tps=15000.0, device="cpu")  # a CPU probe travels too, and never calibrates a GPU
    assert run(["calibration", "export", url, "--team", "nlp", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["exported"] == 2 and out["total"] == 2 and out["file"].endswith("/nlp.jsonl")
    assert run(["calibration", "export", url, "--team", "nlp", "--json"]) == 0  # again: nothing new
    assert json.loads(capsys.readouterr().out)["exported"] == 0

    bob = _switch_user(tmp_path, monkeypatch, "bob")
    _record(gpu="L4", tps=500.0)
    before = _estimate_tps()
    assert run(["calibration", "import", url, "--team", "nlp"]) == 0
    assert "imported 2 new measurement(s)" in capsys.readouterr().out
    assert run(["calibration", "import", url, "--team", "nlp"]) == 0  # idempotent
    assert "imported 0 new" in capsys.readouterr().out
    assert [r["gpu"] for r in _lines(bob)] == ["L4", "A10", None]
    after = _estimate_tps()
    assert after == pytest.approx(before * 0.8)  # Alice's A10 run (0.8x) now scales Bob's A10 estimates
    assert run(["calibration", "export", url, "--team", "nlp"]) == 0  # Bob shares his L4 run
    assert "exported 1 new measurement(s)" in capsys.readouterr().out
    _switch_user(tmp_path, monkeypatch, "alice")
    assert run(["calibration", "import", url, "--team", "nlp", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["imported"] == 1
    assert sorted(r["gpu"] or "cpu" for r in _lines(alice)) == ["A10", "L4", "cpu"]


def _estimate_tps() -> float:
    from frugaltune import estimate

    return estimate(model="llama-2-7b", gpu="a10", platform="lambda", method="lora").to_json()["throughput"][
        "tokens_per_sec_per_gpu"]


def test_team_ledger_in_a_local_directory(tmp_path, monkeypatch, capsys):
    _roundtrip(str(tmp_path / "shared"), tmp_path, monkeypatch, capsys)
    assert (tmp_path / "shared" / "nlp.jsonl").is_file()


def test_team_ledger_on_s3(s3_env, tmp_path, monkeypatch, capsys):
    import boto3

    bucket = f"ft-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1").create_bucket(Bucket=bucket)
    _roundtrip(f"s3://{bucket}/frugaltune", tmp_path, monkeypatch, capsys)
    body = boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1").get_object(
        Bucket=bucket, Key="frugaltune/nlp.jsonl")["Body"].read().decode()
    assert len(body.splitlines()) == 3


def test_list_and_bad_input(tmp_path, monkeypatch, capsys):
    _switch_user(tmp_path, monkeypatch, "carol")
    assert run(["calibration", "list"]) == 0
    assert "no measurements yet" in " ".join(capsys.readouterr().out.split())
    _record(tps=700.0)
    assert run(["calibration", "list"]) == 0
    out = capsys.readouterr().out
    assert "A10" in out and "0.70" in out and "llama-2-7b" in out
    assert run(["calibration", "list", "--format", "csv"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header == "date,machine,method,model,tok/s,est.,ratio,from"
    assert ",A10," in row and ",0.70," in row
    assert run(["calibration", "export", str(tmp_path / "x"), "--team", "../evil"]) == 2
    err = capsys.readouterr().err
    assert "--team '../evil'" in err and "Traceback" not in err
    assert run(["calibration", "import", "nosuchproto://bucket/x"]) == 2
    assert "not a usable storage URL" in capsys.readouterr().err


def test_nonsense_and_damaged_rows_never_reach_an_estimate(tmp_path, monkeypatch, capsys):
    team = tmp_path / "share"
    team.mkdir()
    good = {"id": "g1", "gpu": "A10", "method": "lora", "model": "m", "measured_tokens_per_sec_per_gpu": 800.0,
            "estimated_tokens_per_sec_per_gpu": 1000.0}
    (team / "team.jsonl").write_bytes(b'{"a": NaN}\n\xff\xfe damaged\n'
                                      b'{"gpu": "A10", "method": "lora", "measured_tokens_per_sec_per_gpu": Infinity}\n'
                                      + json.dumps(good).encode() + b"\n")
    mine = _switch_user(tmp_path, monkeypatch, "carol")
    assert run(["calibration", "import", str(team), "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["imported"] == 1 and out["skipped"] == 2 and "skipped 2 row(s)" in captured.err
    assert [r["id"] for r in _lines(mine)] == ["g1"]
    with open(mine, "ab") as fh:  # the user's own file damaged later: estimates still run, on the good row only
        fh.write(b'\xff\xfe\n{"gpu": "A10", "method": "lora", "measured_tokens_per_sec_per_gpu": NaN}\n')
    assert [r.get("id") for r in measured.load_measurements()] == ["g1"]
    assert measured.throughput_correction("A10", "lora") == (0.8, 1)
    assert run(["calibration", "list"]) == 0
