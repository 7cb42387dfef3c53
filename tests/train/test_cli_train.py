"""`frugaltune train / schema / report` through the real CLI entry (in-process): help text, exit codes, one-line
errors without tracebacks, dry-run, the report table and its JSON."""

from __future__ import annotations

import json

import pytest
import yaml
from ft_runner_util import write_config

from frugaltune.cli.app import run
from frugaltune.report.ledger import read_summary

SUMMARY_KEYS = {"steps", "tokens_processed", "trainable_tokens", "tokens_per_sec", "peak_memory_gb",
                "peak_memory_source", "wall_hours", "billed_hours", "cost_usd", "interruptions",
                "final_train_loss", "final_eval_loss", "eval_accuracy", "estimate", "vs_estimate"}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    cfg = write_config(tmp, steps=6, cost={"gpu": "a10", "platform": "lambda", "usd_per_hour": 0.75})
    assert run(["train", str(cfg), "--quiet"]) == 0
    return tmp / "run"


def test_train_help_documents_the_exit_codes(capsys):
    assert run(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "75" in out and "SIGTERM" in out and "recover_on_exit_codes" in out and "--resume" in out


def test_bad_config_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"training": {"learning_rate": 0.1}}))
    assert run(["train", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "training.learning_rate: unknown key. Did you mean 'lr'?" in err
    assert "Traceback" not in err and err.startswith("error: ")


def test_missing_model_and_bad_data_row_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-cache"))
    cfg = write_config(tmp_path, model={"source": "nobody/no-such-model", "vocab_size": None})
    assert run(["train", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "not in the local Hugging Face cache" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()  # failed before writing anything
    assert run(["train", str(cfg), "--dry-run", "--json"]) == 0  # a plan does not need the weights
    assert "not in the local Hugging Face cache" in json.loads(capsys.readouterr().out)["model_note"]
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"text": "fine", "label": "welder"}\n{"text": "no label here"}\n')
    cfg = write_config(tmp_path, name="rows.yaml", data={"path": str(rows)})
    assert run(["train", str(cfg), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "rows.jsonl line 2" in err and "label" in err and "Traceback" not in err


def test_dry_run_validates_and_prints_the_estimate(tmp_path, capsys):
    cfg = write_config(tmp_path, cost={"gpu": "a10", "platform": "lambda"})
    assert run(["train", str(cfg), "--dry-run", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["config_ok"] and plan["model_kind"] == "preset" and plan["train_rows"] > 0
    assert plan["estimate"]["hardware"]["gpu"].lower().startswith("a10")
    assert plan["estimate"]["job"]["method"] == "lora"
    assert not (tmp_path / "run").exists()  # a dry run writes nothing


def test_schema_and_example(capsys):
    assert run(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert {"model", "method", "data", "training", "checkpoints", "output", "cost"} <= set(schema["properties"])
    assert "Peak learning rate." in json.dumps(schema)  # attribute docstrings are the descriptions
    assert run(["schema", "--example"]) == 0
    example = capsys.readouterr().out
    assert example.startswith("# frugaltune train run.yaml")
    assert yaml.safe_load(example)["training"]["lr"] > 0


def test_report_table_and_json(finished_run, capsys):
    assert run(["report", str(finished_run)]) == 0
    out = capsys.readouterr().out
    for label in ("tokens/s", "peak memory GB", "billed hours", "cost USD", "final train loss"):
        assert label in out
    flat = " ".join(out.split())
    assert "no GPU estimate applies to CPU" in flat  # a CPU run is never divided by an A10 estimate
    assert "ratio" not in flat and "estimated" not in flat.split("no GPU estimate")[0]
    assert run(["report", str(finished_run), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert SUMMARY_KEYS <= set(summary)
    assert summary == read_summary(finished_run)


def test_summary_fields_are_consistent(finished_run):
    s = read_summary(finished_run)
    assert s["status"] == "finished" and s["steps"] == 6 and s["interruptions"] == 0
    assert s["cost_usd"] == pytest.approx(s["billed_hours"] * 0.75)
    assert s["tokens_per_sec"] == pytest.approx(s["tokens_processed"] / s["train_seconds"])
    assert s["billed_hours"] >= s["train_hours"] > 0 and s["wall_hours"] >= s["billed_hours"] - 1e-9
    assert 0 < s["trainable_tokens"] < s["tokens_processed"]
    assert s["peak_memory_gb"] > 0 and s["peak_memory_source"] == "process_rss_peak"
    assert s["final_train_loss"] > 0 and s["final_eval_loss"] > 0 and 0 <= s["eval_accuracy"] <= 1
    est = s["estimate"]  # kept for reference: the same job on the configured A10 ...
    assert est is not None and est["hardware"]["gpu"].lower().startswith("a10")
    assert s["estimate_applies"] is False and s["hardware"]["device"] == "cpu"  # ... but never compared with a CPU
    assert s["estimate_note"].startswith("no GPU estimate applies")
    tps = s["vs_estimate"]["tokens_per_sec"]
    assert tps["measured"] == s["tokens_per_sec"] and tps["estimated"] is None and tps["ratio"] is None


def test_report_of_a_non_run_directory(tmp_path, capsys):
    assert run(["report", str(tmp_path)]) == 2
    assert "not a frugaltune run directory" in capsys.readouterr().err
