"""The runner's own overhead, measured loss for loss: frugaltune's runner beside a plain PyTorch + peft loop and the
Hugging Face Trainer, on the same token ids in the same batch order with the same checkpoint cadence, in paired
rounds whose order rotates (these machines are noisy: every figure is a median with the spread of the pairs).

    python bench/runner_overhead.py [--pairs 5] [--steps 100] [--preset small-llama]

Four runs per round, on CPU, in one process (imports and the preset model are built once, before timing):
  plain, full logits    a plain loop: model(**batch).loss over every position, AdamW, cosine schedule, grad clip
  plain, sparse logits  the same loop projecting onto the vocabulary only where a loss is taken (logits_to_keep)
  HF Trainer            Trainer + peft (full logits), its own loop, fed the same batches in the same order
  frugaltune            `frugaltune train` (sparse logits where the model supports them: this preset does)
Every run trains LoRA r=8 on q/v of the preset (4 layers, hidden 256, a BPE tokenizer trained on the data) on the
trade-classifier data, micro-batch 4, fp32, seed 0, and saves a resumable checkpoint (adapter, optimizer,
scheduler, RNG) every 50 steps (--save-every) and at the end. frugaltune's saves are atomic (fsync, sha256
manifest), the others write plainly; no mirror. The batches are frugaltune's own (train/loader.BatchPlan over the same examples), so
all four see identical token ids: the bench checks the token counts agree.

tokens/s = real (unpadded) tokens / time of the training loop including its saves: CPU time of the process
(steady when a shared machine hands out CPU unevenly; one torch thread) and wall time (frugaltune: from its
`train_start` to its `finished` event). Ratios are per round (pair), printed as median (min-max). Lines printed: the saving from computing the loss only where it is taken
(plain sparse / plain full), the runner's overhead loss for loss (frugaltune vs plain sparse), the Trainer's
(Trainer vs plain full), and frugaltune vs the Trainer as a user sees them. Bar: frugaltune >= 0.95x the plain
loop with the same loss.
"""

from __future__ import annotations

import argparse
import gc
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
WARMUP, LR, SEED, LORA = 10, 2e-4, 0, {"r": 8, "alpha": 16, "dropout": 0.05}
VARIANTS = ("plain, full logits", "plain, sparse logits", "HF Trainer", "frugaltune")


def run_config(work: Path, args, name: str, steps: int) -> dict:
    return {
        "model": {"source": f"preset:{args.preset}", "vocab_size": args.vocab_size},
        "method": {"kind": "lora", "lora": {**LORA, "targets": ["q_proj", "v_proj"]}},
        "data": {"path": str(DATA), "format": "classification", "prompt_template": TEMPLATE,
                 "max_seq_len": args.seq_len, "eval_fraction": 0.0},
        "training": {"max_steps": steps, "lr": LR, "schedule": "cosine", "warmup_steps": WARMUP,
                     "micro_batch": args.micro_batch, "grad_accum": 1, "precision": "fp32", "seed": SEED,
                     "log_every": 10, "max_grad_norm": 1.0, "cpu_threads": args.threads},
        "checkpoints": {"every_steps": args.save_every, "every_minutes": None, "keep_last": 2},
        "output": {"dir": str(work / name)},
    }


def frugaltune_run(work: Path, args, name: str, steps: int) -> dict:
    from frugaltune.report.ledger import read_events
    from frugaltune.train.config import RunConfig
    from frugaltune.train.recipe import Recipe, train

    loop = Recipe.train
    cpu = {}

    def timed_loop(self):  # CPU time of the training loop (saves included), as the other runs measure theirs
        start = time.process_time()
        try:
            return loop(self)
        finally:
            cpu["s"] = time.process_time() - start

    Recipe.train = timed_loop
    try:
        result = train(RunConfig.from_dict(run_config(work, args, name, steps)), quiet=True)
    finally:
        Recipe.train = loop
    events = read_events(result.run_dir / "metrics.jsonl")
    start = next(e for e in events if e["event"] == "train_start")
    end = next(e for e in events if e["event"] == "finished")
    s = result.summary
    return {"tokens": s["tokens_processed"], "seconds": end["time"] - start["time"], "cpu_s": cpu["s"],
            "run_dir": result.run_dir, "save_s": s["checkpoint_save_seconds_mean"], "saves": s["checkpoints_saved"]}


def shared_batches(preset_dir: Path, args) -> tuple[object, list[list[dict]]]:
    """(tokenizer, the micro-batches frugaltune trains on, in its order): same records, examples and BatchPlan."""
    from transformers import AutoTokenizer

    from frugaltune.train.data import build_examples, find_labels, load_records
    from frugaltune.train.loader import BatchPlan

    tok = AutoTokenizer.from_pretrained(preset_dir)
    records = load_records(DATA, format="classification")
    examples = build_examples(records, tok, format="classification", max_seq_len=args.seq_len,
                              labels=find_labels(records), prompt_template=TEMPLATE)
    plan = BatchPlan(len(examples), args.micro_batch, SEED)
    return tok, [[examples[i] for i in plan.indices(g)] for g in range(args.steps)]


def lora_model(preset_dir: Path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, set_seed

    set_seed(SEED)
    model = AutoModelForCausalLM.from_pretrained(preset_dir, dtype=torch.float32)
    model.config.use_cache = False  # training needs no KV cache (frugaltune sets the same)
    return get_peft_model(model, LoraConfig(r=LORA["r"], lora_alpha=LORA["alpha"], lora_dropout=LORA["dropout"],
                                            target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))


def plain_save(model, optimizer, scheduler, out: Path) -> None:
    """What a careful plain script saves to resume: the adapter, optimizer, scheduler and RNG state."""
    import torch

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state()}, out / "trainer_state.pt")


def plain_run(work: Path, preset_dir: Path, tok, batches: list[list[dict]], sparse: bool, save_every: int) -> dict:
    import torch
    from transformers import get_cosine_schedule_with_warmup

    from frugaltune.train.data import collate
    from frugaltune.train.loss import summed_loss

    model = lora_model(preset_dir)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=LR, weight_decay=0.0)
    scheduler = get_cosine_schedule_with_warmup(optimizer, WARMUP, len(batches))
    tokens, t0, c0 = 0, time.perf_counter(), time.process_time()
    for step, examples in enumerate(batches, start=1):
        batch = collate(examples, tok.pad_token_id)
        tokens += int(batch["attention_mask"].sum())
        if sparse:  # the summed loss over trained tokens, projected only there, divided by their count
            loss = summed_loss(model, batch, sparse_logits=True) / max(1, int(batch["labels"][:, 1:].ne(-100).sum()))
        else:
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if step % save_every == 0 or step == len(batches):
            plain_save(model, optimizer, scheduler, work / f"plain-{sparse}" / f"step-{step}")
    return {"tokens": tokens, "seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}


def trainer_run(work: Path, preset_dir: Path, tok, batches: list[list[dict]], args) -> dict:
    from torch.utils.data import SequentialSampler
    from transformers import Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    from frugaltune.train.data import collate

    class InOrder(Trainer):  # frugaltune's batch order: the dataset is already laid out micro-batch by micro-batch
        def _get_train_sampler(self, *unused, **kw):
            return SequentialSampler(self.train_dataset)

    seen = {"tokens": 0}

    def collator(examples):
        out = collate(examples, tok.pad_token_id)
        seen["tokens"] += int(out["attention_mask"].sum())
        return out

    targs = TrainingArguments(output_dir=str(work / "trainer"), per_device_train_batch_size=args.micro_batch,
                              gradient_accumulation_steps=1, max_steps=len(batches), learning_rate=LR,
                              lr_scheduler_type="cosine", warmup_steps=WARMUP, optim="adamw_torch", max_grad_norm=1.0,
                              weight_decay=0.0, logging_steps=10, save_strategy="steps", save_steps=args.save_every,
                              report_to="none", use_cpu=True, dataloader_num_workers=0, remove_unused_columns=False,
                              disable_tqdm=True, seed=SEED, data_seed=SEED)
    trainer = InOrder(model=lora_model(preset_dir), args=targs, train_dataset=[ex for b in batches for ex in b],
                      data_collator=collator)
    trainer.remove_callback(PrinterCallback)
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.train()  # saves every save_every steps and at max_steps
    return {"tokens": seen["tokens"], "seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.3f} ({min(values):.2f}-{max(values):.2f})"


def rounds(work: Path, args, preset_dir: Path, tok, batches) -> dict[str, list[dict]]:
    """`args.pairs` rounds of the four runs; each round starts one run later in VARIANTS (rotating order)."""
    runners = {
        "plain, full logits": lambda r: plain_run(work / f"r{r}", preset_dir, tok, batches, False, args.save_every),
        "plain, sparse logits": lambda r: plain_run(work / f"r{r}", preset_dir, tok, batches, True, args.save_every),
        "HF Trainer": lambda r: trainer_run(work / f"r{r}", preset_dir, tok, batches, args),
        "frugaltune": lambda r: frugaltune_run(work, args, f"ft{r}", args.steps),
    }
    out: dict[str, list[dict]] = {v: [] for v in VARIANTS}
    for r in range(args.pairs):
        for name in VARIANTS[r % 4:] + VARIANTS[:r % 4]:
            out[name].append(runners[name](r))
            gc.collect()
        shutil.rmtree(work / f"r{r}", ignore_errors=True)
    return out


PAIRS = (("loss only where it is taken (plain sparse / plain full)", "plain, sparse logits", "plain, full logits"),
         ("runner, loss for loss (frugaltune / plain sparse)", "frugaltune", "plain, sparse logits"),
         ("HF Trainer, loss for loss (Trainer / plain full)", "HF Trainer", "plain, full logits"),
         ("frugaltune / HF Trainer as users run them", "frugaltune", "HF Trainer"))


def ratios(runs: dict[str, list[dict]], clock: str) -> dict[str, list[float]]:
    """Per pair (round) ratio of tokens/s for each line of PAIRS, by `clock` ("cpu_s" or "seconds")."""
    rate = {k: [x["tokens"] / x[clock] for x in v] for k, v in runs.items()}
    return {label: [a / b for a, b in zip(rate[x], rate[y])] for label, x, y in PAIRS}


def report(runs: dict[str, list[dict]], args, threads: int) -> float:
    tokens = {k: {x["tokens"] for x in v} for k, v in runs.items()}
    print(f"runner overhead: {args.preset} (vocabulary {args.vocab_size:,}), LoRA r8 q/v, {args.steps} steps x micro-batch {args.micro_batch}, fp32, "
          f"CPU x {threads} thread(s); {args.pairs} rounds, rotating order; a checkpoint every {args.save_every} "
          "steps and at the end")
    same = len(set.union(*tokens.values())) == 1
    print(f"  same token ids in every run: {'yes' if same else 'NO: ' + str(tokens)} "
          f"({next(iter(tokens['frugaltune'])):,} tokens)")
    for k in VARIANTS:
        cpu, wall = ([x["tokens"] / x[c] for x in runs[k]] for c in ("cpu_s", "seconds"))
        print(f"  {k:<21} tokens per CPU-second median {statistics.median(cpu):>7,.0f} "
              f"(rounds {', '.join(f'{x:,.0f}' for x in cpu)}); per wall second {statistics.median(wall):,.0f}")
    by_cpu, by_wall = ratios(runs, "cpu_s"), ratios(runs, "seconds")
    print("  ratios of tokens/s, paired by round: CPU time (steady on a shared machine) | wall time")
    for label, *_ in PAIRS:
        print(f"    {label:<53} {spread(by_cpu[label])} | {spread(by_wall[label])}")
    runner = statistics.median(by_cpu[PAIRS[1][0]])
    print(f"  runner overhead, loss for loss: {100 * (1 - runner):.1f} % of CPU time (bar: ratio >= 0.95)")
    ft = runs["frugaltune"][0]
    print(f"  frugaltune checkpoint save (adapter + optimizer + scheduler + RNG, fsync, sha256 manifest): "
          f"{ft['save_s'] * 1000:.1f} ms mean over {ft['saves']} saves")
    return runner


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--save-every", type=int, default=50, help="checkpoint cadence of every run (steps)")
    parser.add_argument("--preset", default="small-llama")
    parser.add_argument("--vocab-size", type=int, default=512, help="the preset tokenizer's vocabulary (the LM head's "
                        "size, which the loss-only-where-taken saving scales with)")
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=192)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for every run (default 1: steadier "
                        "on a shared machine)")
    args = parser.parse_args()
    import logging

    import torch
    import transformers

    transformers.utils.logging.set_verbosity_error()
    logging.getLogger("frugaltune").setLevel(logging.ERROR)
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="frugaltune-bench-"))
    try:
        preset_dir = frugaltune_run(work, args, "warmup", 2)["run_dir"] / "preset-model"  # builds the preset, untimed
        tok, batches = shared_batches(preset_dir, args)
        ratio = report(rounds(work, args, preset_dir, tok, batches), args, torch.get_num_threads())
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ratio >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
