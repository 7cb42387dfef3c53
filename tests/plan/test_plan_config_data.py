"""`frugaltune plan` writes its run config without pydantic (train/config_snapshot.py): over a grid of plans the
written mapping and YAML are exactly what RunConfig would make of the same keys, and a warm command never imports
pydantic."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from frugaltune.plan import api
from frugaltune.plan.runconfig import run_config_data
from frugaltune.train.config import RunConfig

GRID = [
    {"model": "7B", "gpu": "a10"},
    {"model": "7B", "method": "full", "gpu": "h100", "num_gpus": 8, "safety_margin": 0.2},
    {"model": "llama-2-7b", "method": "qlora", "budget_usd": 20, "spot": True},
    {"model": "0.5B", "method": "lora", "spot": False, "epochs": 1, "lora_r": 64},
    {"model": "70B", "method": "qlora", "gpu": "a100-80gb"},
    {"model": "13B", "method": "full", "max_gpus": 8, "precision": "bf16-true"},
]


@pytest.mark.parametrize("kwargs", GRID, ids=lambda k: "-".join(f"{v}" for v in k.values()))
def test_plan_config_data_is_what_runconfig_makes_of_it(kwargs):
    planned = api.plan(**kwargs)
    raw = run_config_data(planned.recommendation, model_source=planned.config_data["model"]["source"],
                          data_path=planned.config_data["data"]["path"],
                          output_dir=planned.config_data["output"]["dir"])
    validated = RunConfig.from_dict(raw, origin="plan")
    assert planned.config_data == validated.model_dump(mode="json")
    assert list(planned.config_data) == list(validated.model_dump(mode="json"))  # same key order in the YAML
    assert planned.yaml.endswith(validated.to_yaml())
    assert planned.config == validated


def test_a_plan_with_flash_attention_writes_the_runners_flash_attention():
    flash = api.plan(model="7B", gpu="a10", attention="flash")
    assert flash.config_data["model"]["attention"] == "flash_attention_2"
    assert RunConfig.from_dict(flash.config_data).model.attention == "flash_attention_2"
    assert api.plan(model="7B", gpu="a10").config_data["model"]["attention"] == "auto"


PROBE = """
import sys
from frugaltune.cli.app import run
code = run(["plan", "--model", "7B", "--gpu", "a10", "-o", sys.argv[1]])
print(code, "pydantic" in sys.modules, file=sys.stderr)
"""


def test_a_warm_plan_imports_no_pydantic(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "COLUMNS": "120"}
    runs = [subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / f"run{i}.yaml")], capture_output=True,
                           text=True, env=env, timeout=120, check=False) for i in range(2)]
    assert [r.stderr.split()[-2:] for r in runs] == [["0", "True"], ["0", "False"]], runs[1].stderr
    first, second = ((tmp_path / f"run{i}.yaml").read_text() for i in range(2))
    assert first.replace("run0.yaml", "X") == second.replace("run1.yaml", "X")
