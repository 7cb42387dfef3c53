"""The validation layer (checks.py) where numbers enter the model: the Job record, the planner API, budget and run
YAML, catalog CSV cells, dataset files. The CLI-wide corpus is tests/test_bad_inputs.py."""

from __future__ import annotations

import math

import pytest

from frugaltune import api
from frugaltune.checks import Limit, check, coerce, readable_file
from frugaltune.errors import CatalogError, ConfigError, DataError


@pytest.mark.parametrize(("value", "words"), [
    (math.inf, "not a finite number"), (math.nan, "not a finite number"), (0, "must be > 0"),
    (-1.0, "must be > 0"), (20_000, "more than 10,000 (too many)"), ("3", "got str"), (True, "got bool"),
])
def test_check_names_the_field_and_the_problem(value, words):
    with pytest.raises(ConfigError) as err:
        check(value, "--epochs", Limit(0, 10_000, lo_open=True, example=3, why="too many"))
    assert err.value.message.startswith("--epochs = ") and words in err.value.message
    assert err.value.fix == "give --epochs a number > 0 and <= 10,000, e.g. --epochs 3."


def test_check_whole_numbers_and_coercion():
    limit = Limit(1, 100, integer=True)
    assert check(4.0, "x", limit) == 4 and isinstance(check(4.0, "x", limit), int)
    with pytest.raises(ConfigError, match="expected a whole number"):
        check(2.5, "x", limit)
    assert coerce("1e1", "x", limit) == 10 and coerce("2.5", "x", Limit()) == 2.5 and coerce("abc", "x", limit) == "abc"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"epochs": math.inf}, "epochs (--epochs) = inf"),
    ({"dataset_size": 10**20}, "dataset_size (--dataset-size)"),
    ({"seq_len": 0}, "seq_len (--seq-len) = 0"),
    ({"tokens_per_sample": math.nan}, "tokens_per_sample (--tokens-per-sample) = nan"),
    ({"lora_targets": ""}, "lora_targets (--lora-targets) names no module"),
    ({"micro_batch": 2.5}, "micro_batch (--micro-batch) = 2.5: expected a whole number"),
    ({"packing": "no"}, "packing (--packing) = 'no': expected true or false"),
    ({"num_gpus": 10**6}, "num_gpus (--num-gpus)"),
    ({"method": "dpo"}, "method (--method) = 'dpo'"),
])
def test_estimate_api_rejects_each_bad_job_value(kwargs, field):
    with pytest.raises(ConfigError) as err:
        api.estimate(model="llama-2-7b", gpu="a10", **kwargs)
    assert field in err.value.message and err.value.fix


def test_job_lists_every_problem_at_once():
    with pytest.raises(ConfigError) as err:
        api.estimate(epochs=-1, seq_len=0)
    assert "epochs" in err.value.message and "seq_len" in err.value.message


def test_integral_floats_and_numeric_text_are_accepted_as_whole_numbers():
    e = api.estimate(model="llama-2-7b", gpu="a10", platform="lambda", dataset_size=1e4, seq_len="512")
    assert e.job.seq_len == 512 and isinstance(e.job.seq_len, int)


def test_a_million_gpu_hours_is_warned_not_silent():
    e = api.estimate(model="llama-2-7b", gpu="a10", dataset_size=10**11, epochs=100)
    assert any("more than a million" in w for w in e.warnings)


def test_too_many_gpus_for_any_instance_says_so():
    e = api.estimate(model="llama-2-7b", gpu="a100-80gb", num_gpus=1000)
    assert any("has 1000 GPUs (at most" in w for w in e.warnings)


@pytest.mark.parametrize(("call", "flag"), [
    (lambda: api.compare(spot=True, interruptions_per_hour=-1), "--interruptions-per-hour = -1"),
    (lambda: api.compare(interruptions_per_hour=math.nan), "--interruptions-per-hour = nan"),
    (lambda: api.compare(max_gpus=0), "--max-gpus = 0"),
    (lambda: api.compare(budget_usd=-5), "--budget-usd = -5"),
    (lambda: api.compare(max_hours=math.inf), "--max-hours = inf"),
    (lambda: api.buy_vs_rent(usd_per_kwh=math.nan), "--usd-per-kwh = nan"),
    (lambda: api.buy_vs_rent(usd_per_kwh=0.2, years=0), "--depreciation-years = 0"),
    (lambda: api.buy_vs_rent(usd_per_kwh=0.2, runs_per_month=-4), "--runs-per-month = -4"),
    (lambda: api.recommend(safety_margin=math.nan), "--safety-margin = nan"),
    (lambda: api.recommend(target_batch=0), "--target-batch = 0"),
])
def test_planner_api_checks_its_own_numbers(call, flag):
    with pytest.raises(ConfigError) as err:
        call()
    assert err.value.message.startswith(flag)


BUDGET_OK = """months: 6
job: {model: llama-2-7b, method: lora, dataset_size: 1000, tokens_per_sample: 300, epochs: 1}
phases:
  - {name: dev, start_month: 1, months: 3, runs_per_month: 4, gpu: a10, platform: lambda}
"""


@pytest.mark.parametrize(("old", "new", "words"), [
    ("months: 6", "months: 0", "months = 0: must be >= 1"),
    ("months: 6", "months: -3", "months = -3"),
    ("runs_per_month: 4", "runs_per_month: -4", "phases[0].runs_per_month = -4"),
    ("runs_per_month: 4", "runs_per_month: .nan", "phases[0].runs_per_month = nan"),
    ("start_month: 1", "start_month: 9", "outside the plan's 6 months"),
    ("months: 3", "months: 12", "outside the plan's 6 months"),
    ("epochs: 1", "epochs: .inf", "job.epochs = inf"),
    ("dataset_size: 1000", "dataset_size: -1", "job.dataset_size = -1"),
    ("platform: lambda}", "platform: lambda, pricing: cheap}", "pricing: 'cheap'"),
    ("months: 6\n", "months: 6\nmonths: 7\n", "appears twice"),
])
def test_budget_yaml_numbers(tmp_path, old, new, words):
    assert old in BUDGET_OK
    path = tmp_path / "budget.yaml"
    path.write_text(BUDGET_OK.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        api.budget(path)
    assert words in err.value.message


def test_budget_storage_cannot_be_negative(tmp_path):
    path = tmp_path / "budget.yaml"
    path.write_text(BUDGET_OK + "  - {name: disk, kind: storage, gb: -20, platform: modal}\n")
    with pytest.raises(ConfigError, match=r"phases\[1\].gb = -20"):
        api.budget(path)


@pytest.mark.parametrize(("row", "column"), [
    ("aws,x1,A10,1,us,nan,,3600,60,false,cloud,2026-01-01,me", "on_demand_usd_per_gpu_hour"),
    ("aws,x1,A10,1,us,inf,,3600,60,false,cloud,2026-01-01,me", "on_demand_usd_per_gpu_hour"),
    ("aws,x1,A10,1,us,1.0,-inf,3600,60,false,cloud,2026-01-01,me", "spot_usd_per_gpu_hour"),
    ("aws,x1,A10,inf,us,1.0,,3600,60,false,cloud,2026-01-01,me", "gpus_per_instance"),
    ("aws,x1,A10,1,us,5000,,3600,60,false,cloud,2026-01-01,me", "on_demand_usd_per_gpu_hour"),
])
def test_user_catalog_rejects_non_finite_and_absurd_cells(tmp_path, row, column):
    header = ("platform,instance,gpu,gpus_per_instance,region,on_demand_usd_per_gpu_hour,spot_usd_per_gpu_hour,"
              "billing_increment_s,billing_minimum_s,whole_instance,kind,data_date,source")
    (tmp_path / "offers.csv").write_text(header + "\n" + row + "\n")
    with pytest.raises(CatalogError) as err:
        api.estimate(gpu="a10", platform="aws", catalog_dirs=[tmp_path])
    assert "offers.csv:2" in err.value.message and column in err.value.message
    assert "float" not in err.value.message + err.value.fix  # words, not Python types


def test_a_duplicated_key_says_to_keep_one(tmp_path):
    path = tmp_path / "budget.yaml"
    path.write_text(BUDGET_OK.replace("months: 6\n", "months: 6\nmonths: 7\n", 1))
    with pytest.raises(ConfigError) as err:
        api.budget(path)
    assert "appears twice" in err.value.message and "keep one of the two" in err.value.fix


def test_user_gpu_spec_nan_is_rejected(tmp_path):
    (tmp_path / "gpus.csv").write_text("name,memory_gb\nA10,nan\n")
    with pytest.raises(CatalogError, match="memory_gb"):
        api.estimate(gpu="a10", catalog_dirs=[tmp_path])


def test_dataset_files_that_cannot_be_read(tmp_path):
    (tmp_path / "bin.jsonl").write_bytes(b"\x00\x01\xff\xfe" * 100)
    for path, words in ((tmp_path, "is a directory"), (tmp_path / "bin.jsonl", "not a text file"),
                        ("/proc/self/mem", "cannot read it"), (tmp_path / "nope.jsonl", "not found"), ("", "empty")):
        with pytest.raises(DataError, match=words):
            readable_file(path, "--dataset")
    readable_file(tmp_path, "data.path", allow_dir=True)


def test_multibyte_character_cut_by_the_sniff_is_still_text(tmp_path):
    path = tmp_path / "utf8.jsonl"
    path.write_bytes(b'{"text":"' + "é".encode() * 5000 + b'"}\n')  # 9 + 2k bytes: 8192 cuts an é
    readable_file(path, "--dataset")


def test_break_even_is_never_when_the_margin_is_too_thin_to_count():
    from frugaltune.plan.buy_vs_rent import break_even_month

    assert break_even_month(2000.0, 1e-320, 0.0) is None  # 2000 / 1e-320 months is not a number of months
    assert break_even_month(2000.0, 100.0, 0.0) == 20
