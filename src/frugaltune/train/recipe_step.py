"""One optimizer step and what follows it (the parts of recipe.Recipe.train): the step's micro-batches and loss, the
counters, the log line, evaluations and when a checkpoint is due. Whatever decides to stop or save is agreed by
every rank (`agree`), so all of them take the same branch."""

from __future__ import annotations

import time

from frugaltune.train import faults, guards, stack_runtime


def micro_batch(r, g: int) -> tuple[dict, int]:
    """Micro-batch number `g` as tensors in the run's layout (padded, or packed without padding: data.collate_packed)
    and its count of real tokens (pad tokens not counted)."""
    from frugaltune.train.data import collate, collate_packed

    rows = [r.train_set[i] for i in r.plan.indices(g)]
    tokens = sum(len(row["input_ids"]) for row in rows)
    layout = getattr(r, "layout", "padded")
    if layout == "padded":
        return collate(rows, r.tokenizer.pad_token_id), tokens
    return collate_packed(rows, r.tokenizer.pad_token_id, layout=layout), tokens


def train_step(r) -> None:
    """Forward and backward over the step's grad_accum micro-batches, then the optimizer and scheduler step."""
    t0 = time.perf_counter()
    ga, eng = r.cfg.training.grad_accum, r.engine
    batches, counts = zip(*(micro_batch(r, r.progress.micro_batches + i) for i in range(ga)))
    n_trained = sum(int(b["labels"][:, 1:].ne(-100).sum()) for b in batches)
    tokens = sum(counts)
    n_trained, tokens = sum_over_ranks(r, n_trained, tokens)  # the step's totals over all ranks
    n_global = max(1, n_trained)
    loss_sum = 0.0
    for i, batch in enumerate(batches):
        with eng.micro_step(r.model, last=i == ga - 1):
            batch_dev = {k: v.to(eng.device, non_blocking=True) for k, v in batch.items()}
            # summed over tokens / trained tokens of the whole step (x ranks: every engine averages gradients)
            loss = stack_runtime.step_loss(r.model, batch_dev, r.cfg.training,
                                           cuda=str(eng.device).startswith("cuda"),
                                           sparse_logits=r.sparse_logits) * (eng.num_processes / n_global)
            eng.backward(r.model, loss)
        loss_sum = loss_sum + loss.detach()
    guards.check_step(r, loss_sum)  # a non-finite loss or gradient stops the run before it reaches the weights
    if eng.step(r.model, r.optimizer, r.cfg.training.max_grad_norm):
        r.scheduler.step()
    if r.torch.cuda.is_available():  # CUDA is asynchronous: end the step's clock when its work is done
        r.torch.cuda.synchronize()
    r._count(tokens, n_trained, time.perf_counter() - t0, loss_sum / eng.num_processes)


def count(r, tokens: int, trained: int, seconds: float, loss) -> None:
    """The step into the trajectory's progress (checkpointed) and this attempt's counters (not)."""
    p, a = r.progress, r.attempt
    p.step += 1
    p.micro_batches += r.cfg.training.grad_accum
    p.tokens_processed += tokens
    p.trainable_tokens += trained
    a.tokens += tokens
    a.train_seconds += seconds
    a.window_tokens += tokens
    a.window_seconds += seconds
    a.window_losses.append(loss)


def after_step(r) -> None:
    """The log line, an evaluation and a checkpoint when due, the mirror's news."""
    step, t = r.progress.step, r.cfg.training
    if step % t.log_every == 0 or step == r.total_steps:
        _log_step(r)
    if t.eval_every and step % t.eval_every == 0 and step < r.total_steps:
        r._evaluate()
    reason = checkpoint_due(r)
    if reason:
        r.save_checkpoint(reason)
    faults.report_news(r.mirror, r.ledger, step)


def _log_step(r) -> None:
    a = r.attempt
    loss = float(sum(a.window_losses)) / len(a.window_losses)
    if r.engine.num_processes > 1:  # each rank holds its share of the step's loss
        loss = float(r.engine.sum_over_ranks(loss)[0])
    rate = a.window_tokens / a.window_seconds if a.window_seconds > 0 else None
    peak_gb, source = _peak_memory(r.torch)
    p = r.progress
    if r.engine.is_main:
        r.ledger.write("step", step=p.step, loss=loss, lr=r.scheduler.get_last_lr()[0],
                       epoch=p.micro_batches / r.plan.batches_per_epoch, **r.counters(),
                       tokens_per_sec=rate, peak_memory_gb=peak_gb, peak_memory_source=source)
    r.bar.update(p.step, loss, rate, train_seconds=a.train_seconds)
    a.window_tokens, a.window_seconds, a.window_losses = 0, 0.0, []


def _peak_memory(torch) -> tuple[float, str]:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 1e9, "cuda_max_allocated"
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, "process_rss_peak"


def checkpoint_due(r) -> str | None:
    """Why a checkpoint is due after this step ("every_steps", "every_minutes"), or None."""
    c, step = r.cfg.checkpoints, r.progress.step
    if c.every_steps and step % c.every_steps == 0:
        return "every_steps"
    # training time since the last save: evaluations and saves are not work a crash would lose
    elapsed = r.attempt.train_seconds - r.attempt.train_seconds_at_save
    if agree(r, bool(c.every_minutes) and elapsed >= (c.every_minutes or 0) * 60):
        return "every_minutes"
    return None


def agree(r, flag: bool) -> bool:
    """True on every rank when it is true on any (a stop or a time-based save must happen everywhere)."""
    if r.engine.num_processes == 1:
        return flag
    return sum_over_ranks(r, int(flag)) > 0


def sum_over_ranks(r, *values: int):
    """The sums over all ranks of integer `values` (one collective); the values themselves in a single process."""
    sums = [int(round(x)) for x in r.engine.sum_over_ranks(*values)]
    return sums if len(sums) > 1 else sums[0]


def evaluate(r) -> dict:
    """Eval loss (and accuracy for classification) over the eval set; stops early, on every rank, at a signal."""
    from frugaltune.train.evaluate import eval_units
    from frugaltune.train.evaluate import evaluate as run_eval

    t0 = time.perf_counter()
    d, mb = r.cfg.data, r.cfg.training.micro_batch
    model = r.engine.eval_model(r.model)
    records = r.eval_records if r.labels else None
    with r.bar.phase("eval", eval_units(r.eval_set, records, r.labels, mb)) as progress:
        result = run_eval(model, r.tokenizer, r.eval_set, records, r.labels,
                          prompt_template=d.prompt_template, max_seq_len=d.max_seq_len, batch_size=mb,
                          device=r.engine.device, advance=progress.advance,
                          stop=lambda: agree(r, r.signals.requested))  # every rank stops at the same batch
    r.attempt.last_eval_step = r.progress.step
    if result["eval_loss"] is None and result["eval_accuracy"] is None:
        return result
    seconds = time.perf_counter() - t0
    if r.engine.is_main:
        r.ledger.write("eval", step=r.progress.step, seconds=seconds, **result)
    acc, loss = result["eval_accuracy"], result["eval_loss"]
    r.bar.note(f"eval step {r.progress.step}: loss {'-' if loss is None else f'{loss:.4f}'}"
               + (f", accuracy {acc:.3f}" if acc is not None else "") + f" ({seconds:.1f}s)")
    return result
