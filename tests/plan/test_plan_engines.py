"""The planner proposes only what the runner runs: every combination of settings `plan` tries (plan/settings.py) and
keeps becomes a `distributed:` section the run config accepts (train/config.py asks the same support table), with
the ZeRO stage that was priced; and every one it drops is one the runner refuses."""

from __future__ import annotations

from itertools import product
from types import SimpleNamespace

import pytest

from frugaltune.errors import ConfigError
from frugaltune.estimate.records import Hardware, Job
from frugaltune.plan.runconfig import distributed_section
from frugaltune.plan.settings import _options, base_job, enumerate_trials
from frugaltune.train.config import RunConfig
from frugaltune.train.engines.support import problem


def _fits(trial, hw, catalog):  # every trial fits: this test is about engines, not memory
    return SimpleNamespace(memory=SimpleNamespace(peak_gb_per_gpu=1.0, peak_gb_range=None))


def _runner_accepts(job: Job, section: dict) -> bool:
    try:
        RunConfig.from_dict({"method": {"kind": job.method}, "training": {"optimizer": job.optimizer},
                             "distributed": section})
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize(("method", "num_gpus"), list(product(["lora", "qlora", "full"], [1, 2, 8])))
def test_every_trial_the_planner_keeps_is_a_section_the_runner_accepts(shipped, method, num_gpus):
    gpu = shipped.gpus["H100-SXM"]
    job = base_job(Job(model=shipped.models["llama-2-7b"], method=method), gpu)
    trials = enumerate_trials(job, Hardware(gpu=gpu, num_gpus=num_gpus), shipped, target_global_batch=32,
                              safety_margin=0.1, estimator=_fits)
    assert trials
    for trial in trials:
        section = distributed_section(trial.job)
        assert _runner_accepts(trial.job, section), (trial.job, section)
        assert section.get("zero_stage", 0) == trial.job.zero_stage  # priced as it runs
        if method == "qlora" and trial.job.zero_stage == 3:
            assert section["engine"] == "fsdp"  # FSDP-QLoRA: deepspeed ZeRO-3 would refuse it
    kept = {(t.job.optimizer, t.job.zero_stage, t.job.cpu_offload) for t in trials}
    if method == "qlora" and num_gpus > 1:
        assert (("adamw", 3, True) in kept) and (("adamw", 3, False) in kept)  # the 4-bit base sharded


@pytest.mark.parametrize("method", ["lora", "qlora", "full"])
def test_what_the_planner_drops_no_engine_runs(shipped, method):
    gpu = shipped.gpus["H100-SXM"]
    job = base_job(Job(model=shipped.models["llama-2-7b"], method=method), gpu)
    opts = _options(job, 4, 32)
    kept = {(t.job.optimizer, t.job.zero_stage, t.job.cpu_offload) for t in
            enumerate_trials(job, Hardware(gpu=gpu, num_gpus=4), shipped, target_global_batch=32, safety_margin=0.1,
                             estimator=_fits)}
    for opt, zero, offload in product(opts["optimizer"], opts["zero_stage"], opts["cpu_offload"]):
        offload_to = ("params" if zero == 3 else "optimizer") if offload else "none"
        engines = [("ddp", 0)] if zero == 0 else [("fsdp", zero), ("deepspeed", zero)]
        runs = any(problem(e, z, offload_to, opt, method) is None for e, z in engines)
        if zero == 0 and offload:  # priced at stage 0, run as ZeRO-Offload at stage 2 (support.plan_section)
            runs = problem("deepspeed", 2, "optimizer", opt, method) is None
            zero = 2
        assert ((opt, zero, offload) in kept) == runs, (opt, zero, offload)
