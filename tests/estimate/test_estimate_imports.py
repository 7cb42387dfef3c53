"""The estimate path imports no heavy stack (STYLE.md rule 9): `frugaltune estimate --json` must start fast.
Checked in a fresh interpreter, after a real estimate through the API and through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("torch", "transformers", "peft", "pandas", "numpy", "pydantic", "typer", "rich", "click", "yaml")

PROBE = f"""
import contextlib, io, json, sys
import frugaltune.api, frugaltune.cli.app
result = frugaltune.api.estimate(model="llama-2-7b", gpu="a10", platform="lambda", method="qlora")
assert result.to_json()["memory"]["fits"]
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = frugaltune.cli.app.run(["estimate", "--model", "7B", "--gpu", "t4", "--pricing", "spot", "--json"])
assert code == 0 and json.loads(out.getvalue())["job"]["precision"] == "fp16"
heavy = {HEAVY!r}
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
"""


def test_estimate_path_imports_no_heavy_modules():
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


ONLY_ITS_MODULE = """
import os, sys
sys.stdout = open(os.devnull, "w")
from frugaltune.cli import app
code = app.run(["estimate", "--model", "7B", "--gpu", "a10", "--json"])
print(code, " ".join(sorted(m for m in sys.modules if m.startswith("frugaltune.cli."))), file=sys.stderr)
"""


def test_a_command_imports_only_its_own_cli_module():
    proc = subprocess.run([sys.executable, "-c", ONLY_ITS_MODULE], capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    code, *modules = proc.stderr.split()
    assert code == "0" and modules == ["frugaltune.cli.app", "frugaltune.cli.commands", "frugaltune.cli.estimate",
                                       "frugaltune.cli.options", "frugaltune.cli.parse"], proc.stderr


# Stdlib modules `estimate --json` avoids, each for a measured share of start-up (bench/cli_startup.py): re and enum
# (~9 ms, pulled in by json, csv, pickle and pathlib), dataclasses (inspect, ast, dis: ~13 ms), typing, argparse.
SLOW_STDLIB = ("re", "enum", "json", "csv", "pickle", "pathlib", "dataclasses", "inspect", "typing", "argparse",
               "functools", "collections")
FAST_PATH_PROBE = f"""
import os, sys
sys.stdout = open(os.devnull, "w")
from frugaltune.cli import app
code = app.run(["estimate", "--model", "llama-2-7b", "--gpu", "a10", "--platform", "lambda", "--json"])
print(code, " ".join(sorted(m for m in sys.modules if m in {SLOW_STDLIB!r})), file=sys.stderr)
"""


def test_estimate_json_with_a_warm_data_cache_imports_none_of_the_slow_stdlib_modules(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(tmp_path)}
    runs = [subprocess.run([sys.executable, "-c", FAST_PATH_PROBE], capture_output=True, text=True, timeout=60,
                           env=env, check=False) for _ in range(2)]
    code, *cold = runs[0].stderr.split()
    assert code == "0" and "csv" in cold  # the first run parses the CSVs and fills the cache
    code, *warm = runs[1].stderr.split()
    assert code == "0" and warm == [], f"estimate --json imported {warm}: each costs start-up time"


TABLE_PROBE = """
import sys
from frugaltune.cli import main
try:
    main(["estimate", "--model", "7B", "--gpu", "a10", "--platform", "lambda"])
except SystemExit as done:
    print("exit", done.code, "typer" in sys.modules, "pydantic" in sys.modules, file=sys.stderr)
"""


def test_the_estimate_table_is_served_without_pydantic():
    proc = subprocess.run([sys.executable, "-c", TABLE_PROBE], capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "120"})
    assert "peak memory / GPU" in proc.stdout and "lambda" in proc.stdout
    assert proc.stderr.split()[-4:] == ["exit", "0", "False", "False"], proc.stderr
