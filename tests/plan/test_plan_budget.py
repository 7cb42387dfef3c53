"""budget: phases YAML -> per-month and per-phase dollars, cheaper alternatives; buy-vs-rent by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from plan_catalog import offer

from frugaltune.api import JOB_DEFAULTS
from frugaltune.errors import ConfigError
from frugaltune.estimate import estimate
from frugaltune.estimate.records import Hardware, Job
from frugaltune.plan.budget import Phase, load_budget, parse_budget
from frugaltune.plan.budget_price import price_budget
from frugaltune.plan.buy_vs_rent import (
    OwnedGpu,
    break_even_month,
    buy_vs_rent,
    depreciation_usd_per_month,
    energy_usd,
)
from frugaltune.plan.search import total_usd, wall_hours

JOB_KEYS = tuple(JOB_DEFAULTS) + ("model",)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "budget.yaml"


def test_cadence():
    # 4 runs a month in months 2-4; one run every 2 months from month 1 to the end
    assert [Phase("a", start_month=2, months=3, runs_per_month=4).runs_in_month(m) for m in range(1, 7)] == \
        [0, 4, 4, 4, 0, 0]
    assert [Phase("b", every_months=2).runs_in_month(m) for m in range(1, 7)] == [1, 0, 1, 0, 1, 0]


def test_bad_budget_files_list_every_problem():
    # a typo'd phase key (with a suggestion), an unknown kind, a train phase without a GPU
    raw = {"months": 2, "phases": [{"name": "x", "gpu": "a10", "runs_per_mnth": 2}, {"kind": "trian", "gpu": "a10"},
                                   {"name": "nogpu"}]}
    with pytest.raises(ConfigError) as err:
        parse_budget(raw, JOB_KEYS)
    msg = err.value.message
    assert "runs_per_mnth" in msg and "runs_per_month" in msg and "'trian'" in msg and "needs a gpu" in msg
    with pytest.raises(ConfigError, match="not found"):
        load_budget("/nonexistent/budget.yaml", JOB_KEYS)


def test_prices_train_eval_and_storage_by_hand(cat, shipped):
    # train: 2 runs/month on a per-minute A10; eval: 0.5 GPU-h per run billed hourly ($2/h -> $2 a run);
    # storage: 50 GB at $0.10/GB-month for 3 months
    catalog = cat([offer("lambda", "a10", "A10", 0.75, 0.40, increment_s=60), offer("hourly", "l4", "L4", 2.0,
                                                                                    increment_s=3600)])
    spec = parse_budget({"months": 3, "job": {"model": "llama-2-7b", "dataset_size": 1000, "epochs": 1},
                         "phases": [{"name": "train", "runs_per_month": 2, "gpu": "a10", "platform": "lambda"},
                                    {"name": "eval", "kind": "eval", "gpu_hours_per_run": 0.5, "gpu": "l4",
                                     "platform": "hourly", "runs_per_month": 1},
                                    {"name": "disk", "kind": "storage", "gb": 50, "usd_per_gb_month": 0.10}]},
                        JOB_KEYS)
    res = price_budget(spec, catalog)
    train, ev, disk = res.phases
    job = Job(model=shipped.model("llama-2-7b"), dataset_size=1000, epochs=1)
    one = estimate(job, Hardware(gpu=catalog.gpu("A10"), offer=catalog.offers[0]), catalog=catalog)
    assert train.usd_per_month == pytest.approx([2 * total_usd(one)] * 3)
    assert ev.usd_per_month == pytest.approx([2.0, 2.0, 2.0])
    assert disk.usd_per_month == pytest.approx([5.0, 5.0, 5.0])
    assert res.total_usd == pytest.approx(sum(res.monthly_usd)) == pytest.approx(6 * total_usd(one) + 6 + 15)
    alts = {a.label: a for a in train.alternatives}
    assert set(alts) == {"cheapest platform for this GPU", "cheapest anywhere", "spot", "qlora"}
    assert "(spot)" in alts["spot"].option
    assert alts["spot"].saving_usd == pytest.approx((total_usd(one) - alts["spot"].usd_per_run) * 6)


def test_shipped_example_loads_and_prices(shipped):
    # examples/budget.yaml (the seed's six-month project) is valid and priced month by month
    spec = load_budget(EXAMPLE, JOB_KEYS)
    assert spec.months == 6 and [p.name for p in spec.phases][:2] == ["development", "production"]
    res = price_budget(spec, shipped)
    dev, prod = res.phases[:2]
    assert dev.runs == 12 and prod.runs == 3
    assert all(x > 0 for x in res.monthly_usd)
    assert res.monthly_usd[0] == pytest.approx(4 * dev.usd_per_run + res.phases[2].usd_per_month[0])


def test_buy_vs_rent_formulas_by_hand():
    # $1,800 GPU, $100/month rent, $10/month electricity: covered in month ceil(1800 / 90) = 20
    assert break_even_month(1800, 100, 10) == 20
    assert break_even_month(1800, 10, 10) is None  # renting costs no more than the power bill: never
    assert energy_usd(100, 450, 0.2) == pytest.approx(9.0)  # 100 h x 0.45 kW x $0.2
    assert depreciation_usd_per_month(1800, 3, 0.25) == pytest.approx(37.5)  # 1350 over 36 months


def test_buy_vs_rent_against_the_best_offer(cat, shipped):
    # owned RTX 4090 ($1,600, 450 W, $0.30/kWh) vs one rentable A10, 4 runs a month
    # nobody rents an RTX 4090 in this catalog: the comparison says it falls back to the cheapest rented GPU
    catalog = cat([offer("lambda", "a10", "A10", 0.75, increment_s=60)])
    job = Job(model=shipped.model("llama-2-7b"), dataset_size=5000, epochs=1)
    owned = OwnedGpu("RTX-4090", 1600, 450, 0.30)
    res = buy_vs_rent(job, owned, 4, catalog)
    hours = wall_hours(res.owned_estimate) * 4
    energy = hours * 0.45 * 0.30
    rent = total_usd(res.rent.ranked[0][1]) * 4
    assert res.energy_usd_per_month == pytest.approx(energy)
    assert res.depreciation_usd_per_month == pytest.approx(1600 / 36)
    assert res.rent_usd_per_month == pytest.approx(rent)
    assert res.payback_month == math.ceil(1600 / (rent - energy))
    # the cash break-even is past the 36-month useful life (the depreciation period): never
    assert res.payback_month > 36 and res.break_even_month is None
    assert res.annual_saving_usd == pytest.approx(12 * (rent - energy - 1600 / 36))
    assert res.notes == ["nobody in the catalog rents RTX-4090; compared with the cheapest rented GPU that runs the "
                         "job instead"]


def test_buy_vs_rent_compares_the_same_gpu_rented(cat, shipped):
    # an 8x RTX 4090 node and a 1x one on offer: the owned 1x RTX 4090 is compared with renting 1x RTX 4090, not
    # with the cheapest machine of all (the A10)
    catalog = cat([offer("m", "8x", "RTX-4090", 0.30, gpus=8, whole=True), offer("p", "1x", "RTX-4090", 0.45),
                   offer("q", "a10", "A10", 0.20)])
    job = Job(model=shipped.model("llama-2-7b"), dataset_size=5000, epochs=1)
    res = buy_vs_rent(job, OwnedGpu("RTX-4090", 1600, 450, 0.30), 4, catalog)
    cand = res.rent.ranked[0][0]
    assert (cand.offer.gpu, cand.num_gpus) == ("RTX-4090", 1) and res.notes == []
    # a heavy workload pays back within the useful life: a month number, and the same as the cash month
    busy = buy_vs_rent(job, OwnedGpu("RTX-4090", 1600, 450, 0.30), None, catalog, hours_per_month=600)
    assert busy.hours_per_month == 600 and busy.rent_usd_per_month == pytest.approx(600 * 0.45)
    assert busy.break_even_month == busy.payback_month <= 36


def test_buy_vs_rent_says_which_figures_came_from_the_catalog(shipped):
    from frugaltune.plan.api import buy_vs_rent as api_buy_vs_rent

    res = api_buy_vs_rent(gpu="rtx 5090", usd_per_kwh=0.15, purchase_usd=1999, hours_per_month=40)
    catalog_notes = [n for n in res.notes if n.startswith("catalog figures")]
    assert catalog_notes and "--power-watts" in catalog_notes[0] and "purchase" not in catalog_notes[0]
    res = api_buy_vs_rent(gpu="rtx 5090", usd_per_kwh=0.15, purchase_usd=1999, power_watts=575, hours_per_month=40)
    assert not any(n.startswith("catalog figures") for n in res.notes)
    with pytest.raises(ConfigError, match="both describe the workload"):
        api_buy_vs_rent(gpu="rtx 5090", usd_per_kwh=0.15, runs_per_month=2, hours_per_month=40)


def test_buy_vs_rent_owned_gpu_cannot_fit(cat, shipped):
    # 7B full fine-tuning does not fit a 24 GB card: the result says so (and what would)
    catalog = cat([offer("p1", "8x", "A100-80GB", 1.5, gpus=8, whole=True)])
    job = Job(model=shipped.model("llama-2-7b"), method="full", dataset_size=1000, epochs=1)
    res = buy_vs_rent(job, OwnedGpu("RTX-4090", 1600, 450, 0.30), 1, catalog)
    assert "cannot fit" in res.notes[0] and "--method lora" in res.notes[0]
    with pytest.raises(ConfigError, match="usd_per_kwh"):
        OwnedGpu("RTX-4090", 1600, 450, 0)
