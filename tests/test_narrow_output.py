"""Tables people read fit 80 columns: no line wider, no cell cut to '…', no word broken mid-word; and every table
command writes the same rows as CSV or Markdown with --format.

A broken word shows up as a fragment: every whitespace-separated token of the 80-column output must also be a token
of the same command's wide output (250 columns) or of its CSV, the full column set.
"""

from __future__ import annotations

import csv
import io
import re

import pytest

from frugaltune.cli.app import run
from frugaltune.console import cell_width

BOX = re.compile(r"[┏┓┗┛┃━┳┻╋┡┩╇│─┬┴┼└┘┌┐]")
COMMANDS = {
    "compare": ["compare", "--model", "llama-2-7b", "--method", "lora", "--dataset-size", "10000", "--spot",
                "--top", "8"],
    "impact": ["impact", "--model", "llama-2-7b", "--gpu", "t4", "--vary", "method,grad_ckpt,optimizer"],
    "budget": ["budget", "examples/budget.yaml"],
    "catalog gpus": ["catalog", "gpus"],
    "catalog prices": ["catalog", "prices", "--gpu", "a100-40gb"],
    "catalog models": ["catalog", "models"],
    "catalog storage": ["catalog", "storage"],
    "recommend (trade-off matrix)": ["recommend", "--model", "llama-2-7b", "--budget-usd", "20"],
    "buy-vs-rent": ["buy-vs-rent", "--gpu", "rtx 4090", "--usd-per-kwh", "0.15", "--hours-per-month", "40",
                    "--purchase-usd", "1800"],
    "afford": ["afford", "--budget-usd", "50", "--model", "qwen2.5-0.5b,llama-3.1-70b"],
}


def _out(argv, capsys, monkeypatch, columns: int) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("NO_COLOR", "1")
    assert run(argv) == 0
    return capsys.readouterr().out


# the narrow column set's own headers and the GPU counts it writes as "8x"
NARROW_WORDS = {"machine", "where", "settings", "offer", "per", "month", "packed", "on"}


def _tokens(text: str) -> set[str]:
    return {t.lstrip("$") for t in BOX.sub(" ", text).replace(":", " ").split()
            if t not in NARROW_WORDS and not re.fullmatch(r"\d+x", t)}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_fits_80_columns_without_cutting_anything(name, capsys, monkeypatch):
    argv = COMMANDS[name]
    narrow = _out(argv, capsys, monkeypatch, 80)
    wide = _out(argv, capsys, monkeypatch, 250)
    full = _out(argv + ["--format", "csv"], capsys, monkeypatch, 80) if "--format" in _help(argv) else ""
    assert "…" not in narrow
    too_wide = [line for line in narrow.splitlines() if cell_width(line) > 80]
    assert not too_wide, too_wide[:3]
    fragments = _tokens(narrow) - _tokens(wide) - _tokens(full.replace(",", " "))
    assert not fragments, f"words broken or invented at 80 columns: {sorted(fragments)[:10]}"
    assert "┃" in narrow or ":" in narrow  # a table (or its cards), not nothing


def _help(argv: list[str]) -> str:
    import contextlib

    buf = io.StringIO()
    words = [a for a in argv if not a.startswith("-")][:2]
    sub = words[:2] if words[0] == "catalog" else words[:1]
    with contextlib.redirect_stdout(buf):
        run(sub + ["--help"])
    return buf.getvalue()


@pytest.mark.parametrize("name", ["compare", "impact", "budget", "catalog gpus", "catalog prices", "buy-vs-rent",
                                  "afford"])
def test_csv_and_markdown_carry_the_full_rows(name, capsys, monkeypatch):
    argv = COMMANDS[name]
    text = _out(argv + ["--format", "csv"], capsys, monkeypatch, 80)
    rows = list(csv.reader(io.StringIO(text.split("\n\n")[0])))
    assert len(rows) >= 2 and all(len(r) == len(rows[0]) for r in rows)
    assert not any("[" in cell and "[/" in cell for r in rows for cell in r)  # no console markup in files
    md = _out(argv + ["--format", "md"], capsys, monkeypatch, 80)
    table_lines = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table_lines) >= 3 and re.match(r"^\|(-{3}:?\||-{3}\|)+$", table_lines[1].replace("---:", "---"))


def test_compare_csv_numbers_read_as_numbers(capsys, monkeypatch):
    text = _out(COMMANDS["compare"] + ["--format", "csv"], capsys, monkeypatch, 80)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and float(rows[0]["$ total"]) > 0 and float(rows[0]["tok/s"]) > 0
    assert rows[0]["region"] and rows[0]["instance"]


def test_format_json_errors_are_json_too(capsys):
    import json

    assert run(["compare", "--gpu", "nope", "--format", "json"]) == 2
    err = json.loads(capsys.readouterr().out)
    assert err["exit_code"] == 2 and "nope" in err["error"] and err["fix"]


def test_estimate_as_csv_is_one_row_of_figures(capsys):
    assert run(["estimate", "--model", "llama-2-7b", "--gpu", "a10", "--platform", "lambda", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 1 and rows[0]["gpu"] == "A10" and float(rows[0]["total_usd"]) > 0
    assert rows[0]["region"] and float(rows[0]["peak_gb_per_gpu"]) > 0


def test_narrow_compare_tells_apart_offers_of_one_platform_and_region(capsys, monkeypatch):
    # RunPod sells the RTX 4090 in its Community and Secure Cloud at different prices, both "global": the folded
    # 80-column row names the instance when two shown rows would otherwise read the same
    out = _out(["compare", "--model", "llama-3.1-8b", "--method", "qlora", "--dataset-size", "5000", "--gpu",
                "rtx 4090"], capsys, monkeypatch, 80)
    rows = [BOX.sub(" ", line).split() for line in out.splitlines() if line.startswith("│ ") and "1x" in line]
    assert len(rows) >= 2
    assert "Community" in out and "Secure" in out
    assert len({tuple(r) for r in rows}) == len(rows)
