"""frugaltune's runner vs a plain transformers Trainer + peft script: same model, data, batches and steps, side by
side in one process on CPU (these machines are noisy: the two are interleaved, each measured `--rounds` times).

    python bench/runner_overhead.py [--steps 150] [--rounds 2] [--preset small-llama]

frugaltune runs with its production features on: a checkpoint every 50 steps (atomic, fsynced, sha256 manifest),
mirrored in the background to a local directory, the ledger, the progress output. The Trainer script saves
nothing (the cheapest possible baseline). Both train LoRA r=8 on q/v of the `small-llama` preset (4 layers,
hidden 256, a BPE tokenizer trained on the data) on the trade-classifier data, micro-batch 4, fp32, AdamW,
cosine schedule, the same padded batches (`data.collate`) and the same examples.

tokens/s = real (unpadded) tokens processed / wall time of the training loop: Trainer.train() for the script;
from the start of frugaltune's loop to its `finished` event (every save, the final save and the mirror wait
included) for frugaltune. Also printed: the mean checkpoint save time and the resume time (a second
`frugaltune train` on the finished run: load adapter, optimizer, scheduler, RNG; and process start to first step).
Bar: frugaltune >= 0.95x the Trainer script.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "examples" / "trade-classifier" / "data" / "train.jsonl"
TEMPLATE = "Classify this job description into one of: {labels}.\nJob: {text}\nTrade:"


def run_config(work: Path, args, name: str) -> dict:
    return {
        "model": {"source": f"preset:{args.preset}"},
        "method": {"kind": "lora", "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "targets": ["q_proj", "v_proj"]}},
        "data": {"path": str(DATA), "format": "classification", "prompt_template": TEMPLATE,
                 "max_seq_len": args.seq_len, "eval_fraction": 0.0},
        "training": {"max_steps": args.steps, "lr": 2e-4, "schedule": "cosine", "warmup_steps": 10,
                     "micro_batch": args.micro_batch, "grad_accum": 1, "precision": "fp32", "seed": 0,
                     "log_every": 10, "max_grad_norm": 1.0},
        "checkpoints": {"every_steps": 50, "every_minutes": None, "keep_last": 2, "mirror": str(work / f"{name}-mirror")},
        "output": {"dir": str(work / name)},
    }


def frugaltune_round(work: Path, args, name: str) -> dict:
    from frugaltune.report.ledger import read_events
    from frugaltune.train.config import RunConfig
    from frugaltune.train.recipe import train

    result = train(RunConfig.from_dict(run_config(work, args, name)), quiet=True)
    events = read_events(result.run_dir / "metrics.jsonl")
    start = next(e for e in events if e["event"] == "train_start")
    end = next(e for e in events if e["event"] == "finished")
    s = result.summary
    return {"tokens": s["tokens_processed"], "seconds": end["time"] - start["time"],
            "save_s": s["checkpoint_save_seconds_mean"], "saves": s["checkpoints_saved"], "run_dir": result.run_dir}


def resume_round(work: Path, args, name: str) -> dict:
    """Run the finished run again: it resumes from its last checkpoint and stops at once."""
    from frugaltune.report.ledger import read_events
    from frugaltune.train.config import RunConfig
    from frugaltune.train.recipe import train

    t0 = time.time()
    result = train(RunConfig.from_dict(run_config(work, args, name)), quiet=True)
    events = [e for e in read_events(result.run_dir / "metrics.jsonl") if e["attempt"] == 2]
    resume = next(e for e in events if e["event"] == "resume")
    start = next(e for e in events if e["event"] == "train_start")
    return {"load_s": resume["seconds"], "start_to_loop_s": start["time"] - t0}


def trainer_round(work: Path, args, preset_dir: Path) -> dict:
    """The plain script: Trainer + peft on the same preset model and the same tokenized examples."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, set_seed

    from frugaltune.train.data import build_examples, collate, find_labels, load_records

    set_seed(0)
    tok = AutoTokenizer.from_pretrained(preset_dir)
    records = load_records(DATA, format="classification")
    examples = build_examples(records, tok, format="classification", max_seq_len=args.seq_len,
                              labels=find_labels(records), prompt_template=TEMPLATE)
    model = AutoModelForCausalLM.from_pretrained(preset_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05,
                                             target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    seen = {"tokens": 0}

    def collator(batch):
        out = collate(batch, tok.pad_token_id)
        seen["tokens"] += int(out["attention_mask"].sum())
        return out

    targs = TrainingArguments(output_dir=str(work / "trainer"), per_device_train_batch_size=args.micro_batch,
                              gradient_accumulation_steps=1, max_steps=args.steps, learning_rate=2e-4,
                              lr_scheduler_type="cosine", warmup_steps=10, optim="adamw_torch", max_grad_norm=1.0,
                              logging_steps=10, save_strategy="no", report_to="none", use_cpu=True,
                              dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=True, seed=0)
    trainer = Trainer(model=model, args=targs, train_dataset=examples, data_collator=collator)
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # its log lines would interleave with ours; it still logs every 10
    t0 = time.perf_counter()
    trainer.train()
    return {"tokens": seen["tokens"], "seconds": time.perf_counter() - t0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--preset", default="small-llama")
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=192)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    import logging

    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()
    logging.getLogger("frugaltune").setLevel(logging.ERROR)
    work = Path(tempfile.mkdtemp(prefix="frugaltune-bench-"))
    rows = {"frugaltune": [], "trainer": []}
    resume = None
    try:
        for r in range(args.rounds):
            ft = frugaltune_round(work, args, f"ft{r}")
            rows["frugaltune"].append(ft)
            rows["trainer"].append(trainer_round(work, args, ft["run_dir"] / "preset-model"))
            if resume is None:
                resume = resume_round(work, args, f"ft{r}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rate = {k: [x["tokens"] / x["seconds"] for x in v] for k, v in rows.items()}
    med = {k: statistics.median(v) for k, v in rate.items()}
    ratio = med["frugaltune"] / med["trainer"]
    print(f"runner overhead: {args.preset}, LoRA r8 q/v, {args.steps} steps x micro-batch {args.micro_batch}, "
          f"fp32, CPU x {torch.get_num_threads()} threads, {args.rounds} interleaved rounds")
    for k in ("trainer", "frugaltune"):
        each = ", ".join(f"{x:,.0f}" for x in rate[k])
        print(f"  {k:<11} tokens/s median {med[k]:>8,.0f}   (rounds: {each})")
    print(f"  ratio frugaltune / Trainer = {ratio:.3f}   (bar >= 0.95)")
    saves = rows["frugaltune"][0]
    print(f"  checkpoint save (adapter + optimizer + RNG, fsync, sha256 manifest): {saves['save_s'] * 1000:.1f} ms "
          f"mean over {saves['saves']} saves, mirrored in the background")
    print(f"  resume: checkpoint load {resume['load_s'] * 1000:.1f} ms; train() call to first step "
          f"{resume['start_to_loop_s']:.1f} s (preset, data, model, checkpoint; imports already done)")
    if args.json:
        tokens = {k: [x["tokens"] for x in v] for k, v in rows.items()}
        print(json.dumps({"tokens_per_sec": rate, "tokens": tokens, "median": med, "ratio": ratio,
                          "save_s": saves["save_s"], "resume": resume}, default=str))
    return 0 if ratio >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
