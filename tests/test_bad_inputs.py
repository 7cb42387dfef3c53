"""The bad-input corpus: what an adversarial user types, for every command, run in-process through the CLI.

Each case is (argv, exit code, words): the command must exit with that code; on an error, stderr holds exactly one
`error:` line that contains `words` (the field, file or flag at fault), and no traceback; with exit 0, a `warning`
containing `words` must say what is odd. Nothing may print a non-finite number (NaN, Infinity) on stdout, and under
--json stdout is JSON (the result, or an error object). `{d}` in an argument is the directory of the fixture files.

Adding a command or flag: add its rows to CASES (or a generator below). `python tests/test_bad_inputs.py` prints the
corpus' scoreboard: cases, tracebacks, silent acceptances (exit 0 without a word), clean.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
from pathlib import Path

import pytest

from bad_input_fixtures import make_fixtures

NON_FINITE = re.compile(r"(?<![\w.])-?(nan|inf|infinity)(?![\w])", re.IGNORECASE)
JOB = ["--model", "llama-2-7b", "--gpu", "a10", "--platform", "lambda"]


def job_flag_cases(cmd: list[str]) -> list[tuple]:
    """The job flags every planning command shares, each with the values users get wrong."""
    bad = {
        "--epochs": [("inf", "epochs"), ("nan", "epochs"), ("-1", "epochs"), ("0", "epochs"), ("1e9", "epochs"),
                     ("three", "--epochs")],
        "--dataset-size": [("0", "dataset_size"), ("-5", "--dataset-size"), ("99999999999999999999", "dataset_size"),
                           ("1e20", "--dataset-size"), ("2.5", "--dataset-size")],
        "--tokens-per-sample": [("nan", "tokens_per_sample"), ("0", "tokens_per_sample"), ("-1", "tokens_per_sample"),
                                ("inf", "tokens_per_sample"), ("1e12", "tokens_per_sample")],
        "--seq-len": [("0", "seq_len"), ("-1", "--seq-len"), ("99999999999", "seq_len"), ("1.5", "--seq-len")],
        "--micro-batch": [("0", "micro_batch"), ("1000000", "micro_batch")],
        "--grad-accum": [("0", "grad_accum"), ("100000000", "grad_accum")],
        "--lora-r": [("0", "lora_r"), ("10000000", "lora_r")],
        "--zero-stage": [("4", "zero_stage"), ("-1", "zero_stage")],
        "--lora-targets": [("", "lora_targets"), (",", "lora_targets"), ("foo", "foo")],
        "--method": [("dpo", "--method")],
        "--precision": [("int8", "--precision")],
        "--optimizer": [("lion", "--optimizer")],
    }
    return [(cmd + [flag, value], 2, words) for flag, values in bad.items() for value, words in values]


ESTIMATE = ["estimate", *JOB]
CASES: list[tuple] = [
    *job_flag_cases(ESTIMATE),
    *[(c + ["--json"], code, w) for c, code, w in job_flag_cases(ESTIMATE)[::4]],
    (ESTIMATE + ["--num-gpus", "0"], 2, "num_gpus"),
    (["estimate", "--gpu", "a100-80gb", "--num-gpus", "1000"], 0, "has 1000 GPUs"),
    (ESTIMATE + ["--num-gpus", "100000000"], 2, "num_gpus"),
    (["estimate", "--gpu", "a10", "--dataset-size", "100000000000", "--epochs", "100"], 0, "more than a million"),
    (ESTIMATE + ["--pricing", "free"], 2, "--pricing"),
    (["estimate", "--gpu", "no-such-gpu"], 2, "no-such-gpu"),
    (["estimate", "--gpu", "a10", "--platform", "nowhere"], 2, "nowhere"),
    (["estimate", "--model", "no-such-model", "--gpu", "a10"], 2, "no-such-model"),
    (["estimate", "--model", "0B", "--gpu", "a10"], 2, "0B"),
    (["estimate", "--model", "-7B", "--gpu", "a10"], 2, "-7B"),
    (["estimate", "--model", "llama-2-7b", "--method", "full", "--gpu", "t4"], 3, "does not fit"),
    (["estimate", "--model", "llama-2-7b", "--method", "full", "--gpu", "t4", "--json"], 3, "does not fit"),
    (ESTIMATE + ["--dataset", "{d}/adir"], 2, "is a directory"),
    (ESTIMATE + ["--dataset", "{d}/binary.jsonl"], 2, "not a text file"),
    (ESTIMATE + ["--dataset", "/proc/self/mem"], 2, "cannot read"),
    (ESTIMATE + ["--dataset", "{d}/missing.jsonl"], 2, "missing.jsonl"),
    (ESTIMATE + ["--dataset", "{d}/empty.jsonl"], 2, "empty.jsonl"),
    (ESTIMATE + ["--dataset", "{d}/badline.jsonl"], 2, "line 2"),
    (ESTIMATE + ["--dataset", "{d}/list_row.jsonl"], 2, "line 1: expected an object"),  # was priced silently
    (ESTIMATE + ["--dataset", "{d}/unclosed.csv"], 2, "never closed"),  # was priced as one long row
    (ESTIMATE + ["--dataset", "{d}/short_row.csv"], 2, "line 2: 1 value(s)"),
    (ESTIMATE + ["--dataset", "{d}/data.jsonl", "--sample", "0"], 2, "--sample"),
    (ESTIMATE + ["--dataset", "{d}/data.jsonl", "--sample", "-3"], 2, "--sample"),
    (ESTIMATE + ["--catalog", "{d}/no-such-dir"], 2, "no-such-dir"),
    (ESTIMATE + ["--catalog", "{d}/data.jsonl"], 2, "data.jsonl"),
    (ESTIMATE + ["--catalog", "{d}/cat_nan_price"], 2, "on_demand_usd_per_gpu_hour"),
    (ESTIMATE + ["--catalog", "{d}/cat_nan_price", "--json"], 2, "on_demand_usd_per_gpu_hour"),
    (ESTIMATE + ["--catalog", "{d}/cat_inf_price"], 2, "on_demand_usd_per_gpu_hour"),
    (ESTIMATE + ["--catalog", "{d}/cat_neg_price"], 2, "on_demand_usd_per_gpu_hour"),
    (ESTIMATE + ["--catalog", "{d}/cat_huge_price"], 2, "on_demand_usd_per_gpu_hour"),
    (ESTIMATE + ["--catalog", "{d}/cat_nan_gpu"], 2, "memory_gb"),
    (ESTIMATE + ["--catalog", "{d}/cat_inf_tflops"], 2, "bf16_tflops"),
    (ESTIMATE + ["--catalog", "{d}/cat_zero_gpus"], 2, "gpus_per_instance"),
    (ESTIMATE + ["--catalog", "{d}/cat_bad_header"], 2, "price_per_hour"),
    (ESTIMATE + ["--catalog", "{d}/cat_binary"], 2, "offers.csv"),
    (ESTIMATE + ["--catalog", "{d}/cat_cells"], 2, "cells"),
    (["estimate", "--model", "nanmodel", "--gpu", "a10", "--catalog", "{d}/cat_nan_model"], 2, "num_layers"),
    (["estimate", "--model", "{d}/nan_config.json", "--gpu", "a10"], 2, "nan_config.json"),
    (["estimate", "--model", "{d}/binary.jsonl", "--gpu", "a10"], 2, "binary.jsonl"),
    (["estimate", "--model", "{d}/huge_config.json", "--gpu", "a10"], 2, "'hidden_size' = 1,000,000,000,000"),
    (["estimate", "--model", "{d}/kv_config.json", "--gpu", "a10"], 2, "not a multiple of 5"),
    (["estimate", "--gpu", "a10g", "--platform", "aws", "--pricing", "spot", "--catalog", "{d}/cat_spot_nan"], 2,
     "spot_assumptions.csv"),
    (ESTIMATE + ["--no-such-flag"], 2, "--no-such-flag"),
    (ESTIMATE + ["--epochs"], 2, "--epochs"),
    (ESTIMATE + ["--json=yes"], 2, "--json"),
]

COMPARE = ["compare", "--model", "llama-2-7b", "--dataset-size", "1000"]
CASES += [
    *job_flag_cases(COMPARE)[::2],
    (COMPARE + ["--spot", "--interruptions-per-hour", "-1"], 2, "--interruptions-per-hour"),
    (COMPARE + ["--spot", "--interruptions-per-hour", "nan"], 2, "--interruptions-per-hour"),
    (COMPARE + ["--spot", "--interruptions-per-hour", "inf"], 2, "--interruptions-per-hour"),
    (COMPARE + ["--spot", "--interruptions-per-hour", "1000"], 2, "--interruptions-per-hour"),
    (COMPARE + ["--max-gpus", "0"], 2, "--max-gpus"),
    (COMPARE + ["--max-gpus", "-1"], 2, "--max-gpus"),
    (COMPARE + ["--max-gpus", "1000000000"], 2, "--max-gpus"),
    (COMPARE + ["--max-hours", "0"], 2, "--max-hours"),
    (COMPARE + ["--max-hours", "nan"], 2, "--max-hours"),
    (COMPARE + ["--max-hours", "-2"], 2, "--max-hours"),
    (COMPARE + ["--budget-usd", "0"], 2, "--budget-usd"),
    (COMPARE + ["--budget-usd", "-5"], 2, "--budget-usd"),
    (COMPARE + ["--budget-usd", "nan"], 2, "--budget-usd"),
    (COMPARE + ["--budget-usd", "inf"], 2, "--budget-usd"),
    (COMPARE + ["--budget-usd", "0.0001"], 3, "budget"),
    (COMPARE + ["--sort", "price"], 2, "--sort"),
    (COMPARE + ["--top", "-1"], 2, "--top"),
    (COMPARE + ["--gpu", "no-such-gpu"], 2, "no-such-gpu"),
    (COMPARE + ["--platform", "nowhere"], 2, "nowhere"),
    (COMPARE + ["--catalog", "{d}/cat_nan_price"], 2, "on_demand_usd_per_gpu_hour"),
    (COMPARE + ["--json", "--max-gpus", "0"], 2, "--max-gpus"),
    (["compare", "--model", "llama-3.1-405b", "--method", "full", "--gpu", "t4", "--max-gpus", "1"], 3, "options"),
]

IMPACT = ["impact", "--model", "llama-2-7b", "--gpu", "t4"]
CASES += [
    *job_flag_cases(IMPACT)[::3],
    (IMPACT + ["--vary", "colour"], 2, "colour"),
    (IMPACT + ["--epochs", "1e-320", "--dataset-size", "1"], 2, "epochs"),  # was a ZeroDivisionError
    (IMPACT + ["--tokens-per-sample", "1e-320"], 2, "tokens_per_sample"),
    (IMPACT + ["--num-gpus", "0"], 2, "--num-gpus"),
    (IMPACT + ["--interruptions-per-hour", "nan"], 2, "--interruptions-per-hour"),
    (IMPACT + ["--pricing", "cheap"], 2, "--pricing"),
]

RECOMMEND = ["recommend", "--model", "llama-2-7b"]
CASES += [
    *job_flag_cases(RECOMMEND)[::3],
    (RECOMMEND + ["--safety-margin", "1"], 2, "--safety-margin"),
    (RECOMMEND + ["--safety-margin", "-0.1"], 2, "--safety-margin"),
    (RECOMMEND + ["--safety-margin", "nan"], 2, "--safety-margin"),
    (RECOMMEND + ["--target-batch", "0"], 2, "--target-batch"),
    (RECOMMEND + ["--target-batch", "-16"], 2, "--target-batch"),
    (RECOMMEND + ["--domain-shift", "huge"], 2, "--domain-shift"),
    (RECOMMEND + ["--budget-usd", "-1"], 2, "--budget-usd"),
    (RECOMMEND + ["--budget-usd", "nan"], 2, "--budget-usd"),
    (RECOMMEND + ["--gpu", "a10", "--num-gpus", "0"], 2, "--num-gpus"),
    (RECOMMEND + ["--gpu-memory-gb", "nan"], 2, "--gpu-memory-gb"),
    (RECOMMEND + ["--gpu-memory-gb", "-24"], 2, "--gpu-memory-gb"),
    (RECOMMEND + ["--gpu-memory-gb", "0"], 2, "--gpu-memory-gb"),
    (RECOMMEND + ["--gpu-memory-gb", "1e9"], 2, "--gpu-memory-gb"),
    (RECOMMEND + ["--max-gpus", "0"], 2, "--max-gpus"),
    (RECOMMEND + ["--interruptions-per-hour", "-3"], 2, "--interruptions-per-hour"),
    (RECOMMEND + ["--no-rent", "--interruptions-per-hour", "0", "--lora-r", "1929"], 0, "P10"),  # was a TypeError
]

PLAN = ["plan", "--model", "llama-2-7b", "--gpu", "a10"]
CASES += [
    *job_flag_cases(PLAN)[::4],
    (PLAN + ["-o", "{d}/adir"], 2, "adir"),
    (PLAN + ["-o", "{d}/data.jsonl/run.yaml"], 2, "data.jsonl"),
    (PLAN + ["-o", ""], 2, "-o"),
    (PLAN + ["--output-dir", ""], 2, "--output-dir"),
    (PLAN + ["--data-format", "xml"], 2, "--data-format"),
    (PLAN + ["--dataset", "{d}/binary.jsonl"], 2, "not a text file"),
    (PLAN + ["--dataset", "{d}/adir"], 2, "adir"),
    (PLAN + ["--safety-margin", "2"], 2, "--safety-margin"),
    (PLAN + ["--target-batch", "0"], 2, "--target-batch"),
]

BUDGET_FILES = {
    "months_zero": "months = 0", "months_negative": "months = -3", "months_nan": "months = nan",
    "months_text": "months = 'six'", "phase_after_end": "outside the plan", "phase_too_long": "outside the plan",
    "runs_negative": "runs_per_month = -4", "runs_nan": "runs_per_month = nan", "storage_negative": "gb = -20",
    "storage_price_negative": "usd_per_gb_month = -1", "every_zero": "every_months = 0", "start_zero": "start_month = 0",
    "num_gpus_zero": "num_gpus = 0", "eval_hours_negative": "gpu_hours_per_run = -1", "eval_hours_inf": "gpu_hours_per_run = inf",
    "job_epochs_inf": "job.epochs = inf", "job_dataset_negative": "job.dataset_size = -1",
    "phase_epochs_nan": "phases[0].epochs = nan", "duplicate_key": "appears twice", "unknown_key": "montsh",
    "unknown_kind": "kind", "eval_no_gpu": "eval phase", "no_phases": "no phases", "phases_not_list": "phases",
    "top_level_list": "mapping", "not_yaml": "not valid YAML", "job_unknown_key": "learning_rate",
    "pricing_bad": "pricing", "train_no_gpu": "needs a gpu",
}
CASES += [(["budget", f"{{d}}/budgets/{name}.yaml"], 2, words) for name, words in BUDGET_FILES.items()]
CASES += [
    (["budget", "{d}/budgets/months_zero.yaml", "--json"], 2, "months = 0"),
    (["budget", "{d}/binary.jsonl"], 2, "not a text file"),
    (["budget", "{d}/adir"], 2, "is a directory"),
    (["budget", "{d}/missing.yaml"], 2, "missing.yaml"),
    (["budget", "{d}/empty.jsonl"], 2, "empty.jsonl"),
    (["budget", "/proc/self/mem"], 2, "cannot read"),
    (["budget", "examples/budget.yaml", "--interruptions-per-hour", "nan"], 2, "--interruptions-per-hour"),
    (["budget"], 2, "FILE"),
]

BVR = ["buy-vs-rent", "--gpu", "rtx 4090", "--model", "llama-2-7b", "--method", "qlora"]
CASES += [
    (BVR + ["--usd-per-kwh", "nan"], 2, "--usd-per-kwh"),
    (BVR + ["--usd-per-kwh", "inf"], 2, "--usd-per-kwh"),
    (BVR + ["--usd-per-kwh", "0"], 2, "--usd-per-kwh"),
    (BVR + ["--usd-per-kwh", "-0.2"], 2, "--usd-per-kwh"),
    (BVR + ["--usd-per-kwh", "100"], 2, "--usd-per-kwh"),
    (BVR, 2, "--usd-per-kwh"),
    (BVR + ["--usd-per-kwh", "0.2", "--purchase-usd", "-1"], 2, "--purchase-usd"),
    (BVR + ["--usd-per-kwh", "0.2", "--purchase-usd", "nan"], 2, "--purchase-usd"),
    (BVR + ["--usd-per-kwh", "0.2", "--power-watts", "0"], 2, "--power-watts"),
    (BVR + ["--usd-per-kwh", "0.2", "--power-watts", "1e9"], 2, "--power-watts"),
    (BVR + ["--usd-per-kwh", "0.2", "--host-watts", "-1"], 2, "--host-watts"),
    (BVR + ["--usd-per-kwh", "0.2", "--depreciation-years", "0"], 2, "--depreciation-years"),
    (BVR + ["--usd-per-kwh", "0.2", "--depreciation-years", "nan"], 2, "--depreciation-years"),
    (BVR + ["--usd-per-kwh", "0.2", "--resale-fraction", "1"], 2, "--resale-fraction"),
    (BVR + ["--usd-per-kwh", "0.2", "--resale-fraction", "-0.5"], 2, "--resale-fraction"),
    (BVR + ["--usd-per-kwh", "0.2", "--runs-per-month", "0"], 2, "--runs-per-month"),
    (BVR + ["--usd-per-kwh", "0.2", "--runs-per-month", "-1"], 2, "--runs-per-month"),
    (BVR + ["--usd-per-kwh", "0.2", "--runs-per-month", "nan"], 2, "--runs-per-month"),
    (BVR + ["--usd-per-kwh", "0.2", "--hours-per-month", "-5"], 2, "--hours-per-month"),
    (BVR + ["--usd-per-kwh", "0.2", "--hours-per-month", "nan"], 2, "--hours-per-month"),
    (BVR + ["--usd-per-kwh", "0.2", "--hours-per-month", "10000"], 2, "--hours-per-month"),
    (BVR + ["--usd-per-kwh", "0.2", "--hours-per-month", "1e-320"], 2, "--hours-per-month"),
    (BVR + ["--usd-per-kwh", "0.2", "--runs-per-month", "1e-320"], 2, "--runs-per-month"),  # once: OverflowError
    (BVR + ["--usd-per-kwh", "0.2", "--depreciation-years", "1e-320"], 2, "--depreciation-years"),  # inf $/month
    (BVR + ["--usd-per-kwh", "0.2", "--num-gpus", "0"], 2, "--num-gpus"),
    (BVR + ["--usd-per-kwh", "0.2", "--epochs", "inf"], 2, "epochs"),
    (BVR + ["--usd-per-kwh", "0.2", "--gpu", "no-such-gpu"], 2, "no-such-gpu"),
]

AFFORD = ["afford", "--model", "llama-2-7b"]
CASES += [
    (AFFORD + ["--budget-usd", "0"], 2, "--budget-usd"),
    (AFFORD + ["--budget-usd", "-50"], 2, "--budget-usd"),
    (AFFORD + ["--budget-usd", "nan"], 2, "--budget-usd"),
    (AFFORD + ["--budget-usd", "inf"], 2, "--budget-usd"),
    (AFFORD + ["--budget-usd", "1e12"], 2, "--budget-usd"),
    (AFFORD + ["--budget-usd", "50", "--per", "week"], 2, "--per"),
    (AFFORD + ["--budget-usd", "50", "--max-gpus", "0"], 2, "--max-gpus"),
    (AFFORD + ["--budget-usd", "50", "--interruptions-per-hour", "nan"], 2, "--interruptions-per-hour"),
    (AFFORD + ["--budget-usd", "50", "--seq-len", "0"], 2, "seq_len"),
    (AFFORD + ["--budget-usd", "50", "--lora-r", "0"], 2, "lora_r"),
    (AFFORD + ["--budget-usd", "50", "--gpu", "no-such-gpu"], 2, "no-such-gpu"),
    (AFFORD + ["--budget-usd", "50", "--format", "xml"], 2, "--format"),
    (["afford"], 2, "--budget-usd"),
]

TRAIN_CONFIGS = {  # fixture config name -> words of the one-line error of `train CONFIG --dry-run`
    "lr_inf": "training.lr", "lr_huge": "training.lr", "lr_nan": "training.lr", "lr_negative": "training.lr",
    "lr_twice": "appears twice", "lr_text": "training.lr", "epochs_inf": "training.epochs",
    "micro_batch_zero": "training.micro_batch", "cpu_threads_huge": "training.cpu_threads",
    "seed_negative": "training.seed", "seed_huge": "training.seed", "max_seq_len_tiny": "data.max_seq_len",
    "output_empty": "output.dir", "output_is_file": "is a file", "output_foreign": "no run wrote",
    "data_missing": "missing.jsonl", "data_dir": "adir", "data_binary": "not a text file",
    "data_unreadable": "cannot read", "data_badline": "line 2", "data_unclosed_csv": "never closed", "template_unknown_field": "foo",
    "template_no_text": "{text}", "mirror_unreachable": "checkpoint mirror", "unknown_key": "learning_rate",
    "wrong_type": "training.micro_batch", "not_yaml": "not valid YAML", "list_config": "mapping",
    "section_not_mapping": "training", "every_steps_zero": "checkpoints.every_steps", "keep_last_zero": "keep_last",
    "warmup_negative": "warmup_steps", "weight_decay_nan": "weight_decay", "max_grad_norm_inf": "max_grad_norm",
    "eval_fraction_one": "eval_fraction", "lora_r_zero": "method.lora.r", "dropout_one": "method.lora.dropout",
    "usd_per_hour_nan": "cost.usd_per_hour", "usd_per_hour_negative": "cost.usd_per_hour",
    "num_gpus_zero": "cost.num_gpus", "both_checkpoint_cadences_off": "checkpoints", "unknown_preset": "preset",
    "lora_target_typo": "q_prj", "labels_single": "data.labels", "vocab_for_real_model": "vocab_size",
}
CASES += [(["train", f"{{d}}/configs/{name}.yaml", "--dry-run"], 2, words) for name, words in TRAIN_CONFIGS.items()]
CASES += [
    (["train", "{d}/configs/lr_inf.yaml", "--dry-run", "--json"], 2, "training.lr"),
    (["train", "{d}/configs/ok.yaml", "--dry-run", "-o", ""], 2, "output.dir"),
    (["train", "{d}/configs/ok.yaml", "--dry-run", "-o", "{d}/data.jsonl"], 2, "is a file"),
    (["train", "{d}/configs/ok.yaml", "--dry-run", "-o", "/proc/frugaltune-run"], 2, "cannot be created"),
    (["train", "{d}/configs/ok.yaml", "-o", "/proc/frugaltune-run"], 2, "cannot be created"),  # was a traceback, then 74
    (["train", "{d}/configs/ok.yaml", "--dry-run", "--max-steps", "0"], 2, "--max-steps"),
    (["train", "{d}/configs/ok.yaml", "--dry-run", "--max-steps", "nan"], 2, "--max-steps"),
    (["train", "{d}/configs/ok.yaml", "--dry-run", "--set", "training.lr=.inf"], 2, "training.lr"),
    (["train", "{d}/configs/ok.yaml", "--dry-run", "--set", "training.lr=1e30"], 2, "training.lr"),
    (["train", "{d}/configs/ok.yaml", "--dry-run", "--set", "nokey"], 2, "--set"),
    (["train", "{d}/configs/ok.yaml", "--dry-run", "--set", "method.lora.targets=[]"], 2, "zero parameters"),
    (["train", "{d}/configs/cpu_threads_many.yaml", "--dry-run"], 0, "cpu_threads"),
    (["train", "{d}/configs/missing.yaml"], 2, "missing.yaml"),
    (["train", "{d}/adir"], 2, "is a directory"),
    (["train", "{d}/binary.jsonl"], 2, "not a text file"),
    (["train", "{d}/configs/ok.yaml", "--resume", "{d}/no-such-checkpoint"], 2, "--resume"),
    (["train"], 2, "CONFIG"),
    (["schema", "--no-such-flag"], 2, "--no-such-flag"),
    (["schema", "extra"], 2, "extra"),
]

CASES += [
    (["report", "{d}/missing-run"], 2, "missing-run"),
    (["report", "{d}/data.jsonl"], 2, "data.jsonl"),
    (["report", "{d}/adir"], 2, "adir"),
    (["report", "{d}/runs/corrupt_summary"], 2, "summary.json"),
    (["report", "{d}/runs/binary_summary"], 2, "summary.json"),
    (["report", "{d}/runs/list_summary"], 2, "summary.json"),
    (["report", "{d}/runs/nan_summary", "--json"], 0, "not_finite"),
    (["report", "{d}/runs/nan_summary"], 0, "steps"),
    (["report", "{d}/runs/corrupt_summary", "--json"], 2, "summary.json"),
    (["report", "{d}/runs/corrupt_summary", "--html", "{d}/adir"], 2, "summary.json"),
    (["probe", "{d}/configs/lr_inf.yaml"], 2, "training.lr"),
    (["probe", "{d}/configs/ok.yaml", "--steps", "0"], 2, "--steps"),
    (["probe", "{d}/configs/ok.yaml", "--steps", "-5"], 2, "--steps"),
    (["probe", "{d}/configs/missing.yaml"], 2, "missing.yaml"),
    (["probe", "{d}/configs/data_binary.yaml"], 2, "not a text file"),
    (["launch", "{d}/configs/lr_inf.yaml", "--dry-run"], 2, "training.lr"),
    (["launch", "{d}/configs/missing.yaml", "--dry-run"], 2, "missing.yaml"),
    (["launch", "{d}/configs/ok.yaml", "--dry-run", "--cloud", "mars"], 2, "--cloud"),
    (["launch", "{d}/configs/ok.yaml", "--dry-run", "--set", "training.lr=nan"], 2, "training.lr"),
    (["{cd}", "launch", "configs/launch_ok.yaml", "--dry-run", "-o", "adir"], 2, "adir"),
    (["{cd}", "launch", "configs/launch_ok.yaml", "--dry-run", "-o", "data.jsonl/sky.yaml"], 2, "data.jsonl"),
    (["{cd}", "launch", "configs/launch_ok.yaml", "--dry-run", "-o", ""], 2, "-o"),
    (["launch", "{d}/configs/launch_ok.yaml", "--dry-run"], 2, "outside the current directory"),
    (["launch", "{d}/configs/ok.yaml", "--dry-run"], 2, "cost.gpu"),
    (["calibration", "export", "{d}/data.jsonl/x"], 2, "data.jsonl"),
    (["calibration", "import", "{d}/missing-dir"], 2, "missing-dir"),
    (["calibration", "import", "{d}/calib"], 2, "team.jsonl"),
    (["calibration", "nothing"], 2, "calibration nothing"),
    (["catalog", "gpus", "--gpu", "no-such-gpu"], 2, "no-such-gpu"),
    (["catalog", "gpus", "--catalog", "{d}/cat_nan_gpu"], 2, "memory_gb"),
    (["catalog", "gpus", "--catalog", "{d}/cat_nan_gpu", "--json"], 2, "memory_gb"),
    (["catalog", "prices", "--platform", "nowhere"], 2, "nowhere"),
    (["catalog", "prices", "--num-gpus", "-1"], 2, "--num-gpus"),
    (["catalog", "prices", "--max-age-days", "-5"], 2, "--max-age-days"),
    (["catalog", "prices", "--catalog", "{d}/cat_inf_price"], 2, "on_demand_usd_per_gpu_hour"),
    (["catalog", "prices", "--catalog", "{d}/cat_binary"], 2, "offers.csv"),
    (["catalog", "models", "--model", "no-such-model"], 2, "no-such-model"),
    (["catalog", "models", "--catalog", "{d}/cat_nan_model"], 2, "num_layers"),
    (["catalog", "storage", "--platform", "nowhere"], 2, "nowhere"),
    (["catalog", "storage", "--catalog", "{d}/cat_nan_storage"], 2, "usd_per_gb_month"),
    (["catalog", "colours"], 2, "catalog colours"),
    (["no-such-command"], 2, "no-such-command"),
]


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> Path:
    return make_fixtures(tmp_path_factory.mktemp("bad-inputs"))


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """frugaltune ARGV in this process: (exit code, stdout, stderr); an escaping exception is a traceback."""
    from frugaltune.cli.app import run

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = run(argv)
        except SystemExit as ex:
            code = ex.code if isinstance(ex.code, int) else 1
        except BaseException as ex:  # noqa: BLE001 -- the corpus counts it
            import traceback

            traceback.print_exc(file=err)
            code = f"uncaught {type(ex).__name__}"
    return code, out.getvalue(), err.getvalue()


def verdict(argv: list[str], want: int, words: str, code, out: str, err: str) -> str:
    """'clean', or what went wrong: 'traceback', 'silent' (exit 0 without a word), 'non-finite', or a mismatch."""
    if "Traceback (most recent call last)" in out + err or not isinstance(code, int):
        return "traceback"
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    if code == 0 and want != 0 and not any(words in line for line in (out + err).splitlines()):
        return "silent"
    if "--json" in argv and out.strip():
        try:
            json.loads(out, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        except ValueError as ex:
            return f"stdout is not finite JSON ({ex})"
    elif code == 0 and NON_FINITE.search(out):
        return f"non-finite number on stdout: {NON_FINITE.search(out).group(0)!r}"
    if code != want:
        return f"exit {code}, expected {want}: {(errors or [err.strip()[-300:]])[0]}"
    if want not in (0, 3) and (len(errors) != 1 or words not in errors[0]):
        return f"error line should name {words!r}: {errors or err.strip()[-300:]}"
    if want in (0, 3) and words not in out + err:
        return f"no warning naming {words!r}"
    return "clean"


def expand(argv: list[str], d: Path) -> list[str]:
    return [a.replace("{d}", str(d)) for a in argv if a != "{cd}"]


@pytest.mark.parametrize(("argv", "want", "words"), CASES, ids=[" ".join(c[0])[:90] for c in CASES])
def test_bad_input(fixtures, monkeypatch, argv, want, words):
    # from the repository (examples/budget.yaml and friends, as in the README), or "{cd}": from the fixtures
    monkeypatch.chdir(fixtures if argv[0] == "{cd}" else Path(__file__).resolve().parents[1])
    argv = expand(argv, fixtures)
    code, out, err = run_cli(argv)
    assert verdict(argv, want, words, code, out, err) == "clean", (code, out[-2000:], err[-2000:])


def test_the_corpus_is_large():
    assert len(CASES) >= 300


def scoreboard(cases=CASES) -> dict:
    """Run every case; count tracebacks, silent acceptances and clean ones (what the issue's bar is about)."""
    import os
    import tempfile

    d = make_fixtures(Path(tempfile.mkdtemp(prefix="frugaltune-bad-inputs-")))
    counts: dict = {"cases": len(cases), "clean": 0, "traceback": 0, "silent": 0, "other": 0, "failures": []}
    home = Path.cwd()
    for argv, want, words in cases:
        os.chdir(d if argv[0] == "{cd}" else home)
        argv = expand(argv, d)
        code, out, err = run_cli(argv)
        v = verdict(argv, want, words, code, out, err)
        key = v if v in ("clean", "traceback", "silent") else "other"
        counts[key] += 1
        if key != "clean":
            counts["failures"].append((" ".join(argv), v))
    return counts


if __name__ == "__main__":
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.chdir(Path(__file__).resolve().parents[1])
    sys.path.insert(0, str(Path(__file__).parent))
    board = scoreboard()
    for argv, v in board.pop("failures"):
        print(f"  {v[:110]}\n    frugaltune {argv[:150]}")
    n = board["cases"]
    print(f"{n} cases: {board['clean']} clean, {board['traceback']} tracebacks, {board['silent']} silent acceptances "
          f"({100 * board['silent'] / n:.1f} %), {board['other']} other mismatches")
