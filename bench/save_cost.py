"""Checkpoint save cost vs the length of the run's metrics log (issue 14: a save must cost the same at step 10 and at
step 100,000).

Two real tiny-preset LoRA runs are set up side by side: one with an empty metrics.jsonl, one whose log already holds
N step events. Saves alternate between them (same model, same files), R rounds; the medians and their ratio are
printed. For comparison, the same run prints what the old save added per checkpoint: re-reading and re-summarising
the whole log, and copying it into the checkpoint.

    .venv/bin/python bench/save_cost.py [--entries 100000] [--rounds 15]
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "train"))

from ft_runner_util import config_dict  # noqa: E402

from frugaltune.report import ledger  # noqa: E402
from frugaltune.train.config import RunConfig  # noqa: E402
from frugaltune.train.recipe import Recipe  # noqa: E402


def recipe(tmp: Path, name: str) -> Recipe:
    cfg = RunConfig.from_dict(config_dict(tmp, steps=10**6, out=name,
                                          checkpoints={"every_steps": 10**6, "every_minutes": None, "keep_last": 2}))
    r = Recipe(cfg, quiet=True)
    r.setup()
    return r


def fill_log(r: Recipe, entries: int) -> None:
    """N step events as a long run writes them (one every log_every steps)."""
    line = {"event": "step", "attempt": r.ledger.attempt, "loss": 2.3456789, "lr": 1.234e-4, "epoch": 1.5,
            "tokens_processed": 123456789, "trainable_tokens": 12345678, "attempt_tokens": 123456789,
            "attempt_train_seconds": 12345.678, "tokens_per_sec": 4321.5, "peak_memory_gb": 1.234,
            "peak_memory_source": "process_rss_peak"}
    with r.ledger.path.open("a") as f:
        for i in range(entries):
            f.write(json.dumps({**line, "step": i + 1, "time": time.time()}) + "\n")
    reopened = ledger.Ledger(r.run_dir)  # the tally is built once, as when a run restarts on a long log
    reopened.attempt = r.ledger.attempt
    r.ledger.close()
    r.ledger = reopened


def timed_save(r: Recipe) -> float:
    r.progress.step += 1
    t0 = time.perf_counter()
    r.save_checkpoint("bench")
    return time.perf_counter() - t0


def old_extra_seconds(r: Recipe, scratch: Path) -> float:
    """What each save used to add: read + summarise the whole log, and copy it into the checkpoint."""
    t0 = time.perf_counter()
    ledger.summarize(ledger.read_events(r.ledger.path))
    shutil.copyfile(r.ledger.path, scratch / "metrics.jsonl")
    os.fsync(os.open(scratch / "metrics.jsonl", os.O_RDONLY))
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="frugaltune-save-cost-"))
    try:
        empty, long = recipe(tmp, "empty"), recipe(tmp, "long")
        fill_log(long, args.entries)
        size_mb = long.ledger.path.stat().st_size / 1e6
        timed_save(empty), timed_save(long)  # warm-up: first saves create directories, import safetensors
        a, b, old = [], [], []
        for _ in range(args.rounds):  # alternate, so drift on a shared machine hits both alike
            a.append(timed_save(empty))
            b.append(timed_save(long))
            old.append(old_extra_seconds(long, tmp))
        ma, mb, mo = (statistics.median(x) * 1e3 for x in (a, b, old))
        print(f"checkpoint save, median of {args.rounds} alternating rounds (tiny-preset LoRA, CPU):")
        print(f"  empty metrics log            {ma:8.1f} ms")
        print(f"  {args.entries:>7,} entries ({size_mb:5.1f} MB)  {mb:8.1f} ms   ratio {mb / ma:.2f}x  (bar: <= 1.5x)")
        print(f"  the old re-read + copy alone {mo:8.1f} ms   (old save at this length ~{(ma + mo) / ma:.1f}x)")
        for r in (empty, long):
            r.cleanup()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
