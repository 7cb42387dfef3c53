"""What the engines can run (one table the config, the planner and the launcher share), the `distributed:` config
section's errors, `--set` overrides, and the files a distributed run writes for people to reuse."""

from __future__ import annotations

import json
import sys

import pytest
import yaml

from frugaltune.errors import ConfigError
from frugaltune.train.config import RunConfig, load_config, parse_set
from frugaltune.train.engines import files
from frugaltune.train.engines.support import plan_section, problem, supported


@pytest.mark.parametrize(("combo", "ok"), [
    (("ddp", 0, "none", "adamw8bit", "qlora"), True),         # plain data parallel runs everything
    (("ddp", 2), False),                                       # sharding needs a sharding engine
    (("ddp", 0, "optimizer"), False),                          # no offload without deepspeed/fsdp
    (("fsdp", 3, "params", "adamw", "full"), True),
    (("fsdp", 2, "none", "sgd", "lora"), True),
    (("fsdp", 1), False),                                      # FSDP has no optimizer-only sharding stage
    (("fsdp", 3, "optimizer"), False),                         # FSDP offloads params with the optimizer, or nothing
    (("fsdp", 3, "none", "adamw8bit"), False),                 # bitsandbytes on DTensor shards
    (("fsdp", 3, "none", "adamw", "qlora"), True),            # FSDP-QLoRA: the 4-bit base is sharded
    (("fsdp", 3, "params", "adamw", "qlora"), True),          # ... with the shards on the CPU (70B on 2 x 24 GB)
    (("fsdp", 3, "none", "adamw", "qlora", 8), False),        # LLM.int8 weights are integers: not shardable
    (("deepspeed", 2, "optimizer", "adamw", "full"), True),    # ZeRO-Offload
    (("deepspeed", 3, "params", "adamw", "full"), True),
    (("deepspeed", 2, "params"), False),                       # parameter offload is stage 3 only
    (("deepspeed", 3, "params", "adamw8bit", "full"), False),  # issue 13's plan that cannot run
    (("deepspeed", 2, "none", "paged_adamw8bit"), False),
    (("deepspeed", 2, "none", "adamw", "qlora"), True),
    (("deepspeed", 3, "none", "adamw", "qlora"), False),     # ZeRO-3 does not partition the 4-bit base here
    (("deepspeed", 0), False),
    (("megatron",), False),
])
def test_support_table(combo, ok):
    assert supported(*combo) is ok
    why = problem(*combo)
    assert (why is None) is ok and (ok or why.endswith("."))


def test_plan_section_maps_the_priced_zero_stage_to_an_engine():
    assert plan_section(1, 0, False) == {"engine": "ddp", "num_processes": 1, "num_nodes": 1}
    assert plan_section(4, 3, True, "adamw", "full") == {"engine": "deepspeed", "num_processes": 4, "num_nodes": 1,
                                                         "zero_stage": 3, "cpu_offload": "params"}
    assert plan_section(2, 2, True, "adamw", "full")["cpu_offload"] == "optimizer"
    assert plan_section(1, 0, True, "adamw", "full") == {"engine": "deepspeed", "num_processes": 1, "num_nodes": 1,
                                                         "zero_stage": 2, "cpu_offload": "optimizer"}
    with pytest.raises(ValueError, match="CPU Adam"):
        plan_section(8, 3, True, "adamw8bit", "full")  # never written into a run.yaml
    # QLoRA priced with sharded weights runs on fsdp (deepspeed ZeRO-3 does not partition the 4-bit base)
    assert plan_section(2, 3, True, "adamw", "qlora") == {"engine": "fsdp", "num_processes": 2, "num_nodes": 1,
                                                          "zero_stage": 3, "cpu_offload": "params"}
    assert plan_section(2, 2, False, "adamw", "qlora")["engine"] == "deepspeed"
    section = plan_section(2, 3, False, "adamw", "qlora")
    assert RunConfig.from_dict({"method": {"kind": "qlora"}, "distributed": section}).distributed.stage == 3


def _config(**distributed) -> dict:
    return {"distributed": distributed}


def test_distributed_section_errors_name_the_problem():
    cfg = RunConfig.from_dict(_config(engine="fsdp", num_processes=2))
    assert cfg.distributed.stage == 3 and cfg.distributed.world_size == 2
    assert RunConfig.from_dict(_config(engine="deepspeed")).distributed.stage == 2
    with pytest.raises(ConfigError, match=r"distributed: deepspeed offloads parameters only at zero_stage 3"):
        RunConfig.from_dict(_config(engine="deepspeed", zero_stage=2, cpu_offload="params"))
    with pytest.raises(ConfigError, match=r"distributed\.engine: 'megatron' is not allowed"):
        RunConfig.from_dict(_config(engine="megatron"))
    with pytest.raises(ConfigError, match=r"distributed\.num_proceses: unknown key\. Did you mean 'num_processes'"):
        RunConfig.from_dict(_config(num_proceses=2))
    with pytest.raises(ConfigError, match=r"distributed: qlora's 8-bit base weights are integer tensors"):
        RunConfig.from_dict({"method": {"kind": "qlora", "quant": {"bits": 8}}, **_config(engine="fsdp")})


def test_set_overrides_any_key_with_yaml_typed_values(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("training:\n  lr: 0.1\ndistributed:\n")  # an empty section is fine to set into
    sets = dict(parse_set(s) for s in ["distributed.engine=fsdp", "distributed.num_processes=2", "training.lr=0.5",
                                       "data.labels=[a, b]", "training.max_grad_norm=null", "name=my run"])
    cfg = load_config(path, sets)
    assert (cfg.distributed.engine, cfg.distributed.num_processes, cfg.training.lr) == ("fsdp", 2, 0.5)
    assert cfg.data.labels == ["a", "b"] and cfg.training.max_grad_norm is None and cfg.name == "my run"


@pytest.mark.parametrize(("item", "message"), [
    ("training.lrr=1", "training has no key 'lrr'. Did you mean 'lr'?"),
    ("distributd.engine=ddp", "the config has no key 'distributd'. Did you mean 'distributed'?"),
    ("training=3", "training is a section"),
    ("training.lr.x=1", "training.lr is a value, not a section"),
    ("novalue", "expected KEY=VALUE"),
    ("training.lr=[", "not valid YAML"),
])
def test_set_errors_name_the_key(item, message):
    with pytest.raises(ConfigError, match=None) as err:
        parse_set(item)
    assert message in str(err.value)


def test_cli_set_errors_are_one_line(capsys):
    from frugaltune.cli.app import run

    code = run(["train", "examples/trade-classifier/tiny.yaml", "--set", "distributed.engin=fsdp", "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2 and "distributed has no key 'engin'. Did you mean 'engine'?" in err and "Traceback" not in err


def test_launcher_files_are_what_the_tools_read(tmp_path):
    cfg = RunConfig.from_dict({"training": {"micro_batch": 4, "grad_accum": 2, "max_grad_norm": 0.5},
                               "distributed": {"engine": "deepspeed", "num_processes": 4, "zero_stage": 3,
                                               "cpu_offload": "params"}})
    out = files.write_all(tmp_path, cfg, ["frugaltune", "train", "run.yaml"], "bf16")
    ds = json.loads((out / "deepspeed.json").read_text())
    assert ds["train_batch_size"] == 4 * 2 * 4 and ds["gradient_clipping"] == 0.5 and ds["bf16"] == {"enabled": True}
    assert ds["zero_optimization"]["stage"] == 3 and ds["zero_optimization"]["offload_param"]["device"] == "cpu"
    acc = yaml.safe_load((out / "accelerate.yaml").read_text())
    assert acc["distributed_type"] == "DEEPSPEED" and acc["num_processes"] == 4
    assert acc["deepspeed_config"]["deepspeed_config_file"] == "deepspeed.json"
    script = (out / "torchrun.sh").read_text()
    assert "torchrun --standalone --nproc_per_node 4 frugaltune train run.yaml" in script

    fsdp = RunConfig.from_dict({"distributed": {"engine": "fsdp", "num_processes": 2, "num_nodes": 2,
                                                "zero_stage": 2}})
    out = files.write_all(tmp_path / "f", fsdp, ["frugaltune", "train", "run.yaml"], rdzv_endpoint="10.0.0.1:29500")
    acc = yaml.safe_load((out / "accelerate.yaml").read_text())
    assert acc["fsdp_config"]["fsdp_version"] == 2 and acc["fsdp_config"]["fsdp_reshard_after_forward"] is False
    assert "--nnodes 2" in (out / "torchrun.sh").read_text() and not (out / "deepspeed.json").exists()


def test_the_planner_side_imports_no_torch():
    import subprocess

    code = "import sys; import frugaltune.train.engines.support; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
