"""Bad input to `frugaltune estimate` -> a one-line error naming the field (+ a 'To fix:' line), exit code 2 and no
traceback: with `--json` through the installed CLI in a subprocess (the error is also a JSON object on stdout), and
for the table in-process (`frugaltune.cli.app.run`: the same code without an interpreter start per case)."""

from __future__ import annotations

import json
import subprocess

import pytest

BASE = ["estimate", "--model", "llama-2-7b", "--gpu", "a10", "--platform", "lambda"]

# (flags replacing or adding to BASE, words stderr must contain)
BAD_INPUTS = {
    "unknown gpu": (["--gpu", "a1000"], ["Unknown GPU 'a1000'", "Did you mean", "A100"]),
    "unknown model": (["--model", "lama-2-7b"], ["Unknown model 'lama-2-7b'", "Did you mean", "llama-2-7b"]),
    "unknown platform": (["--platform", "lambdda"], ["Unknown platform 'lambdda'", "Did you mean", "lambda"]),
    "seq len 0": (["--seq-len", "0"], ["--seq-len", "= 0"]),
    "negative micro batch": (["--micro-batch", "-1"], ["--micro-batch", "= -1"]),
    "unknown method": (["--method", "foo"], ["--method 'foo'", "full, lora, qlora"]),
    "unknown pricing": (["--pricing", "cheap"], ["--pricing 'cheap'", "on-demand, spot"]),
    "unknown lora target": (["--lora-targets", "bogus"], ["LoRA target 'bogus'", "all-linear"]),
    "missing dataset": (["--dataset", "missing.jsonl"], ["dataset file not found: missing.jsonl"]),
    "zero epochs": (["--epochs", "0"], ["--epochs", "= 0"]),
    "zero stage 5": (["--zero-stage", "5"], ["--zero-stage", "= 5"]),
}


def _argv(flags: list[str]) -> list[str]:
    argv = list(BASE)
    for i in range(0, len(flags), 2):
        if flags[i] in argv:
            argv[argv.index(flags[i]) + 1] = flags[i + 1]
        else:
            argv += flags[i:i + 2]
    return argv


def _assert_clean_error(proc, words: list[str], json_out: bool = False) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    if json_out:  # scripts read stdout: the same error as a JSON object
        error = json.loads(proc.stdout)
        assert error["exit_code"] == 2 and proc.stderr.startswith(f"error: {error['error']}")
        assert error["fix"] is None or f"To fix: {error['fix']}" in proc.stderr
    else:
        assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: "), proc.stderr
    assert len(lines) <= 2 and all(line.startswith(("error: ", "To fix: ")) for line in lines), proc.stderr
    for word in words:
        assert word in proc.stderr, (word, proc.stderr)


def _run_in_process(argv: list[str], capsys) -> subprocess.CompletedProcess:
    from frugaltune.cli.app import run

    code = run(argv)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out, err)


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_json(cli, case):
    flags, words = BAD_INPUTS[case]
    _assert_clean_error(cli(*_argv(flags), "--json"), words, json_out=True)


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_table(case, capsys):
    flags, words = BAD_INPUTS[case]
    _assert_clean_error(_run_in_process(_argv(flags), capsys), words)


def test_broken_jsonl_line_is_named(cli, tmp_path, capsys):
    data = tmp_path / "train.jsonl"
    data.write_text('{"text": "fine"}\n\n{"text": "also fine"}\n{"text": broken\n')
    words = [f"{data} line 4: invalid JSON"]
    _assert_clean_error(cli(*_argv(["--dataset", str(data)]), "--json"), words, json_out=True)
    _assert_clean_error(_run_in_process(_argv(["--dataset", str(data)]), capsys), words)


@pytest.mark.parametrize("json_flag", [["--json"], []], ids=["json", "table"])
def test_non_integer_flag_is_a_usage_error_without_traceback(cli, json_flag):
    proc = cli(*_argv(["--seq-len", "abc"]), *json_flag)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "--seq-len: 'abc' is not an integer." in proc.stderr
