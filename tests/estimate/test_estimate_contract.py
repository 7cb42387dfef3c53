"""The JSON contract of `frugaltune estimate --json` (shared/DESIGN.md): every key present with its type (extra keys
allowed), internal consistency of the numbers, and the CLI's output equal to the Python API's."""

from __future__ import annotations

import json

import pytest

from frugaltune import api
from frugaltune.cli.options import ESTIMATE_OPTIONS

NUM, OPT_NUM, OPT_STR = "number", "number or null", "str or null"
# Keys and types exactly as DESIGN.md's contract lists them. Keys may be added to the output, never removed.
CONTRACT = {
    "model": {"name": str, "params": int, "trainable_params": int},
    "job": {"method": str, "precision": str, "seq_len": int, "micro_batch": int, "grad_accum": int, "grad_ckpt": bool,
            "optimizer": str, "tokens_total": int, "epochs": NUM, "num_gpus": int, "zero_stage": int},
    "hardware": {"gpu": str, "gpu_memory_gb": NUM, "platform": OPT_STR, "pricing": str},
    "memory": {"weights_gb": NUM, "gradients_gb": NUM, "optimizer_gb": NUM, "activations_gb": NUM, "logits_gb": NUM,
               "overhead_gb": NUM, "peak_gb_per_gpu": NUM, "fits": bool},
    "throughput": {"flops_per_token": NUM, "mfu": NUM, "tokens_per_sec_per_gpu": NUM, "tokens_per_sec": NUM,
                   "source": str},
    "time": {"hours": NUM, "billed_hours": OPT_NUM},
    "cost_breakdown": {"compute_cost": OPT_NUM, "storage_cost": OPT_NUM, "total_cost": OPT_NUM,
                       "usd_per_epoch": OPT_NUM},
    "warnings": list,
}
FIXED = {"model": "llama-2-7b", "gpu": "a10", "platform": "lambda"}
CLI_ARGS = ["estimate", "--model", "llama-2-7b", "--gpu", "a10", "--platform", "lambda", "--json"]


def _type_ok(value, expected) -> bool:
    is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected == NUM:
        return is_num
    if expected == OPT_NUM:
        return value is None or is_num
    if expected == OPT_STR:
        return value is None or isinstance(value, str)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def check_contract(payload: dict) -> list[str]:
    """Every contract problem of a parsed `--json` payload (empty when it conforms)."""
    problems = []
    for section, spec in CONTRACT.items():
        if section not in payload:
            problems.append(f"missing {section}")
            continue
        if not isinstance(spec, dict):
            if not _type_ok(payload[section], spec):
                problems.append(f"{section}: {type(payload[section]).__name__}")
            continue
        for key, expected in spec.items():
            if key not in payload[section]:
                problems.append(f"missing {section}.{key}")
            elif not _type_ok(payload[section][key], expected):
                problems.append(f"{section}.{key}={payload[section][key]!r} is not {expected}")
    return problems


@pytest.fixture(scope="module")
def payload():
    from datetime import date

    result = api.estimate(**FIXED, today=date(2026, 10, 1))
    return json.loads(json.dumps(result.to_json()))  # exactly what --json prints


def test_contract_keys_and_types(payload):
    assert check_contract(payload) == []
    assert payload["throughput"]["source"] in ("default", "calibrated")
    assert all(isinstance(w, str) for w in payload["warnings"])
    assert isinstance(payload["schema_version"], int)


def test_contract_checker_catches_a_renamed_key(payload):
    broken = json.loads(json.dumps(payload))
    broken["memory"]["peak_gb"] = broken["memory"].pop("peak_gb_per_gpu")
    broken["job"]["grad_ckpt"] = 1
    assert sorted(check_contract(broken)) == ["job.grad_ckpt=1 is not <class 'bool'>", "missing memory.peak_gb_per_gpu"]


def test_fixed_job_values(payload):
    # defaults: LoRA r=16 on q,k,v,o, bf16, seq 512, 10,000 samples x 500 tokens x 3 epochs, packed
    assert payload["model"] == {"name": "llama-2-7b", "params": 6_738_415_616, "trainable_params": 16_777_216}
    job = payload["job"]
    assert (job["method"], job["precision"], job["seq_len"], job["micro_batch"], job["grad_accum"]) == \
        ("lora", "bf16", 512, 1, 1)
    assert job["tokens_total"] == 10_000 * 500 * 3
    assert (job["num_gpus"], job["zero_stage"], job["grad_ckpt"], job["optimizer"]) == (1, 0, True, "adamw")
    hw = payload["hardware"]
    assert (hw["gpu"], hw["gpu_memory_gb"], hw["platform"], hw["pricing"]) == ("A10", 24.0, "lambda", "on-demand")
    assert payload["throughput"]["flops_per_token"] == 40_017_854_464  # see test_estimate_flops.py


def test_numbers_are_consistent(payload):
    m, t, tm, c = payload["memory"], payload["throughput"], payload["time"], payload["cost_breakdown"]
    parts = ["weights_gb", "gradients_gb", "optimizer_gb", "activations_gb", "logits_gb", "overhead_gb"]
    assert sum(m[k] for k in parts) == pytest.approx(m["peak_gb_per_gpu"])
    assert m["fits"] == (m["peak_gb_per_gpu"] <= payload["hardware"]["gpu_memory_gb"])
    assert m["weights_gb"] == pytest.approx((6_738_415_616 * 2 + 16_777_216 * 4) / 1e9)  # bf16 base + fp32 adapters
    assert m["gradients_gb"] == pytest.approx(16_777_216 * 4 / 1e9)
    assert m["optimizer_gb"] == pytest.approx(16_777_216 * 8 / 1e9)
    assert t["tokens_per_sec"] == pytest.approx(t["tokens_per_sec_per_gpu"] * payload["job"]["num_gpus"])
    assert t["mfu"] == pytest.approx(t["tokens_per_sec_per_gpu"] * t["flops_per_token"] / 125e12, abs=1e-4)
    assert tm["hours"] == pytest.approx(payload["job"]["tokens_total"] / t["tokens_per_sec"] / 3600)
    assert tm["billed_hours"] * 60 == pytest.approx(round(tm["billed_hours"] * 60))  # Lambda: whole minutes
    assert c["compute_cost"] == pytest.approx(round(tm["billed_hours"] * 1.29, 4))
    assert c["total_cost"] == pytest.approx(c["compute_cost"] + c["storage_cost"], abs=1e-4)


def test_cli_json_in_subprocess_matches_api(cli):
    proc = cli(*CLI_ARGS)
    assert proc.returncode == 0, proc.stderr
    from_cli = json.loads(proc.stdout)
    assert check_contract(from_cli) == []
    assert from_cli == json.loads(json.dumps(api.estimate(**FIXED).to_json()))


def test_in_process_cli_matches_the_api(capsys):
    """The CLI in-process (as other tests drive it) prints the API's JSON."""
    from frugaltune.cli.app import run

    assert run(CLI_ARGS) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(api.estimate(**FIXED).to_json()))


def test_help_lists_every_flag(cli):
    proc = cli("estimate", "--help")
    assert proc.returncode == 0, proc.stderr
    for opt in ESTIMATE_OPTIONS:
        assert opt.flag in proc.stdout, opt.flag
        for choice in opt.choices or ():
            assert choice in proc.stdout, (opt.flag, choice)


def test_table_output_runs(cli):
    proc = cli("estimate", "--model", "llama-2-7b", "--gpu", "a10", "--platform", "lambda")
    assert proc.returncode == 0, proc.stderr
    assert "peak memory" in proc.stdout and "cost" in proc.stdout
