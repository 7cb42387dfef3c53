"""The CLI layer (cli/commands.py, options.py, parse.py, help.py, app.py): parsing, help from the tables, --version,
--json errors, and the registry's promises (every command loads, spellings are unique, only its module imports)."""

from __future__ import annotations

import json

import pytest

from frugaltune import __version__
from frugaltune.cli import commands
from frugaltune.cli.app import run
from frugaltune.cli.options import Opt, argument, switch
from frugaltune.cli.parse import HelpRequested, UsageError, parse

OPTIONS = [
    argument("config", "A file."),
    Opt("output", str, None, "Where.", flags=("-o", "--output")),
    Opt("steps", int, 10, "How many.", min=1),
    Opt("rate", float, 0.5, "How fast."),
    Opt("method", str, "lora", "Which.", ("full", "lora", "qlora")),
    Opt("packing", bool, True, "Pack."),
    Opt("spot", bool, None, "Tri-state."),
    Opt("gpu", str, None, "Repeatable.", multiple=True),
    switch("json_out", "JSON.", "--json"),
]


def test_defaults_and_every_spelling():
    assert parse(["run.yaml"], OPTIONS) == {"config": "run.yaml", "output": None, "steps": 10, "rate": 0.5,
                                            "method": "lora", "packing": True, "spot": None, "gpu": None,
                                            "json_out": False}
    got = parse(["-o", "x.yaml", "--steps=3", "--rate", "-0.25", "--method", "full", "--no-packing", "--spot",
                 "--gpu", "a10", "--gpu=t4,l4", "--json", "run.yaml"], OPTIONS)
    assert got == {"config": "run.yaml", "output": "x.yaml", "steps": 3, "rate": -0.25, "method": "full",
                   "packing": False, "spot": True, "gpu": ["a10", "t4,l4"], "json_out": True}
    assert parse(["--no-spot", "--", "--odd-name.yaml"], OPTIONS)["spot"] is False
    assert parse(["--", "--odd-name.yaml"], OPTIONS)["config"] == "--odd-name.yaml"


@pytest.mark.parametrize("argv, message", [
    (["x", "--stepz", "3"], "no such option: --stepz. Did you mean: --steps?"),
    (["x", "--steps", "three"], "--steps: 'three' is not an integer."),
    (["x", "--steps", "0"], "--steps must be >= 1 (got 0)."),
    (["x", "--rate", "fast"], "--rate: 'fast' is not a number."),
    (["x", "--method", "lorra"], "--method 'lorra' is not one of full, lora, qlora. Did you mean: lora"),
    (["x", "--steps"], "--steps needs a value."),
    (["x", "--output", "--json"], "--output needs a value."),
    (["x", "--json=yes"], "--json takes no value"),
    (["x", "y"], "unexpected argument 'y'."),
    ([], "missing argument CONFIG: A file."),
])
def test_usage_errors_are_one_line_naming_the_flag(argv, message):
    with pytest.raises(Exception) as info:
        parse(argv, OPTIONS, prog="frugaltune x")
    assert info.value.exit_code == 2 and info.value.message.startswith(message)


@pytest.mark.parametrize("raw, fix", [("qlorra", "use --method qlora"), ("ful", "use --method full"),
                                      ("zzz", "use --method full")])
def test_a_wrong_choice_is_fixed_with_the_closest_one(raw, fix):
    with pytest.raises(Exception) as info:
        parse(["x", "--method", raw], OPTIONS, prog="frugaltune x")
    assert info.value.fix == fix


def test_help_anywhere_wins():
    with pytest.raises(HelpRequested):
        parse(["--steps", "bad", "-h"], OPTIONS)


def test_version(capsys):
    assert run(["--version"]) == 0
    assert capsys.readouterr().out == f"frugaltune {__version__}\n"


def test_top_help_lists_every_command_and_group(capsys):
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    for name in list(commands.GROUPS) + [n for n in commands.COMMANDS if " " not in n]:
        assert f"\n  {name} " in out, name
    assert run([]) == 0 and "Commands:" in capsys.readouterr().out


def test_group_help_and_unknown_subcommand(capsys):
    assert run(["catalog"]) == 0
    out = capsys.readouterr().out
    assert all(f"  {sub} " in out for sub in ("gpus", "prices", "models", "storage"))
    assert run(["catalog", "gpu"]) == 2
    assert "no such command: 'catalog gpu'" in capsys.readouterr().err


def test_unknown_command_suggests(capsys):
    assert run(["estimat", "--json"]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: no such command: 'estimat'. Did you mean: estimate")
    error = json.loads(out)
    assert error["error"].startswith("no such command: 'estimat'. Did you mean: estimate")
    assert error["fix"] == "see `frugaltune --help`." and error["exit_code"] == 2


@pytest.mark.parametrize("name", list(commands.COMMANDS))
def test_every_command_loads_with_unique_spellings_and_documented_choices(name, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    cmd = commands.load(name)
    assert cmd.name == name and cmd.summary.endswith(".") and callable(cmd.handler)
    spellings = [s for o in cmd.options if not o.positional for s in o.spellings]
    dests = [o.dest for o in cmd.options]
    assert len(spellings) == len(set(spellings)) and len(dests) == len(set(dests)), name
    assert run([*name.split(), "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Usage: frugaltune {name} [OPTIONS]")
    for o in cmd.options:
        assert (o.metavar if o.positional else o.flag) in out, (name, o.dest)
        for choice in o.choices or ():
            assert choice in out, (name, o.flag, choice)


def test_json_usage_error_is_a_json_object_on_stdout(capsys):
    assert run(["compare", "--max-gpus", "many", "--json"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["error"] == "--max-gpus: 'many' is not an integer."
    assert err.startswith("error: --max-gpus: 'many' is not an integer.")


def test_json_error_from_the_command_keeps_its_exit_code(capsys):
    assert run(["compare", "--gpu", "mi300x", "--json"]) == 3  # nothing offered: exit 3
    error = json.loads(capsys.readouterr().out)
    assert error["exit_code"] == 3 and "no offer in the catalog matches" in error["error"]


def test_usage_error_is_a_frugal_error():
    assert issubclass(UsageError, Exception) and UsageError("x").exit_code == 2


SCHEMA_PROBE = """
import contextlib, io, sys
from frugaltune.cli.app import run
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = run(sys.argv[1:])
print(code, "pydantic" in sys.modules, file=sys.stderr)
sys.stdout.write(out.getvalue())
"""


@pytest.mark.parametrize("args", [["schema"], ["schema", "--example"]])
def test_schema_text_is_built_once_then_read_from_the_cache(tmp_path, args):
    import os
    import subprocess
    import sys

    from frugaltune.train.config import RunConfig, json_schema

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", SCHEMA_PROBE, *args], capture_output=True, text=True, env=env,
                           timeout=60, check=False) for _ in range(2)]
    assert [r.stderr.split() for r in runs] == [["0", "True"], ["0", "False"]]  # the second run skips pydantic
    assert runs[0].stdout == runs[1].stdout
    if args == ["schema"]:
        assert json.loads(runs[1].stdout) == json_schema()
    else:
        assert RunConfig.from_dict(__import__("yaml").safe_load(runs[1].stdout)) == RunConfig()


START_UP_PROBE = """
import contextlib, io, sys
from frugaltune.cli.app import run
with contextlib.redirect_stdout(io.StringIO()):
    code = run(sys.argv[1:])
slow = ("pydantic", "yaml", "rich", "typer", "click", "argparse", "dataclasses", "pathlib", "torch", "numpy")
print(code, " ".join(sorted(m for m in slow if m in sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("argv, allowed", [
    (["compare", "--gpu", "a10"], []), (["recommend", "--budget-usd", "20"], []),
    (["budget", "examples/budget.yaml"], []),
    (["plan", "--model", "7B", "--gpu", "a10"], ["pathlib", "yaml"]),  # it writes a YAML file
    (["impact", "--gpu", "t4", "--json"], []), (["afford", "--budget-usd", "50"], []), (["catalog", "gpus"], []),
    (["--help"], [])])
def test_warm_commands_import_nothing_slow(tmp_path, argv, allowed):
    """What each planner command imports once the data cache is warm: none of the modules that cost start-up time
    (pydantic ~90 ms, yaml ~25 ms, dataclasses ~15 ms, pathlib ~10 ms ...): bench/cli_startup.py has the times."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "COLUMNS": "100"}
    root = Path(__file__).resolve().parents[1]
    runs = [subprocess.run([sys.executable, "-c", START_UP_PROBE, *argv], capture_output=True, text=True, env=env,
                           cwd=root, timeout=120, check=False) for _ in range(2)]
    assert runs[1].stderr.split() == ["0", *allowed], runs[1].stderr[-2000:]
