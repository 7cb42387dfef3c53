"""The run config: every bad key or value gives one clear error naming the key and the closest valid one; the
schema round-trips through YAML; every shipped example YAML loads and opens with the command that runs it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from frugaltune.errors import ConfigError
from frugaltune.train.config import RunConfig, load_config

REPO = Path(__file__).resolve().parents[2]


def problems_of(raw: dict) -> str:
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict(raw)
    return str(info.value)


@pytest.mark.parametrize("raw, expected", [
    ({"modle": {}}, "modle: unknown key. Did you mean 'model'?"),
    ({"training": {"learning_rate": 1e-4}}, "training.learning_rate: unknown key. Did you mean 'lr'?"),
    ({"training": {"micro_bach": 2}}, "training.micro_bach: unknown key. Did you mean 'micro_batch'?"),
    ({"method": {"lora": {"rank": 8}}}, "method.lora.rank: unknown key. Did you mean 'r'?"),
    ({"checkpoints": {"keep_lst": 2}}, "checkpoints.keep_lst: unknown key. Did you mean 'keep_last'?"),
    ({"data": {"fields": {"lable": "y"}}}, "data.fields.lable: unknown key. Did you mean 'label'?"),
    ({"training": {"precision": "bf32"}}, "training.precision: 'bf32' is not allowed; use 'auto', 'fp32', 'bf16'"),
    ({"method": {"kind": "qlora4"}}, "method.kind: 'qlora4' is not allowed"),
    ({"training": {"micro_batch": 0}}, "training.micro_batch: Input should be greater than or equal to 1"),
    ({"data": {"eval_fraction": 1.5}}, "data.eval_fraction: Input should be less than 1"),
    ({"method": {"lora": {"targets": ["q_prj"]}}}, "method.lora.targets: unknown module 'q_prj'. Did you mean 'q_proj'?"),
    ({"model": {"source": "preset:tiny-lama"}}, "unknown preset 'tiny-lama'. Did you mean 'tiny-llama'?"),
    ({"model": {"source": "org/model", "vocab_size": 256}}, "model.vocab_size: only presets"),
    ({"checkpoints": {"every_steps": None, "every_minutes": None}}, "checkpoints: every_steps and every_minutes"),
])
def test_each_bad_key_or_value_is_named(raw, expected):
    message = problems_of(raw)
    assert expected in message
    assert "To fix:" in message


def test_all_problems_are_collected_into_one_error():
    message = problems_of({"modle": {}, "training": {"lerning_rate": 1, "micro_batch": 0},
                           "method": {"lora": {"targets": ["v_prj"]}}})
    assert message.startswith("config: 3 problems:")  # pydantic's problems first (cross-field checks need a valid tree)
    for piece in ("modle", "training.lerning_rate", "training.micro_batch"):
        assert piece in message


def test_not_a_mapping_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="expected a mapping"):
        RunConfig.from_dict(["model"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: lora\nmodel: {source: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        load_config(bad)
    assert err.value.message.startswith(f"{bad}:3:1: not valid YAML (")  # file:line:column, one line
    assert "\n" not in err.value.message
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_yaml_round_trip_and_overrides(tmp_path):
    cfg = RunConfig.from_dict({"model": {"source": "HuggingFaceTB/SmolLM2-135M-Instruct"},
                               "method": {"kind": "qlora", "lora": {"r": 8}}, "training": {"max_steps": 5}})
    path = tmp_path / "run.yaml"
    path.write_text(cfg.to_yaml(header="frugaltune train run.yaml"))
    assert path.read_text().startswith("# frugaltune train run.yaml\n")
    again = load_config(path, {"training.max_steps": 9, "output.dir": "elsewhere"})
    assert again.method.kind == "qlora" and again.method.lora.r == 8
    assert again.training.max_steps == 9 and again.output.dir == "elsewhere"
    assert again.model_dump(exclude={"training", "output"}) == cfg.model_dump(exclude={"training", "output"})


def test_relative_data_path_falls_back_to_the_config_directory(tmp_path, monkeypatch):
    (tmp_path / "cfg" / "data").mkdir(parents=True)
    (tmp_path / "cfg" / "data" / "train.jsonl").write_text("{}\n")
    path = tmp_path / "cfg" / "run.yaml"
    path.write_text(yaml.safe_dump({"data": {"path": "data/train.jsonl"}}))
    monkeypatch.chdir(tmp_path)
    assert load_config(path).data.path == str(tmp_path / "cfg" / "data" / "train.jsonl")


def test_config_module_imports_without_torch():
    import subprocess

    code = "import sys, frugaltune.train.config; print(any(m in sys.modules for m in ('torch', 'transformers')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


RUN_YAMLS = sorted(set((REPO / "examples" / "trade-classifier").glob("*.yaml")) | {
    p for p in (REPO / "examples").rglob("*.yaml") if "frugaltune train" in p.read_text().split("\n", 1)[0]})


@pytest.mark.parametrize("path", RUN_YAMLS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_example_yaml_loads_and_says_how_to_run_it(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and any(c in first for c in ("frugaltune train", "frugaltune launch", "make ")), first
    cfg = load_config(path)
    assert cfg.output.dir


def test_examples_exist():
    names = {p.name for p in RUN_YAMLS}
    assert {"tiny.yaml", "smollm2-lora.yaml", "llama2-7b-qlora.yaml"} <= names
