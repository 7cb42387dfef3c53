"""The planner commands end to end through the CLI (shipped catalog): --json shapes, exit codes, messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from frugaltune.cli.app import run

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "budget.yaml")


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich truncates cells and long flag names in narrow terminals


def _run(capsys, *argv):
    code = run(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_compare_json_contract(capsys):
    # the seed's platform comparison as one call: Modal vs Lambda, T4 / A10 / A100-40GB, one GPU
    code, out, _ = _run(capsys, "compare", "--gpu", "t4,a10,a100-40gb", "--platform", "modal", "--platform",
                        "lambda", "--max-gpus", "1", "--json")
    assert code == 0
    data = json.loads(out)
    assert {c["hardware"]["platform"] for c in data["candidates"]} == {"modal", "lambda"}
    assert [c["rank"] for c in data["candidates"]] == list(range(1, len(data["candidates"]) + 1))
    assert all(r["reason"] for r in data["rejected"])
    assert data["candidates"][data["cheapest"]]["pareto"] and data["candidates"][data["fastest"]]["pareto"]


def test_compare_table_marks_the_chosen_row(capsys):
    code, out, _ = _run(capsys, "compare", "--gpu", "a10", "--platform", "lambda", "--no-spot")
    assert code == 0 and "►" in out and "gpu_1x_a10" in out


def test_impossible_job_exits_3_with_what_would_work(capsys):
    # 405B full fine-tuning on one T4
    code, _, err = _run(capsys, "compare", "--model", "llama-3.1-405b", "--method", "full", "--gpu", "t4",
                        "--max-gpus", "1")
    assert code == 3 and "does not fit" in err and "what would work instead" in err


def test_empty_filter_exits_3_and_says_where(capsys):
    # the catalog has no MI300X price anywhere
    code, _, err = _run(capsys, "compare", "--gpu", "mi300x")
    assert code == 3 and "no offer in the catalog matches" in err and "MI300X is offered on no platform" in err


def test_budget_nothing_meets_exits_3(capsys):
    code, _, err = _run(capsys, "compare", "--budget-usd", "0.001", "--gpu", "a10")
    assert code == 3 and "over budget" in err and "without the budget/deadline" in err


def test_bad_flags_exit_2(capsys):
    assert _run(capsys, "compare", "--sort", "price")[0] == 2
    assert _run(capsys, "recommend", "--domain-shift", "huge")[0] == 2
    code, _, err = _run(capsys, "compare", "--gpu", "a1000")
    assert code == 2 and "Did you mean" in err


def test_plan_writes_a_loadable_run_yaml(capsys, tmp_path):
    from frugaltune.train.config import load_config

    path = tmp_path / "run.yaml"
    code, out, _ = _run(capsys, "plan", "--gpu", "a10", "--budget-usd", "50", "-o", str(path))
    assert code == 0 and f"wrote {path}" in out
    cfg = load_config(path)
    assert cfg.method.kind in ("lora", "qlora") and cfg.cost.gpu == "A10"
    assert path.read_text().startswith(f"# frugaltune train {path}")


def test_recommend_json(capsys):
    # 7B: a 13B QLoRA peak (10.5 GB) has an 80 % band reaching past the T4's 16 GB, so plans refuse it
    code, out, _ = _run(capsys, "recommend", "--gpu", "t4", "--model", "llama-2-7b", "--alignment", "--json")
    data = json.loads(out)
    assert code == 0 and data["method"] == "qlora" and data["then"] and data["settings"]["precision"] == "fp16"


def test_impact_json_vary(capsys):
    code, out, _ = _run(capsys, "impact", "--gpu", "a10", "--platform", "lambda", "--vary", "method", "--json")
    rows = json.loads(out)["rows"]
    assert code == 0 and [r["method"] for r in rows] == ["full", "lora", "qlora"] and rows[0]["baseline"]


def test_budget_command(capsys, tmp_path):
    code, out, _ = _run(capsys, "budget", EXAMPLE, "--json")
    data = json.loads(out)
    assert code == 0 and data["total_usd"] == pytest.approx(sum(data["monthly_usd"]))
    bad = tmp_path / "b.yaml"
    bad.write_text("months: 2\nphases:\n  - {name: x, gpu: a10, platfrom: lambda}\n")
    code, _, err = _run(capsys, "budget", str(bad))
    assert code == 2 and "platform" in err


def test_buy_vs_rent_command(capsys):
    code, out, _ = _run(capsys, "buy-vs-rent", "--gpu", "rtx-5090", "--usd-per-kwh", "0.25", "--json")
    data = json.loads(out)
    assert code == 0 and data["owned"]["purchase_usd"] > 0 and data["rent"]["usd_per_month"] > 0
    code, _, err = _run(capsys, "buy-vs-rent", "--gpu", "rtx-4090", "--usd-per-kwh", "0.25")
    assert code == 2 and "--purchase-usd" in err  # no purchase price for the 4090 in the catalog


@pytest.mark.parametrize("command,flags", [
    ("compare", ["--max-gpus", "--spot", "--budget-usd", "--max-hours", "--sort", "--seq-len", "--json"]),
    ("impact", ["--gpu", "--platform", "--vary", "--json"]),
    ("recommend", ["--budget-usd", "--domain-shift", "--alignment", "--target-batch", "--safety-margin"]),
    ("plan", ["--output", "--dataset", "--budget-usd"]),
    ("budget", ["FILE", "--json"]),
    ("buy-vs-rent", ["--purchase-usd", "--power-watts", "--usd-per-kwh", "--runs-per-month"]),
])
def test_help_lists_the_flags(capsys, command, flags):
    code, out, _ = _run(capsys, command, "--help")
    assert code == 0 and all(f in out for f in flags)


def test_budget_example_needs_no_repository_file(capsys, tmp_path, monkeypatch):
    # a pip-installed user has no examples/ folder: `budget --example` prints the packaged YAML (the same project
    # as examples/budget.yaml), it prices as written, and every budget error's fix points at it, not at a repo file
    import yaml

    code, out, _ = _run(capsys, "budget", "--example")
    assert code == 0 and yaml.safe_load(out) == yaml.safe_load(Path(EXAMPLE).read_text())
    monkeypatch.chdir(tmp_path)
    Path("budget.yaml").write_text(out)
    code, out, _ = _run(capsys, "budget", "budget.yaml", "--json")
    assert code == 0 and json.loads(out)["months"] == 6
    Path("typo.yaml").write_text("months: 2\nphases: [{name: x, gpu: a10, runs_per_mnth: 2}]\n")
    for argv in (["budget"], ["budget", "typo.yaml"], ["budget", "missing.yaml"]):
        code, _, err = _run(capsys, *argv)
        assert code == 2 and "frugaltune budget --example > budget.yaml" in err and "examples/" not in err, argv
