"""How many rows a run trains on and how many optimizer steps that makes: one definition for the estimator,
`frugaltune plan`, `train --dry-run` and the trainer, so the plan's figures are the run's.

Pure standard library (the estimate path's start-up budget).
"""

from __future__ import annotations

import math

DEFAULT_EVAL_FRACTION = 0.1  # share of the rows a run holds out for evaluation when it has no eval file


def held_out_rows(rows: int, eval_fraction: float) -> int:
    """Rows a run holds out for evaluation when it has no separate eval file: round(rows x fraction), at least
    one when the fraction is positive (train/data.py's `train_eval_split` holds out exactly these)."""
    return 0 if eval_fraction <= 0 else max(1, round(rows * eval_fraction))


def train_rows(rows: int, eval_fraction: float = 0.0) -> int:
    """Rows left for training after the hold-out of `held_out_rows`."""
    return rows - held_out_rows(rows, eval_fraction)


def batches_per_epoch(sequences: int, micro_batch: int, world_size: int = 1) -> int:
    """Micro-batches each rank runs per epoch: every rank takes `micro_batch` sequences per micro-batch and the
    last partial batch still counts (train/loader.py's BatchPlan wraps it around, as DistributedSampler does)."""
    return max(1, math.ceil(sequences / (micro_batch * world_size)))


def optimizer_steps(sequences: int, micro_batch: int, grad_accum: int, world_size: int, epochs: float) -> int:
    """Optimizer steps for `epochs` passes over `sequences` training sequences (packed rows when packing):
    ceil(epochs x micro-batches per epoch / grad_accum), as the trainer counts them."""
    return max(1, math.ceil(epochs * batches_per_epoch(sequences, micro_batch, world_size) / grad_accum - 1e-9))


def sequences_per_epoch(rows: int, tokens_per_row: float, seq_len: int, packing: bool) -> int:
    """Sequences one epoch feeds the model: the rows themselves, or with packing as the trainer packs
    (train/data.py `pack_examples`: whole rows, in order, never split, so a sequence holds floor(seq_len /
    tokens per row) rows of the mean length; rows cut at `seq_len` take a sequence each)."""
    if not packing:
        return rows
    per_sequence = max(1, int(seq_len // max(min(tokens_per_row, seq_len), 1e-9)))
    return max(1, math.ceil(rows / per_sequence - 1e-9))
