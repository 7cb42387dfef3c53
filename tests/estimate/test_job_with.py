"""`Job.with_` checks only the changed fields (planners derive thousands of jobs), yet accepts and rejects exactly
what building the job afresh does, with the same error."""

from __future__ import annotations

import pytest

from frugaltune.errors import ConfigError
from frugaltune.estimate.build import get_catalog
from frugaltune.estimate.records import Job
from frugaltune.record import replace

CHANGES = [
    {"num_gpus": 4, "zero_stage": 3}, {"micro_batch": 0}, {"seq_len": 2.5}, {"epochs": 0}, {"epochs": float("nan")},
    {"precision": "fp8"}, {"grad_ckpt": "yes"}, {"lora_dropout": None}, {"lora_dropout": 1.5},
    {"method": "full", "lora_r": 0}, {"method": "lora"}, {"lora_targets": ()}, {"padded_tokens_per_sample": None},
    {"dataset_size": 10**20}, {"framework": "axolotl"}, {"method": "qlora", "lora_r": -1},
]


@pytest.mark.parametrize("changes", CHANGES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("method", ["lora", "full"])
def test_with_accepts_and_rejects_as_a_fresh_job(changes, method):
    job = Job(model=get_catalog().model("llama-2-7b"), method=method, lora_r=0 if method == "full" else 16)
    try:
        expected = replace(job, **changes)
    except ConfigError as err:
        with pytest.raises(ConfigError) as raised:
            job.with_(**changes)
        assert (raised.value.message, raised.value.fix) == (err.message, err.fix)
    else:
        got = job.with_(**changes)
        assert got == expected and hash(got) == hash(expected) and got.__dict__ == expected.__dict__


def test_with_an_unknown_field_is_a_type_error():
    job = Job(model=get_catalog().model("llama-2-7b"))
    with pytest.raises(TypeError, match="gpus"):
        job.with_(gpus=2)
