"""`frugaltune probe` and `frugaltune report` through the CLI: the issue's probe command prints the measured and
projected figures and leaves a calibration record; several runs are compared side by side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from frugaltune.cli.app import run
from frugaltune.estimate.measured import load_measurements
from frugaltune.report import ledger

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_probe_tiny_json_prints_the_whole_run_and_records_it(monkeypatch, capsys):
    monkeypatch.chdir(REPO)  # the command as the README gives it
    before = len(load_measurements())
    assert run(["probe", "examples/trade-classifier/tiny.yaml", "--steps", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    m, proj = out["measured"], out["projection"]
    assert m["tokens_per_sec"] > 0 and m["peak_memory_allocated_gb"] > 0 and m["steps"] == 20
    assert proj["hours"] > proj["train_hours"] > 0 and proj["billed_hours"] >= proj["hours"]
    assert proj["cost_usd"] == pytest.approx(proj["billed_hours"] * 0.1103)
    assert out["machine"]["device"] == "cpu" and out["estimate"] is None and out["kept"] is None
    assert len(load_measurements()) == before + 1 and out["calibration_record"]
    assert not (REPO / "runs" / "trade-classifier-tiny" / "checkpoints" / "step-000020").exists()


def test_probe_table_and_bad_config(tmp_path, capsys):
    assert run(["probe", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err
    assert run(["probe", "--help"]) == 0
    assert "--steps" in capsys.readouterr().out


def _fake_run(root: Path, name: str, cost: float, acc: float, hours: float) -> Path:
    d = root / name
    led = ledger.Ledger(d)
    led.write("attempt_start", started=1.0)
    led.write("step", step=1, loss=2.0, tokens_per_sec=100.0, attempt_tokens=100, attempt_train_seconds=1.0,
              tokens_processed=100, trainable_tokens=50, peak_memory_gb=1.0)
    led.write("eval", step=1, eval_loss=1.5, eval_accuracy=acc)
    led.write("finished", step=1)
    led.close()
    summary = ledger.summarize(ledger.read_events(d / ledger.METRICS), usd_per_hour=1.0,
                               extra={"run_name": name, "method": "lora", "device": "cpu"})
    summary.update(cost_usd=cost, billed_hours=hours)
    ledger.write_summary(d, summary)
    return d


def test_report_compares_runs_side_by_side(tmp_path, capsys):
    r8 = _fake_run(tmp_path, "lora-r8", cost=1.20, acc=0.91, hours=1.0)
    r16 = _fake_run(tmp_path, "lora-r16", cost=1.50, acc=0.94, hours=0.8)
    assert run(["report", str(r8), str(r16)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "lora-r8" in out and "lora-r16" in out and "$1.2000" in out and "0.940" in out
    assert "cheapest: lora-r8" in out and "fastest: lora-r16" in out and "most accurate: lora-r16" in out
    assert run(["report", str(r8), str(r16), "--json"]) == 0
    assert [s["run_name"] for s in json.loads(capsys.readouterr().out)] == ["lora-r8", "lora-r16"]
    page = tmp_path / "both.html"
    assert run(["report", str(r8), str(r16), "--html", str(page)]) == 0
    assert "runs compared: lora-r8, lora-r16" in page.read_text()
    assert run(["report", str(r8), str(tmp_path / "nothing")]) == 2
    assert "not a frugaltune run directory" in capsys.readouterr().err


def test_report_formats_for_files(tmp_path, capsys):
    import csv
    import io

    r8 = _fake_run(tmp_path, "lora-r8", cost=1.20, acc=0.91, hours=1.0)
    r16 = _fake_run(tmp_path, "lora-r16", cost=1.50, acc=0.94, hours=0.8)
    assert run(["report", str(r8), "--format", "csv"]) == 0
    captured = capsys.readouterr()
    rows = {r[0]: r[1:] for r in csv.reader(io.StringIO(captured.out))}
    assert rows["figure"] == ["measured"] and rows["cost USD"] == ["1.2000"] and rows["eval accuracy"] == ["0.910"]
    assert "priced at $1/h" in captured.err  # the notes go to stderr: the file holds data only
    assert run(["report", str(r8), str(r16), "--format", "md"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "**runs side by side**" and lines[2] == "| figure | lora-r8 | lora-r16 |"
    assert "| eval accuracy | 0.910 | 0.940 |" in lines
    assert run(["report", str(r8), "--format", "json"]) == 0
    from_format = json.loads(capsys.readouterr().out)
    assert run(["report", str(r8), "--json"]) == 0
    assert from_format == json.loads(capsys.readouterr().out)
    assert run(["report", str(r8), "--format", "xml"]) == 2
    assert "table, csv, md, json" in capsys.readouterr().err


def test_probe_tables_as_markdown(capsys):
    from frugaltune.report.probe_render import render

    result = {"run_name": "tiny", "method": "lora", "model": "preset:tiny-llama", "estimate": None,
              "machine": {"device": "cpu", "name": "CPU (2 threads)"}, "price_source": "cost.usd_per_hour",
              "measured": {"measured_steps": 12, "warmup_steps": 3, "step_time_cv": 0.04, "settled": True,
                           "tokens_per_sec": 1234.5, "peak_memory_allocated_gb": 0.5},
              "run": {"steps": 150, "evaluations": 4, "checkpoints": 3},
              "projection": {"train_hours": 0.01, "hours": 0.02, "billed_hours": 0.02, "cost_usd": 0.002,
                             "usd_per_hour": 0.11},
              "alternatives": [{"gpu": "A10", "num_gpus": 1, "platform": "lambda", "tokens_per_sec": 9000.0,
                                "billed_hours": 0.05, "cost_usd": 0.07}]}
    render(result, fmt="md")
    out, err = capsys.readouterr()
    assert "| tokens/s (warm-up excluded) | 1,234.5 |" in out and "| run: cost USD | $0.0020 |" in out
    assert "**the planner's cheapest options, at the speed measured here**" in out
    assert "| A10 | lambda | 9,000 | 0.050 | $0.07 |" in out
    assert "probe of tiny" in err and "priced at $0.11/h" in err
