"""Plan and train are one contract: every config `frugaltune plan` writes dry-runs (`frugaltune train --dry-run`,
in-process, no weights) to the same peak memory, optimizer steps and epochs the plan printed, and names only
settings the runner can execute.

The grid spans models from 0.1B to 70B, the three methods, budgets and spot; plans the planner cannot make
(nothing fits a budget) raise InfeasiblePlanError and write nothing, which is a valid answer, but at least 30
configs must be written and checked.
"""

from __future__ import annotations

import itertools
import json
import random

import pytest

from frugaltune.errors import InfeasiblePlanError
from frugaltune.plan import api
from frugaltune.plan.engines import engine_problem
from frugaltune.train.config import load_config
from frugaltune.train.dryrun import dry_run

MODELS = ("smollm2-135m", "qwen2.5-1.5b", "llama-2-7b", "qwen2.5-14b", "llama-2-70b")
METHODS = ("lora", "qlora", "full")
SITUATIONS = ((None, None), (50.0, True), (5.0, False))  # (budget USD, spot: None both / True only / False none)
TRADES = ("electrician", "plumber", "welder", "carpenter", "roofer")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """600 classification rows of varied length (a stand-in for a user's file; only its size matters here)."""
    rng = random.Random(0)
    words = "install repair inspect weld pipe wire roof frame panel valve joist circuit fixture".split()
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    rows = [{"text": " ".join(rng.choice(words) for _ in range(rng.randint(8, 120))), "label": rng.choice(TRADES)}
            for _ in range(600)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _plan(model, method, budget, spot, dataset, out):
    try:
        rec = api.plan(model, method=method, budget_usd=budget, spot=spot, dataset=str(dataset),
                                    data_format="classification", epochs=2, output=out).recommendation
    except InfeasiblePlanError:
        return None
    return rec


def _mismatches(rec, dry: dict) -> list[str]:
    est, plan_est = dry["estimate"], rec.estimate
    problems = []
    if est is None:
        return [f"no estimate in the dry run: {dry['estimate_note']}"]
    if abs(est["memory"]["peak_gb_per_gpu"] - plan_est.memory.peak_gb_per_gpu) > 1e-6:
        problems.append(f"peak {est['memory']['peak_gb_per_gpu']:.3f} GB vs plan {plan_est.memory.peak_gb_per_gpu:.3f}")
    if not est["memory"]["fits"]:
        problems.append("dry run says it does not fit")
    if dry["steps"] != plan_est.job.steps_total or est["job"]["steps_total"] != plan_est.job.steps_total:
        problems.append(f"steps {dry['steps']}/{est['job']['steps_total']} vs plan {plan_est.job.steps_total}")
    if abs(dry["epochs"] - plan_est.job.epochs) > 1e-9 or abs(est["job"]["epochs"] - plan_est.job.epochs) > 1e-9:
        problems.append(f"epochs {dry['epochs']} vs plan {plan_est.job.epochs}")
    if est["hardware"]["instance"] != plan_est.hardware.instance:
        problems.append(f"instance {est['hardware']['instance']} vs plan {plan_est.hardware.instance}")
    if abs((est["cost_breakdown"]["total_cost"] or 0) - (plan_est.cost_breakdown.total_cost or 0)) > 1e-6:
        problems.append(f"cost {est['cost_breakdown']['total_cost']} vs plan {plan_est.cost_breakdown.total_cost}")
    return problems


def test_every_planned_config_dry_runs_to_the_plan(dataset, tmp_path):
    written, failures = 0, {}
    for i, (model, method, (budget, spot)) in enumerate(itertools.product(MODELS, METHODS, SITUATIONS)):
        out = tmp_path / f"plan-{i}.yaml"
        rec = _plan(model, method, budget, spot, dataset, out)
        if rec is None:
            assert not out.exists()
            continue
        written += 1
        assert rec.job.method == method  # a named method is kept
        assert engine_problem(rec.job) is None  # an engine of the runner executes it
        problems = _mismatches(rec, dry_run(load_config(out)))
        if problems:
            failures[(model, method, budget, spot)] = problems
    assert written >= 30, f"only {written} configs written"
    assert not failures, f"{len(failures)} of {written} planned configs disagree with their dry run: {failures}"


def test_the_demo_plan_step_picks_one_gpu_and_dry_runs_to_its_numbers(tmp_path, capsys, monkeypatch):
    # the plan command of examples/demo.sh, as written there (its -o pointed into tmp_path), with --json
    import shlex
    from pathlib import Path

    from frugaltune.cli.app import run

    repo = Path(__file__).resolve().parents[2]
    script = (repo / "examples" / "demo.sh").read_text().replace("\\\n", " ")
    line = next(line.strip() for line in script.splitlines() if line.strip().startswith('"$FT" plan'))
    argv = shlex.split(line)[1:]
    argv[argv.index("-o") + 1] = str(tmp_path / "plan.yaml")
    monkeypatch.chdir(repo)
    assert run(argv + ["--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["hardware"]["num_gpus"] == 1  # a tiny job on one GPU, not eight
    dry = dry_run(load_config(tmp_path / "plan.yaml"))
    est = dry["estimate"]
    assert est["memory"]["peak_gb_per_gpu"] == pytest.approx(plan["estimate"]["memory"]["peak_gb_per_gpu"])
    assert dry["steps"] == est["job"]["steps_total"] == plan["estimate"]["job"]["steps_total"]
    assert dry["epochs"] == est["job"]["epochs"] == plan["estimate"]["job"]["epochs"] == 3
    assert est["memory"]["fits"]


@pytest.mark.parametrize("model, gpu, num_gpus", [("qwen2.5-1.5b", "rtx 4090", 1), ("llama-2-7b", "a10", 1),
                                                   ("llama-2-13b", "a100-40gb", 2)])
def test_plans_for_your_own_gpus_dry_run_to_the_plan(model, gpu, num_gpus, dataset, tmp_path):
    # the GPUs you have: settings fitted to them, not priced; the dry run (priced at the cheapest offer of that
    # GPU, as a CPU-side estimate is) keeps the plan's memory, steps and epochs
    out = tmp_path / "own.yaml"
    rec = api.plan(model, gpu=gpu, num_gpus=num_gpus, dataset=str(dataset), data_format="classification",
                   output=out).recommendation
    assert rec.candidate is None and rec.job.num_gpus == num_gpus
    dry = dry_run(load_config(out))
    est = dry["estimate"]
    assert est["memory"]["peak_gb_per_gpu"] == pytest.approx(rec.estimate.memory.peak_gb_per_gpu)
    assert dry["steps"] == est["job"]["steps_total"] == rec.estimate.job.steps_total
    assert dry["epochs"] == rec.estimate.job.epochs and est["memory"]["fits"]


@pytest.mark.parametrize("model, method", [("qwen2.5-1.5b", "lora"), ("llama-2-7b", "qlora")])
def test_dora_plans_write_use_dora_and_dry_run_to_the_plan(model, method, dataset, tmp_path):
    # DoRA (--dora) is a LoRA option: the planned config asks the runner for it and its dry run estimates the same job
    out = tmp_path / "dora.yaml"
    rec = api.plan(
        model, method=method, dataset=str(dataset), data_format="classification", epochs=2, output=out,
        use_dora=True).recommendation
    cfg = load_config(out)
    assert rec.job.use_dora and cfg.method.lora.use_dora and cfg.method.kind == method
    dry = dry_run(cfg)
    assert dry["estimate"]["job"]["use_dora"] is True
    assert not _mismatches(rec, dry)


def test_packed_flash_plans_dry_run_to_the_plans_attention_and_speed(dataset, tmp_path):
    # packing under flash attention: the runner attends each example alone (varlen), so plan and dry run both charge
    # attention at the examples' E[L^2] / E[L] (counted from the same file), not the packed row, and agree on speed
    out = tmp_path / "packed-flash.yaml"
    rec = api.plan("qwen2.5-1.5b", method="lora", dataset=str(dataset), data_format="classification", epochs=2,
                   output=out, packing=True, attention="flash").recommendation
    cfg = load_config(out)
    assert cfg.data.packing and cfg.model.attention == "flash_attention_2"
    dry = dry_run(cfg)
    assert not _mismatches(rec, dry)
    attended = rec.job.attended_tokens_per_sample
    assert attended and rec.job.tokens_per_sample <= attended < rec.job.seq_len
    assert dry["estimate_job"]["attended_tokens_per_sample"] == pytest.approx(attended)
    est = dry["estimate"]
    assert est["throughput"]["flops_per_token"] == pytest.approx(rec.estimate.throughput.flops_per_token)
    assert est["throughput"]["tokens_per_sec"] == pytest.approx(rec.estimate.throughput.tokens_per_sec)
    from frugaltune.estimate.build import get_catalog
    from frugaltune.estimate.estimator import estimate
    from frugaltune.estimate.records import Hardware

    hw = Hardware(gpu=get_catalog().gpu(rec.estimate.hardware.gpu), num_gpus=rec.job.num_gpus)
    whole_row = estimate(rec.job.with_(attention="sdpa-masked"), hw)  # the same job, its rows' block mask computed
    assert whole_row.throughput.flops_per_token > rec.estimate.throughput.flops_per_token
