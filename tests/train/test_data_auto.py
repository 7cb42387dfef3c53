"""`data.format: auto` (the default) and format detection end to end: plan writes the detected format, train and its
dry run detect and print it, and a row of another format is named with the format that would fit."""

from __future__ import annotations

import json

import pytest
import yaml
from ft_runner_util import config_dict, write_data

from frugaltune.cli.app import run
from frugaltune.errors import DataError
from frugaltune.train import data as D
from frugaltune.train.config import RunConfig
from frugaltune.train.data_auto import resolve_data_format

CHAT = {"messages": [{"role": "user", "content": "Fix my sink?"}, {"role": "assistant", "content": "Call a plumber."}]}


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


@pytest.mark.parametrize("row, fmt", [(CHAT, "chat"),
                                      ({"text": "wiring job", "label": "electrician"}, "classification"),
                                      ({"instruction": "Say hi", "output": "hi"}, "alpaca"),
                                      ({"prompt": "2+2=", "completion": "4"}, "completion")])
def test_plan_writes_the_detected_format(tmp_path, capsys, row, fmt):
    data = _jsonl(tmp_path / "train.jsonl", [row] * 20)
    out = tmp_path / "run.yaml"
    assert run(["plan", "--model", "7B", "--gpu", "a10", "--dataset", str(data), "-o", str(out)]) == 0
    assert yaml.safe_load(out.read_text())["data"]["format"] == fmt
    assert f"data format: {fmt} (detected in {data}" in capsys.readouterr().err


def test_plan_without_data_writes_auto_and_a_named_format_wins(tmp_path, capsys):
    out = tmp_path / "run.yaml"
    assert run(["plan", "--model", "7B", "--gpu", "a10", "-o", str(out)]) == 0
    assert yaml.safe_load(out.read_text())["data"]["format"] == "auto"
    data = _jsonl(tmp_path / "train.jsonl", [{"text": "a text", "label": "x"}] * 5)
    assert run(["plan", "--model", "7B", "--gpu", "a10", "--dataset", str(data), "--data-format", "completion",
                "-o", str(out)]) == 0
    assert yaml.safe_load(out.read_text())["data"]["format"] == "completion"


def test_plan_on_columns_that_fit_no_format_is_one_clear_error(tmp_path, capsys):
    data = _jsonl(tmp_path / "train.jsonl", [{"question": "q", "answer": "a"}])
    assert run(["plan", "--model", "7B", "--gpu", "a10", "--dataset", str(data)]) == 2
    err = capsys.readouterr().err
    assert "cannot tell the data format from its columns ('question', 'answer')" in err and "Traceback" not in err


def test_auto_is_the_default_and_resolves_with_renamed_columns(tmp_path):
    assert RunConfig().data.format == "auto"
    data = _jsonl(tmp_path / "d.jsonl", [{"body": "some text", "label": "a"}])
    cfg = RunConfig.from_dict({"data": {"path": str(data), "fields": {"text": "body"}}})
    lines = []
    assert resolve_data_format(cfg, lines.append).data.format == "classification"
    assert lines == [f"data format: classification (detected in {data}: text + label)"]
    named = RunConfig.from_dict({"data": {"path": str(data), "format": "completion"}})
    assert resolve_data_format(named) is named


def test_train_dry_run_detects_and_prints_the_format(tmp_path, capsys):
    write_data(tmp_path / "train.jsonl")
    cfg = config_dict(tmp_path)
    del cfg["data"]["format"]
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert run(["train", str(path), "--dry-run", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["format"] == "classification"
    assert "data format: classification (detected in" in err


def test_a_bad_row_names_the_format_that_would_fit(tmp_path):
    data = _jsonl(tmp_path / "d.jsonl", [{"prompt": "p", "completion": "c"}, CHAT])
    with pytest.raises(DataError) as err:
        D.load_records(data, format="completion")
    assert "line 2: missing field 'completion'" in err.value.message
    assert "This row looks like chat data (messages): set data.format: chat" in err.value.message
