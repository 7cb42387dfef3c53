"""One count of training rows and optimizer steps for the estimator, the dry run and the trainer."""

from __future__ import annotations

import itertools

from ft_runner_util import write_config

from frugaltune.estimate.steps import held_out_rows, optimizer_steps, train_rows
from frugaltune.train.config import load_config
from frugaltune.train.data import train_eval_split
from frugaltune.train.dryrun import dry_run
from frugaltune.train.loader import BatchPlan, total_steps


def test_the_trainer_counts_steps_as_the_estimator_does():
    for n, mb, accum, world, epochs in itertools.product((1, 7, 600, 601), (1, 2, 8), (1, 3), (1, 2, 8), (1, 2.5, 3)):
        plan = BatchPlan(n, mb, seed=0, world_size=world)
        assert total_steps(plan, accum, epochs, None) == optimizer_steps(n, mb, accum, world, epochs)


def test_the_hold_out_is_the_split_the_trainer_makes():
    for n, fraction in itertools.product((2, 10, 600, 601), (0.0, 0.05, 0.1, 0.25)):
        train, held = train_eval_split(list(range(n)), fraction, seed=0)
        assert (len(train), len(held)) == (train_rows(n, fraction), held_out_rows(n, fraction))


def test_dry_run_epochs_do_not_grow_with_the_gpu_count(tmp_path):
    # a config for 8 GPUs and 3 epochs is 3 epochs, and its steps are counted over 8 ranks
    for gpus in (1, 8):
        cfg = write_config(tmp_path, name=f"g{gpus}.yaml", steps=None, training={"epochs": 3, "max_steps": None},
                           cost={"gpu": "a100-80gb", "platform": None, "num_gpus": gpus})
        plan = dry_run(load_config(cfg))
        assert plan["epochs"] == 3 and plan["estimate"]["job"]["epochs"] == 3
        assert plan["steps"] == plan["estimate"]["job"]["steps_total"]
        t = load_config(cfg).training
        assert plan["steps"] == optimizer_steps(plan["sequences_per_epoch"], t.micro_batch, t.grad_accum, gpus, 3)


def test_packed_sequences_are_counted_as_the_trainer_packs():
    # rows of one length: the trainer's greedy packing (whole rows, never split) makes exactly the count the
    # estimator uses for steps
    from frugaltune.estimate.steps import sequences_per_epoch
    from frugaltune.train.data import pack_examples

    for rows, length, seq_len in itertools.product((1, 7, 540), (30, 141, 256, 300, 600), (256, 512)):
        examples = [{"input_ids": [5] * (length - 1) + [2], "labels": [5] * length} for _ in range(rows)]
        packed = pack_examples(examples, seq_len, eos_id=2)
        expected = sequences_per_epoch(rows, min(length, seq_len), seq_len, packing=True)
        if length <= seq_len:
            assert len(packed) == expected, (rows, length, seq_len)
