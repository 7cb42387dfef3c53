"""afford: what a budget buys, per model x method: the most tokens within the budget, and where."""

from __future__ import annotations

import json

import pytest

from frugaltune.cli.app import run
from frugaltune.estimate.cost import HOURS_PER_MONTH
from frugaltune.plan.api import afford
from frugaltune.plan.search import total_usd, wall_hours

MODELS = ["qwen2.5-0.5b", "llama-3.1-8b"]


@pytest.fixture(scope="module")
def fifty():
    return afford(50, model=MODELS)


def test_each_answer_is_within_budget_and_near_its_edge(fifty):
    from frugaltune.plan.afford import TOKENS_PER_SAMPLE
    from frugaltune.plan.search import _default_estimator

    assert {(r.model, r.method) for r in fifty.rows} == {(m, k) for m in MODELS for k in ("qlora", "lora", "full")}
    for r in fifty.rows:
        assert r.tokens > 0 and total_usd(r.estimate) <= 50.0 * 1.0001, r
        assert r.estimate.job.tokens_total == pytest.approx(r.tokens, rel=0.01)
        # a quarter more tokens on the same offer would not be affordable: the answer is near the most it buys
        from frugaltune.estimate.build import get_catalog
        from frugaltune.estimate.records import Hardware

        catalog = get_catalog()
        c = r.candidate
        hw = Hardware(gpu=catalog.gpu(c.offer.gpu), num_gpus=c.num_gpus, offer=c.offer, pricing=c.pricing)
        job = catalog.model(r.model)
        more = _default_estimator(_job_of(r).with_(dataset_size=int(1.25 * r.tokens / TOKENS_PER_SAMPLE)), hw,
                                  catalog)
        assert total_usd(more) > 50.0, (r.model, r.method, job.name)


def _job_of(row):
    from frugaltune.estimate.records import Job

    e = row.estimate.job
    from frugaltune.estimate.build import get_catalog

    return Job(model=get_catalog().model(row.model), method=e.method, precision=e.precision, seq_len=e.seq_len,
               micro_batch=e.micro_batch, grad_accum=e.grad_accum, grad_ckpt=e.grad_ckpt, optimizer=e.optimizer,
               num_gpus=e.num_gpus, zero_stage=e.zero_stage, tokens_per_sample=500, epochs=1)


def test_more_money_buys_more_tokens(fifty):
    five_hundred = afford(500, model=MODELS)
    for small, big in zip(fifty.rows, five_hundred.rows):
        assert big.tokens > small.tokens


def test_a_month_must_fit_in_a_month_and_a_tiny_budget_buys_nothing():
    # $5,000 a month on one RTX 4090: the month's hours bind, not the money; full 8B does not fit 24 GB
    month = afford(5000, per="month", model=["llama-3.1-8b"], gpu="rtx 4090", max_gpus=1)
    fits = [r for r in month.rows if r.candidate is not None]
    assert {r.method for r in fits} == {"qlora", "lora"}
    assert all(wall_hours(r.estimate) <= HOURS_PER_MONTH and total_usd(r.estimate) < 5000 for r in fits)
    assert all(r.candidate.offer.gpu == "RTX-4090" and r.candidate.num_gpus == 1 for r in fits)
    assert next(r for r in month.rows if r.method == "full").reason == "does not fit any GPU allowed"
    # an hour's minimum billing (CoreWeave's hourly rates) costs more than a cent: nothing is affordable there
    broke = afford(0.01, model=["qwen2.5-0.5b"], platform="coreweave")
    assert all(r.tokens == 0 and "costs more than the budget" in r.reason for r in broke.rows)


def test_cli_json_and_table(capsys, monkeypatch):
    assert run(["afford", "--budget-usd", "50", "--model", "qwen2.5-0.5b", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["budget_usd"] == 50 and len(out["rows"]) == 3 and out["rows"][0]["offer"]["region"]
    monkeypatch.setenv("COLUMNS", "80")
    assert run(["afford", "--budget-usd", "50", "--model", "qwen2.5-0.5b"]) == 0
    table = capsys.readouterr().out
    assert "what $50.00 buys" in table and all(len(line) <= 80 for line in table.splitlines())
    assert run(["afford", "--budget-usd", "50", "--per", "week"]) == 2
