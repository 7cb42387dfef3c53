"""The files tests/test_bad_inputs.py feeds to commands: broken data files, user catalogs with nan/inf/absurd cells,
budget YAMLs and run configs each wrong in one way, and run directories with damaged summaries."""

from __future__ import annotations

import json
import random
from pathlib import Path

import yaml

OFFER_HEADER = ("platform,instance,gpu,gpus_per_instance,region,on_demand_usd_per_gpu_hour,spot_usd_per_gpu_hour,"
                "billing_increment_s,billing_minimum_s,whole_instance,kind,data_date,source")
OFFER = "lambda,gpu_1x_a10,A10,1,us-east-1,{od},,60,60,false,cloud,2026-01-01,my quote"
LABELS = ["electrician", "plumber", "welder", "carpenter"]


def make_fixtures(d: Path) -> Path:
    """Write every fixture under `d` and return it."""
    _data_files(d)
    _catalogs(d)
    _budgets(d / "budgets")
    _configs(d, d / "configs")
    _runs(d / "runs")
    (d / "calib").mkdir()
    return d


def _data_files(d: Path) -> None:
    rng = random.Random(0)
    rows = [{"text": f"Apprentice wanted for {rng.choice(['wiring', 'pipes', 'welds', 'framing'])} work.",
             "label": rng.choice(LABELS)} for _ in range(40)]
    (d / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "binary.jsonl").write_bytes(bytes(range(256)) * 8)
    (d / "empty.jsonl").write_text("")
    (d / "badline.jsonl").write_text('{"text": "fine", "label": "welder"}\n{"text": broken\n')
    (d / "adir").mkdir()
    (d / "list_row.jsonl").write_text('[1, 2, 3]\n{"text": "fine", "label": "welder"}\n')
    (d / "unclosed.csv").write_text('text,label\n"never closed,welder\nfine,plumber\n')
    (d / "short_row.csv").write_text("text,label\nno label here\nfine,plumber\n")
    (d / "huge_config.json").write_text('{"model_type": "llama", "hidden_size": 1000000000000, "num_hidden_layers": 32, '
                                        '"num_attention_heads": 32, "intermediate_size": 11008, "vocab_size": 32000}')
    (d / "kv_config.json").write_text('{"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32, '
                                      '"num_attention_heads": 32, "num_key_value_heads": 5, "vocab_size": 32000}')
    (d / "nan_config.json").write_text('{"model_type": "llama", "hidden_size": NaN, "num_hidden_layers": 32, '
                                       '"num_attention_heads": 32, "intermediate_size": 11008, "vocab_size": 32000}')


def _catalog(d: Path, name: str, files: dict[str, str]) -> None:
    (d / name).mkdir()
    for file, text in files.items():
        (d / name / file).write_text(text)


def _catalogs(d: Path) -> None:
    offers = lambda od: OFFER_HEADER + "\n" + OFFER.format(od=od) + "\n"  # noqa: E731
    _catalog(d, "cat_nan_price", {"offers.csv": offers("nan")})
    _catalog(d, "cat_inf_price", {"offers.csv": offers("inf")})
    _catalog(d, "cat_neg_price", {"offers.csv": offers("-1.0")})
    _catalog(d, "cat_huge_price", {"offers.csv": offers("1e9")})
    _catalog(d, "cat_zero_gpus", {"offers.csv": OFFER_HEADER + "\n" + OFFER.format(od="1.0").replace(",1,", ",0,", 1)
                                  + "\n"})
    _catalog(d, "cat_bad_header", {"offers.csv": "platform,price_per_hour\nlambda,1.0\n"})
    _catalog(d, "cat_cells", {"offers.csv": OFFER_HEADER + "\nlambda,x,A10\n"})
    (d / "cat_binary").mkdir()
    (d / "cat_binary" / "offers.csv").write_bytes(b"\xff\xfe\x00\x01" * 64)
    _catalog(d, "cat_nan_gpu", {"gpus.csv": "name,memory_gb\nA10,nan\n"})
    _catalog(d, "cat_inf_tflops", {"gpus.csv": "name,bf16_tflops\nA10,inf\n"})
    _catalog(d, "cat_nan_model", {"models.csv": "name,hf_id,num_layers,hidden_size,intermediate_size,num_heads,"
                                                "num_kv_heads,head_dim,vocab_size,max_position_embeddings,"
                                                "tie_word_embeddings\nnanmodel,x/nanmodel,nan,4096,11008,32,32,128,"
                                                "32000,4096,false\n"})
    _catalog(d, "cat_nan_storage", {"storage.csv": "platform,item,usd_per_gb_month,source,data_date\n"
                                                   "lambda,fs,nan,me,2026-01-01\n"})
    _catalog(d, "cat_spot_nan", {"spot_assumptions.csv": "parameter,scope,value\ninterruptions_per_hour,lambda,nan\n"})


BUDGET = {"months": 6, "job": {"model": "llama-2-7b", "method": "lora", "dataset_size": 1000, "epochs": 1},
          "phases": [{"name": "dev", "start_month": 1, "months": 3, "runs_per_month": 4, "gpu": "a10",
                      "platform": "lambda"}]}


def _budget_variants() -> dict[str, object]:
    def phase(**kw):
        return {**BUDGET, "phases": [{**BUDGET["phases"][0], **kw}]}

    def extra(p):
        return {**BUDGET, "phases": BUDGET["phases"] + [p]}

    return {
        "months_zero": {**BUDGET, "months": 0}, "months_negative": {**BUDGET, "months": -3},
        "months_nan": {**BUDGET, "months": float("nan")}, "months_text": {**BUDGET, "months": "six"},
        "phase_after_end": phase(start_month=9), "phase_too_long": phase(months=12),
        "runs_negative": phase(runs_per_month=-4), "runs_nan": phase(runs_per_month=float("nan")),
        "storage_negative": extra({"name": "disk", "kind": "storage", "gb": -20, "platform": "modal"}),
        "storage_price_negative": extra({"name": "disk", "kind": "storage", "gb": 20, "usd_per_gb_month": -1}),
        "every_zero": phase(every_months=0), "start_zero": phase(start_month=0), "num_gpus_zero": phase(num_gpus=0),
        "eval_hours_negative": extra({"name": "ev", "kind": "eval", "gpu_hours_per_run": -1, "gpu": "a10",
                                      "platform": "lambda"}),
        "eval_hours_inf": extra({"name": "ev", "kind": "eval", "gpu_hours_per_run": float("inf"), "gpu": "a10",
                                 "platform": "lambda"}),
        "job_epochs_inf": {**BUDGET, "job": {**BUDGET["job"], "epochs": float("inf")}},
        "job_dataset_negative": {**BUDGET, "job": {**BUDGET["job"], "dataset_size": -1}},
        "phase_epochs_nan": phase(epochs=float("nan")), "unknown_key": {**BUDGET, "montsh": 6},
        "unknown_kind": phase(kind="training"), "eval_no_gpu": extra({"name": "ev", "kind": "eval",
                                                                     "gpu_hours_per_run": 1}),
        "no_phases": {**BUDGET, "phases": []}, "phases_not_list": {**BUDGET, "phases": "dev"},
        "top_level_list": [BUDGET], "job_unknown_key": {**BUDGET, "job": {**BUDGET["job"], "learning_rate": 1}},
        "pricing_bad": phase(pricing="cheap"), "train_no_gpu": phase(gpu=None),
    }


def _budgets(d: Path) -> None:
    d.mkdir()
    for name, content in _budget_variants().items():
        (d / f"{name}.yaml").write_text(yaml.safe_dump(content, sort_keys=False))
    (d / "duplicate_key.yaml").write_text(yaml.safe_dump(BUDGET, sort_keys=False) + "months: 7\n")
    (d / "not_yaml.yaml").write_text("months: [6\nphases: {\n")


def base_config(d: Path) -> dict:
    return {"model": {"source": "preset:tiny-llama", "vocab_size": 256},
            "method": {"kind": "lora", "lora": {"r": 4, "alpha": 8, "targets": ["q_proj", "v_proj"]}},
            "data": {"path": str(d / "data.jsonl"), "format": "classification", "max_seq_len": 64},
            "training": {"max_steps": 2, "lr": 0.01, "micro_batch": 2, "cpu_threads": 1},
            "checkpoints": {"every_steps": 1, "every_minutes": None, "keep_last": 1},
            "output": {"dir": str(d / "runs" / "out")}}


def _config_variants(d: Path) -> dict[str, object]:
    def set_(section, key, value):
        cfg = base_config(d)
        node = cfg
        for part in section.split("."):
            node = node.setdefault(part, {})
        node[key] = value
        return cfg

    (d / "foreign").mkdir(exist_ok=True)
    (d / "foreign" / "config.yaml").write_text("my: own\n")
    return {
        "ok": base_config(d), "launch_ok": set_("cost", "gpu", "a10"), "lr_inf": set_("training", "lr", float("inf")), "lr_huge": set_("training", "lr", 1e30),
        "lr_nan": set_("training", "lr", float("nan")), "lr_negative": set_("training", "lr", -1e-4),
        "lr_text": set_("training", "lr", "fast"), "epochs_inf": set_("training", "epochs", float("inf")),
        "micro_batch_zero": set_("training", "micro_batch", 0), "cpu_threads_huge": set_("training", "cpu_threads", 100000),
        "cpu_threads_many": set_("training", "cpu_threads", 512), "seed_negative": set_("training", "seed", -1),
        "seed_huge": set_("training", "seed", 10**20), "max_seq_len_tiny": set_("data", "max_seq_len", 4),
        "output_empty": set_("output", "dir", ""), "output_is_file": set_("output", "dir", str(d / "data.jsonl")),
        "output_foreign": set_("output", "dir", str(d / "foreign")),
        "data_missing": set_("data", "path", str(d / "missing.jsonl")), "data_dir": set_("data", "path", str(d / "adir")),
        "data_binary": set_("data", "path", str(d / "binary.jsonl")),
        "data_unreadable": set_("data", "path", "/proc/self/mem"),
        "data_badline": set_("data", "path", str(d / "badline.jsonl")),
        "data_unclosed_csv": set_("data", "path", str(d / "unclosed.csv")),
        "template_unknown_field": set_("data", "prompt_template", "Classify {foo}: {text}"),
        "template_no_text": set_("data", "prompt_template", "Pick one of {labels}"),
        "mirror_unreachable": set_("checkpoints", "mirror", str(d / "data.jsonl" / "mirror")),
        "unknown_key": set_("training", "learning_rate", 0.01), "wrong_type": set_("training", "micro_batch", "four"),
        "list_config": [base_config(d)], "section_not_mapping": {**base_config(d), "training": 5},
        "every_steps_zero": set_("checkpoints", "every_steps", 0), "keep_last_zero": set_("checkpoints", "keep_last", 0),
        "warmup_negative": set_("training", "warmup_steps", -1),
        "weight_decay_nan": set_("training", "weight_decay", float("nan")),
        "max_grad_norm_inf": set_("training", "max_grad_norm", float("inf")),
        "eval_fraction_one": set_("data", "eval_fraction", 1.0), "lora_r_zero": set_("method.lora", "r", 0),
        "dropout_one": set_("method.lora", "dropout", 1.0), "usd_per_hour_nan": set_("cost", "usd_per_hour", float("nan")),
        "usd_per_hour_negative": set_("cost", "usd_per_hour", -2), "num_gpus_zero": set_("cost", "num_gpus", 0),
        "both_checkpoint_cadences_off": set_("checkpoints", "every_steps", None),
        "unknown_preset": set_("model", "source", "preset:huge-llama"),
        "lora_target_typo": set_("method.lora", "targets", ["q_prj"]),
        "labels_single": set_("data", "labels", ["welder"]),
        "vocab_for_real_model": set_("model", "source", "HuggingFaceTB/SmolLM2-135M"),
    }


def _configs(d: Path, out: Path) -> None:
    out.mkdir()
    for name, cfg in _config_variants(d).items():
        (out / f"{name}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    text = (out / "ok.yaml").read_text()
    (out / "lr_twice.yaml").write_text(text.replace("  lr: 0.01\n", "  lr: 0.01\n  lr: 1.0e+30\n"))
    (out / "not_yaml.yaml").write_text("training: {lr: [0.01\n")


def _runs(d: Path) -> None:
    d.mkdir(exist_ok=True)
    for name, content in (("corrupt_summary", b'{"steps": 3, "status": '), ("binary_summary", b"\xff\x00\xfe" * 50),
                          ("list_summary", b"[1, 2, 3]"),
                          ("nan_summary", b'{"steps": 3, "status": "finished", "final_train_loss": NaN, '
                                          b'"tokens_per_sec": Infinity, "summary_version": 1}')):
        (d / name).mkdir()
        (d / name / "summary.json").write_bytes(content)
