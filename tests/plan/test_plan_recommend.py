"""recommend / plan: the decision flow, settings that fit with a margin, and a run.yaml whose estimate fits."""

from __future__ import annotations

import math

import pytest
from plan_catalog import offer

from frugaltune.errors import InfeasiblePlanError
from frugaltune.estimate import estimate
from frugaltune.estimate.records import LORA_TARGETS, Hardware, Job
from frugaltune.plan.method import Situation, decide
from frugaltune.plan.recommend import recommend
from frugaltune.plan.settings import pick_settings


def _job(shipped, model="llama-2-7b", **kw) -> Job:
    return Job(model=shipped.model(model), dataset_size=kw.pop("dataset_size", 2000), epochs=1, **kw)


def test_settings_fit_with_margin_and_reach_the_global_batch(cat, shipped):
    # 7B LoRA on one A10 (24 GB): the winner stays under 90 % of memory, accumulates to 16 sequences, uses bf16
    # and adapters on every linear layer; nothing that fits is faster
    catalog = cat([offer("p1", "a10", "A10", 0.75)])
    hw = Hardware(gpu=catalog.gpu("A10"), offer=catalog.offers[0])
    st = pick_settings(_job(shipped), hw, catalog, target_global_batch=16, safety_margin=0.10)
    assert st.estimate.memory.peak_gb_per_gpu <= 24 * 0.9
    assert st.job.grad_accum == math.ceil(16 / st.job.micro_batch)
    assert st.estimate.job.precision == "bf16" and set(st.job.lora_targets) == set(LORA_TARGETS)
    fitting = [t for t in st.trials if t.reason is None]
    assert max(t.estimate.throughput.tokens_per_sec for t in fitting) == st.estimate.throughput.tokens_per_sec
    # a bigger margin can only lower the peak it allows
    tight = pick_settings(_job(shipped), hw, catalog, target_global_batch=16, safety_margin=0.3)
    assert tight.estimate.memory.peak_gb_per_gpu <= 24 * 0.7


def test_settings_on_t4_use_fp16(cat, shipped):
    # T4 has no bf16: mixed precision in fp16
    catalog = cat([offer("p1", "t4", "T4", 0.3)])
    st = pick_settings(_job(shipped, method="qlora"), Hardware(gpu=catalog.gpu("T4")), catalog)
    assert st.estimate.job.precision == "fp16"


def test_settings_keep_an_asked_for_bf16_true_where_the_gpu_has_bf16(cat, shipped):
    catalog = cat([offer("p1", "a100", "A100-80GB", 1.5), offer("p2", "t4", "T4", 0.3)])
    pure = pick_settings(_job(shipped, method="full", precision="bf16-true"),
                         Hardware(gpu=catalog.gpu("A100-80GB")), catalog)
    assert pure.estimate.job.precision == "bf16-true" and pure.estimate.memory.master_weights_gb == 0
    t4 = pick_settings(_job(shipped, method="qlora", precision="bf16-true"), Hardware(gpu=catalog.gpu("T4")), catalog)
    assert t4.estimate.job.precision == "fp16"  # no bf16 on a T4: mixed precision in fp16


def test_settings_multi_gpu_full_uses_zero(cat, shipped):
    # 7B full fine-tuning on 8x A100-40GB: plain DDP cannot hold 16 B/param, a ZeRO stage >= 1 is chosen
    catalog = cat([offer("p1", "8x", "A100-40GB", 1.5, gpus=8, whole=True)])
    st = pick_settings(_job(shipped, method="full"), Hardware(gpu=catalog.gpu("A100-40GB"), num_gpus=8), catalog)
    assert st.job.zero_stage >= 1 and st.estimate.memory.peak_gb_per_gpu <= 40 * 0.9


def test_settings_nothing_fits(cat, shipped):
    # 13B full fine-tuning on one A10 (24 GB): its 16-bit weights alone are 26 GB, so no setting fits; the error says
    # what to change
    catalog = cat([offer("p1", "a10", "A10", 0.75)])
    with pytest.raises(InfeasiblePlanError, match="no settings fit") as err:
        pick_settings(_job(shipped, "llama-2-13b", method="full"), Hardware(gpu=catalog.gpu("A10")), catalog)
    assert "qlora" in err.value.fix


def test_full_7b_on_one_a10_fits_by_offloading_the_optimizer(cat, shipped):
    # ZeRO-Offload (Ren et al. 2021: models to 13B on one 32 GB GPU): gradients, AdamW states and master weights go
    # to CPU memory, the 13.5 GB of 16-bit weights stay
    catalog = cat([offer("p1", "a10", "A10", 0.75)])
    pick = pick_settings(_job(shipped, method="full"), Hardware(gpu=catalog.gpu("A10")), catalog)
    assert pick.job.cpu_offload and pick.job.zero_stage >= 1
    assert pick.estimate.memory.cpu_offload_gb > 6.7 * 16 > pick.estimate.memory.peak_gb_per_gpu


def test_low_vram_picks_qlora(cat, shipped):
    # 13B LoRA needs ~26 GB of 16-bit weights; the user's T4 (16 GB) is low VRAM -> QLoRA
    catalog = cat([offer("p1", "t4", "T4", 0.3), offer("p2", "a100", "A100-80GB", 1.5)])
    choice = decide(_job(shipped, "llama-2-13b"), Situation(gpu="T4"), catalog)
    assert choice.method == "qlora" and any("low VRAM" in w for w in choice.why)


def test_tight_budget_picks_qlora_only_when_it_is_cheaper(cat, shipped):
    # 13B: LoRA needs the A100 ($2.50/h), QLoRA fits the cheap L4 -> with a budget under LoRA's cost, QLoRA
    catalog = cat([offer("p1", "l4", "L4", 0.20), offer("p2", "a100", "A100-80GB", 2.50)])
    job = _job(shipped, "llama-2-13b")
    choice = decide(job, Situation(budget_usd=0.01), catalog)
    assert choice.method == "qlora" and "undercuts" in choice.why[-1]
    # only the A100 on offer: QLoRA is just slower there, so a tight budget keeps LoRA and says why
    only_a100 = cat([offer("p2", "a100", "A100-80GB", 2.50)])
    choice = decide(job, Situation(budget_usd=0.01), only_a100)
    assert choice.method == "lora" and "no cheaper" in choice.why[-1]


def test_large_domain_shift_full_or_lora_by_budget(cat, shipped):
    # large shift with room in the budget -> full + ZeRO-3; a budget below full's cost but above LoRA's -> LoRA
    catalog = cat([offer("p1", "8x", "A100-80GB", 1.5, gpus=8, whole=True), offer("p2", "a10", "A10", 0.5)])
    job = _job(shipped)
    rich = decide(job, Situation(domain_shift="large", budget_usd=10_000), catalog)
    assert rich.method == "full" and rich.zero_stage == 3
    full_usd = rich.matrix[2]["cheapest_usd"]
    lora_usd = rich.matrix[0]["cheapest_usd"]
    assert lora_usd < full_usd
    poor = decide(job, Situation(domain_shift="large", budget_usd=(lora_usd + full_usd) / 2), catalog)
    assert poor.method == "lora" and "> budget" in poor.why[-1]


def test_alignment_adds_dpo_and_matrix_rows(cat, shipped):
    # preference alignment: DPO after SFT, and a DPO row in the trade-off matrix
    catalog = cat([offer("p1", "a10", "A10", 0.5)])
    choice = decide(_job(shipped), Situation(alignment=True), catalog)
    assert choice.method == "lora" and "DPO" in choice.then[0]
    assert [r["method"] for r in choice.matrix] == ["lora", "qlora", "full", "dpo"]
    assert all(r["data"] and r["exit_cost"] for r in choice.matrix)


def test_plan_writes_a_run_yaml_whose_estimate_fits(cat, shipped, tmp_path):
    # plan -> RunConfig YAML -> the runner's own config->estimate mapping -> fits the chosen GPU
    from frugaltune.plan.runconfig import header, to_run_config
    from frugaltune.report.compare import job_kwargs
    from frugaltune.train.config import load_config

    catalog = cat([offer("p1", "a10", "A10", 0.75), offer("p2", "l4", "L4", 0.6, 0.3)])
    rec = recommend(_job(shipped), Situation(), catalog)
    cfg = to_run_config(rec, model_source="meta-llama/Llama-2-7b-hf", data_path="data/train.jsonl",
                        output_dir=str(tmp_path / "run"))
    path = tmp_path / "run.yaml"
    path.write_text(cfg.to_yaml(header=header(rec, str(path))))
    assert path.read_text().startswith(f"# frugaltune train {path}")
    loaded = load_config(path)
    kw = job_kwargs(loaded, model_ref="llama-2-7b", n_examples=2000, tokens_per_sample=500,
                    padded_tokens_per_sample=500, steps=rec.estimate.job.steps_total)
    model = kw.pop("model")
    gpu, num_gpus = kw.pop("gpu"), kw.pop("num_gpus")
    for k in ("platform", "pricing", "instance", "region"):
        kw.pop(k, None)
    from frugaltune.api import build_job

    est = estimate(build_job(model, catalog, **kw), Hardware(gpu=catalog.gpu(gpu), num_gpus=num_gpus), catalog=catalog)
    assert est.memory.fits and est.memory.peak_gb_per_gpu <= catalog.gpu(gpu).memory_gb * 0.9
    assert loaded.training.micro_batch * loaded.training.grad_accum * num_gpus >= 16
    if rec.candidate.pricing == "spot":  # checkpoints at the Young-Daly interval
        assert loaded.checkpoints.every_minutes == pytest.approx(
            rec.estimate.cost_breakdown.spot["checkpoint_interval_min"], abs=0.1)


def test_recommend_budget_nothing_meets(cat, shipped):
    # a $0.001 budget: nothing meets it; the error names the cheapest plan and its price
    catalog = cat([offer("p1", "a10", "A10", 0.75)])
    with pytest.raises(InfeasiblePlanError, match="no plan meets the \\$0.00 budget") as err:
        recommend(_job(shipped), Situation(budget_usd=0.001), catalog)
    assert "raise --budget-usd to at least" in err.value.fix


def test_recommend_on_your_own_gpu_names_it_everywhere(cat, shipped):
    # --gpu "rtx 4090" is the machine the user has: no 8x marketplace offer, no price; the card and the matrix
    # both name the user's 1x RTX-4090
    catalog = cat([offer("m", "8x-4090", "RTX-4090", 0.30, gpus=8, whole=True, kind="marketplace"),
                   offer("p", "a100", "A100-80GB", 1.5)])
    rec = recommend(_job(shipped), Situation(gpu="RTX-4090"), catalog)
    assert rec.candidate is None and rec.estimate.cost_breakdown.total_cost is None
    assert rec.job.num_gpus == 1 and rec.estimate.hardware.gpu == "RTX-4090"
    chosen = next(r for r in rec.choice.matrix if r["method"] == rec.choice.method)
    assert chosen["cheapest_option"] == "1x RTX-4090 (yours)"
    assert chosen["peak_gb_per_gpu"] == rec.estimate.memory.peak_gb_per_gpu
    assert "not priced" in rec.notes[0] and "--rent" in rec.notes[0]


def test_rent_searches_offers_of_the_named_gpu(cat, shipped):
    # --rent widens the search to rented offers of that GPU; the matrix row names the card's machine
    catalog = cat([offer("m", "8x-4090", "RTX-4090", 0.30, gpus=8, whole=True, kind="marketplace"),
                   offer("p", "1x-4090", "RTX-4090", 0.40), offer("q", "a100", "A100-80GB", 1.5)])
    rec = recommend(_job(shipped), Situation(gpu="RTX-4090", rent=True), catalog)
    assert rec.candidate.offer.gpu == "RTX-4090"
    chosen = next(r for r in rec.choice.matrix if r["method"] == rec.choice.method)
    c = rec.candidate
    assert chosen["cheapest_option"] == (f"{c.num_gpus}x RTX-4090 {c.offer.platform} {c.offer.instance} {c.offer.region} "
                                         f"({c.pricing})")
    assert chosen["cheapest_usd"] == rec.estimate.cost_breakdown.total_cost


def test_a_named_method_is_kept(cat, shipped):
    catalog = cat([offer("p1", "a100", "A100-80GB", 1.5)])
    rec = recommend(_job(shipped), Situation(method="qlora"), catalog)
    assert rec.job.method == "qlora" and "as you asked" in rec.choice.why[-1]


def test_about_as_cheap_prefers_fewer_gpus(cat, shipped):
    # one A10 vs an 8x A10 node priced so that the node is 2 % cheaper for the job: within the estimate's error,
    # so the single GPU ranks first; at 20 % cheaper the node wins
    from frugaltune.plan.search import as_cheap, compare_job, total_usd

    job = _job(shipped)
    probe = compare_job(job, cat([offer("a", "1x", "A10", 1.0), offer("b", "8x", "A10", 1.0, gpus=8, whole=True)]))
    usd = {c.num_gpus: total_usd(e) for c, e in probe.ranked}
    for saving, first in ((0.02, 1), (0.20, 8)):
        price8 = (1 - saving) * usd[1] / usd[8]
        cmp = compare_job(job, cat([offer("a", "1x", "A10", 1.0), offer("b", "8x", "A10", price8, gpus=8, whole=True)]))
        assert cmp.ranked[0][0].num_gpus == first
        assert as_cheap(total_usd(cmp.ranked[1][1]), total_usd(cmp.ranked[0][1])) == (first == 1)


def test_gpu_memory_gb_is_your_gpu_by_its_memory():
    from frugaltune.errors import ConfigError
    from frugaltune.plan.api import recommend as api_recommend

    rec = api_recommend(model="llama-2-7b", gpu_memory_gb=24, dataset_size=500, epochs=1)
    assert rec.candidate is None and rec.estimate.hardware.gpu_memory_gb == 24
    assert rec.notes[0].startswith("your 24 GB GPU is planned as the")
    with pytest.raises(ConfigError, match="no GPU in the catalog has 1000 GB"):
        api_recommend(model="llama-2-7b", gpu_memory_gb=1000)
    with pytest.raises(ConfigError, match="not --gpu-memory-gb 80"):
        api_recommend(model="llama-2-7b", gpu="a10", gpu_memory_gb=80)
