"""The published-measurement files (bench/data/measurements_*.csv) follow their README: every row passes the checker,
held-out sources are whole and large enough to score on, and the checker rejects rows that break the rules."""

from __future__ import annotations

import importlib.util
from pathlib import Path

CHECKER = Path(__file__).resolve().parents[2] / "bench" / "data" / "check_measurements.py"


def _checker():
    spec = importlib.util.spec_from_file_location("check_measurements", CHECKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _good_row(cm) -> dict:
    row = {c: "" for c in cm.COLUMNS}
    row.update(row_id="x", source="s", source_ref="o/r README.md @abc", read_on="2026-12-01", quote="| 9.3 GB |",
               tag="[MEASURED]", model="llama-2-7b", method="lora", lora_r="8", lora_targets="q_proj|v_proj",
               quant="none", precision="bf16-true", optimizer="adamw", optimizer_in_backward="false",
               optimizer_offload="false", gpu="RTX-4090", gpu_as_written="1 x RTX 4090", num_gpus="1", sharding="none",
               grad_ckpt="true", packing="false", framework="torchtune", loss="hf", kernels="hf", attention="sdpa",
               activation_offload="false", compile="false", fp8="false", peak_mem="9.3", mem_unit="GB",
               mem_kind="reserved", mem_scope="per_gpu")
    return row


def test_every_row_passes_the_checker():
    problems, data = _checker().check()
    assert problems == [], "\n".join(problems[:20])
    assert set(data) == {"fit", "held-out"}


def test_held_out_is_whole_sources_and_big_enough():
    _, data = _checker().check()
    held, fit = data["held-out"], data["fit"]
    assert len(held) >= 40
    assert len({r["source"] for r in held}) >= 2
    assert not {r["source"] for r in held} & {r["source"] for r in fit}


def test_a_clean_row_has_no_problems():
    cm = _checker()
    assert cm.row_problems(_good_row(cm), {"RTX-4090"}) == []


def test_gate_proj_is_refused_on_a_model_without_a_gated_mlp():
    cm = _checker()
    row = {**_good_row(cm), "model": "phi-2", "lora_targets": "q_proj|gate_proj|up_proj|down_proj"}
    assert any("whose MLP has no gate" in p for p in cm.row_problems(row, {"RTX-4090"}, frozenset({"phi-2"})))
    assert "phi-2" in cm.plain_mlp_models() and "llama-2-7b" not in cm.plain_mlp_models()


def test_the_checker_names_each_broken_rule():
    cm = _checker()
    cases = {
        "method": ("adalora", "method='adalora' not one of"),
        "gpu": ("RTX 4090", "not a catalog GPU name"),
        "peak_mem": ("9.3GB", "is not a number"),
        "tag": ("measured", "tag 'measured'"),
        "quote": ("", "quote is empty"),
        "mem_unit": ("", "peak_mem without mem_unit"),
        "lora_targets": ("q_proj|embed_tokens", "lora_targets embed_tokens not among"),
    }
    for column, (value, expected) in cases.items():
        row = _good_row(cm) | {column: value}
        problems = cm.row_problems(row, {"RTX-4090"})
        assert any(expected in p for p in problems), (column, problems)
    oom = _good_row(cm) | {"tag": "[OOM]"}
    assert "[OOM] row with a peak_mem" in cm.row_problems(oom, {"RTX-4090"})
    qlora = _good_row(cm) | {"method": "qlora"}
    assert "qlora row with quant none" in cm.row_problems(qlora, {"RTX-4090"})
    assert "qdora row with quant none" in cm.row_problems(qlora | {"method": "qdora"}, {"RTX-4090"})
    assert cm.row_problems(_good_row(cm) | {"method": "dora"}, {"RTX-4090"}) == []
    assert "dora row with a quantised base (write qdora)" in cm.row_problems(
        _good_row(cm) | {"method": "dora", "quant": "nf4"}, {"RTX-4090"})


def test_dora_rows_are_scored_as_lora_with_use_dora():
    import sys

    sys.path.insert(0, str(CHECKER.parents[1]))
    from measurement_rows import job_fields

    cm = _checker()
    dora = job_fields(_good_row(cm) | {"method": "dora", "seq_len": "512", "micro_batch": "2"})
    assert dora["method"] == "lora" and dora["use_dora"] is True
    qdora = job_fields(_good_row(cm) | {"method": "qdora", "quant": "nf4", "seq_len": "512", "micro_batch": "2"})
    assert qdora["method"] == "qlora" and qdora["use_dora"] is True
    assert job_fields(_good_row(cm) | {"seq_len": "512", "micro_batch": "2"})["use_dora"] is False


def test_bitsandbytes_fp4_rows_are_scored_as_qlora_without_double_quant():
    import sys

    sys.path.insert(0, str(CHECKER.parents[1]))
    from measurement_rows import exclusion, job_fields

    cm = _checker()
    base = _good_row(cm) | {"method": "qlora", "seq_len": "512", "micro_batch": "2"}
    fp4, nf4_dq = base | {"quant": "fp4"}, base | {"quant": "nf4-dq"}
    assert exclusion(fp4) is None
    assert job_fields(fp4)["method"] == "qlora" and job_fields(fp4)["double_quant"] is False
    assert job_fields(nf4_dq)["double_quant"] is True
    # LLM.int8 is a different kernel (outlier decomposition), still refused with its reason
    assert exclusion(base | {"quant": "int8"}) == "int8 base weights (not modelled)"


def test_an_unstated_setting_takes_the_frameworks_documented_default():
    import sys

    sys.path.insert(0, str(CHECKER.parents[1]))
    from measurement_rows import job_fields

    from frugaltune.estimate.stack import framework_job_defaults

    cm = _checker()
    row = _good_row(cm) | {"seq_len": "4096", "micro_batch": "1", "grad_ckpt": "unknown", "sharding": "unknown"}
    # a framework the estimator models fills its own documented defaults later (_case merges
    # framework_job_defaults): torchtune checkpoints activations; Megatron-Core's recompute_granularity defaults to
    # None (no recompute) and its distributed optimizer shards the optimizer states (ZeRO-1) over several GPUs
    assert "grad_ckpt" not in job_fields(row) and "zero_stage" not in job_fields(row)
    assert framework_job_defaults("torchtune")["grad_ckpt"] is True
    megatron = job_fields(row | {"framework": "megatron", "num_gpus": "8"})
    assert megatron["framework"] == "megatron" and "grad_ckpt" not in megatron and "zero_stage" not in megatron
    assert framework_job_defaults("megatron", "full", 8)["grad_ckpt"] is False
    assert framework_job_defaults("megatron", "full", 8)["zero_stage"] == 1
    assert "zero_stage" not in framework_job_defaults("megatron", "full", 1)
    # a setting the row states wins over the default
    assert job_fields(row | {"framework": "megatron", "grad_ckpt": "true"})["grad_ckpt"] is True
    assert job_fields(row | {"framework": "megatron", "sharding": "ddp"})["zero_stage"] == 0
    # a framework the estimator has no --framework for: nothing filled
    assert "grad_ckpt" not in job_fields(row | {"framework": "custom"})
    assert framework_job_defaults(None) == {}


def test_a_rows_sdpa_becomes_the_kernel_its_batches_run():
    import sys

    sys.path.insert(0, str(CHECKER.parents[1]))
    from measurement_rows import job_fields

    cm = _checker()
    row = _good_row(cm) | {"seq_len": "1024", "micro_batch": "4", "attention": "sdpa"}
    # a source whose own code passes a padding mask says so
    assert job_fields(row | {"attention": "sdpa-masked"})["attention"] == "sdpa-masked"
    # SDPA under a framework that pads micro-batches: left to the estimator, which resolves it from batch and packing
    assert "attention" not in job_fields(row | {"framework": "llama-factory"})
    assert "attention" not in job_fields(row | {"framework": "hf-trainer"})
    # a framework with its own causal SDPA, or a custom one: as stated
    assert job_fields(row | {"framework": "torchtune"})["attention"] == "sdpa"
    assert job_fields(row | {"framework": "custom"})["attention"] == "sdpa"


def test_universal_llm_trainer_rows_run_masked_sdpa():
    import csv

    rows = list(csv.DictReader(open(CHECKER.parent / "measurements_heldout.csv", encoding="utf-8")))
    ult = [r for r in rows if r["source"].startswith("universal-llm-trainer")]
    assert ult and {r["attention"] for r in ult} == {"sdpa-masked"}


def test_fms_fused_ops_rows_are_unsloth_kernels_without_unsloth_offload():
    """fms-acceleration's fused-ops-and-kernels plugin runs Unsloth-derived kernels (RMSNorm, RoPE, fused LoRA on a
    quantized base) under transformers' forward; its *-liger configs take only the loss from Liger. Such rows are
    kernels unsloth with loss fused, and state activation_offload false: the plugin has no offloaded checkpointing, so
    Unsloth's own default must not apply to them."""
    import csv
    import sys

    sys.path.insert(0, str(CHECKER.parents[1]))
    from measurement_rows import load_rows

    from frugaltune.catalog.load import load_catalog
    from frugaltune.estimate.stack import resolve_stack

    rows = list(csv.DictReader(open(CHECKER.parent / "measurements_fit.csv", encoding="utf-8")))
    fms = [r for r in rows if r["source"] == "fms-acceleration benchmark refs"]
    config = {r["row_id"]: r["quote"].split("framework_config=")[1].split(",")[0] for r in fms}
    foak = [r for r in fms if "foak" in config[r["row_id"]]]
    liger = [r for r in foak if config[r["row_id"]].endswith("-liger")]
    assert len(liger) == 89 and len(foak) > len(liger)
    assert {r["kernels"] for r in foak} == {"unsloth"}
    assert {r["loss"] for r in liger} == {"fused"}
    assert {r["loss"] for r in foak if r not in liger} == {"hf"}
    assert {r["kernels"] for r in fms if r not in foak} == {"hf"}

    liger_ids = {r["row_id"] for r in liger}
    cases = [c for c in load_rows(load_catalog(), "fit") if c.row["row_id"] in liger_ids and not c.skip]
    assert len(cases) == len(liger)
    for case in cases:
        stack = resolve_stack(case.job)
        assert stack.kernels == "unsloth" and stack.loss_kernel == "fused" and stack.framework == "hf-trainer"
        assert stack.activation_offload is False and stack.fused_elementwise
