"""Packed batches with and without padding, side by side in one run: what each micro-batch layout computes and how
fast, on the same examples.

    python bench/packing_layouts.py [--rounds 3] [--steps 20] [--seq-len 512] [--micro-batch 4]

Variants (LoRA r=8 on q/v of the small-llama preset, fp32, one torch thread, forward + backward + AdamW step):
  unpacked, padded    one example per sequence, right-padded to the longest of the micro-batch (data.packing off)
  packed, padded      packed rows right-padded with an attention_mask: examples in a row attend to each other
                      (what frugaltune's runner did before padding-free packing; it still does for models that
                      cannot read documents from position_ids)
  packed, rows        the packed rows side by side, position_ids restarting per example, the filler a document
                      of its own, no attention_mask: a block-diagonal mask (what the runner feeds sdpa and eager)
  packed, flat        the micro-batch as one row of real tokens only (what the runner feeds flash_attention_2/3,
                      whose varlen kernel then attends each example alone; on this CPU, sdpa builds the block mask
                      over the whole flattened row instead, so its attention time here is an upper bound)
Every packed variant trains the same rows in the same order (train/loader.BatchPlan); the unpacked one the same
examples in its own order, as many micro-batches as it takes to cover the same examples. Printed per variant: real
tokens, positions computed (real + pad), attention scores per head and layer (the mask's area; the varlen
kernel's is the examples' own triangles), CPU seconds and real tokens per CPU second, median over rounds whose
order rotates.
"""

from __future__ import annotations

import argparse
import os
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
SEED = 0
VARIANTS = ("unpacked, padded", "packed, padded", "packed, rows", "packed, flat")


def batches(tok, args) -> dict[str, list[dict]]:
    """Each variant's micro-batches as tensors, covering the same examples."""
    from frugaltune.train.data import build_examples, collate, collate_packed, find_labels, load_records, pack_examples
    from frugaltune.train.loader import BatchPlan

    records = load_records(DATA, format="classification")
    examples = build_examples(records, tok, format="classification", max_seq_len=args.seq_len,
                              labels=find_labels(records))
    rows = pack_examples(examples, args.seq_len, eos_id=tok.eos_token_id)
    plan = BatchPlan(len(rows), args.micro_batch, SEED)
    packed = [[rows[i] for i in plan.indices(g)] for g in range(args.steps)]
    n_examples = sum(len(r["lengths"]) for b in packed for r in b)
    pad = tok.pad_token_id
    out = {"packed, padded": [collate(b, pad) for b in packed],
           "packed, rows": [collate_packed(b, pad, layout="rows") for b in packed],
           "packed, flat": [collate_packed(b, pad, layout="flat") for b in packed]}
    order = BatchPlan(len(examples), args.micro_batch, SEED).order(0)[:n_examples]
    out["unpacked, padded"] = [collate([examples[i] for i in order[s:s + args.micro_batch]], pad)
                               for s in range(0, len(order), args.micro_batch)]
    out["_varlen_scores"] = sum(n * (n + 1) // 2 for b in packed for r in b for n in r["lengths"])
    packed_real = sum(len(r["input_ids"]) for b in packed for r in b)
    out["_real"] = {v: packed_real for v in VARIANTS[1:]}
    out["_real"]["unpacked, padded"] = sum(int(b["attention_mask"].sum()) for b in out["unpacked, padded"])
    return out


def scores(batch: dict) -> int:
    """Attention scores per head and layer the mask spans (causal half: what a causal kernel would skip is not
    counted either way)."""
    b, w = batch["input_ids"].shape
    return b * w * (w + 1) // 2


def lora_model(preset_dir: Path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, set_seed

    set_seed(SEED)
    model = AutoModelForCausalLM.from_pretrained(preset_dir, dtype=torch.float32)
    model.config.use_cache = False
    return get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                                            task_type="CAUSAL_LM"))


def run(preset_dir: Path, micro_batches: list[dict]) -> float:
    """CPU seconds of forward + backward + optimizer step over the micro-batches."""
    import torch

    from frugaltune.train.loss import summed_loss

    model = lora_model(preset_dir)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    start = time.process_time()
    for batch in micro_batches:
        n = max(1, int(batch["labels"][:, 1:].ne(-100).sum()))
        (summed_loss(model, batch, sparse_logits=True) / n).backward()
        opt.step()
        opt.zero_grad()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="packed micro-batches per variant")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--micro-batch", type=int, default=4)
    parser.add_argument("--preset", default="small-llama")
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer

    from frugaltune.train.data import load_records
    from frugaltune.train.presets import build_preset, texts_of

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        preset_dir = build_preset(args.preset, Path(tmp) / "preset", seed=SEED,
                                  texts=texts_of(load_records(DATA, format="classification")))
        tok = AutoTokenizer.from_pretrained(preset_dir)
        data = batches(tok, args)
        seconds: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for r in range(args.rounds):
            for v in VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]:
                seconds[v].append(run(preset_dir, data[v]))
    print(f"packing layouts: {args.preset}, LoRA r8 q/v, fp32, 1 thread, seq_len {args.seq_len}, micro-batch "
          f"{args.micro_batch}, {args.steps} packed micro-batches, median of {args.rounds} rounds (CPU seconds)")
    print(f"{'variant':<18} {'micro-batches':>13} {'real tokens':>11} {'computed':>9} {'pad %':>6} "
          f"{'attn scores':>12} {'CPU s':>7} {'real tok/s':>10}")
    for v in VARIANTS:
        bs = data[v]
        real = data["_real"][v]
        computed = sum(b["input_ids"].numel() for b in bs)
        s = statistics.median(seconds[v])
        print(f"{v:<18} {len(bs):>13} {real:>11,} {computed:>9,} {100 * (1 - real / computed):>5.1f}% "
              f"{sum(scores(b) for b in bs):>12,} {s:>7.2f} {real / s:>10,.0f}")
    print(f"varlen flash attention (flash_attention_2/3) on the packed rows: {data['_varlen_scores']:,} attention "
          "scores per head and layer (each example's own causal triangle), the flat layout's real tokens")


if __name__ == "__main__":
    sys.exit(main())
