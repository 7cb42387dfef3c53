"""The fine-tuning recipe (LoRA, QLoRA, full): setup -> train -> save_checkpoint / load_checkpoint -> cleanup.

One plain PyTorch loop over a transformers (+ peft) model. How the model is spread over processes is the
engine's business (engines/: ddp through accelerate, FSDP2, DeepSpeed ZeRO), behind one small interface, so the
same loop runs on a CPU, one GPU, or N processes started by `frugaltune train` itself or by torchrun. It is built
to be stopped at any moment:

* every step is a pure function of the checkpointed state: micro-batch g of the data stream (loader.BatchPlan),
  the optimizer and scheduler, the python/numpy/torch/cuda RNG states; so k steps + stop + resume + N-k steps
  gives the same weights, optimizer state and losses as N straight steps;
* checkpoints every `every_steps` and/or `every_minutes`, and at the next step boundary after SIGTERM/SIGINT,
  after which the process exits with code 75 (signals.EXIT_INTERRUPTED);
* checkpoints are atomic (checkpoint.py): every rank writes its part (an engine's shards) into one staging
  directory that rank 0 then publishes; they are mirrored in the background (mirror.py);
* the ledger (report/ledger.py) records every attempt, so tokens/s, billed hours and dollars stay right across
  restarts.

Loss: each optimizer step is the mean cross-entropy over the trained tokens of all its micro-batches (each
micro-batch's summed loss is divided by the step's trained-token count), as the HF Trainer does.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from frugaltune.errors import CheckpointError, ConfigError, FrugalError, MirrorError
from frugaltune.report import compare, hardware, ledger
from frugaltune.report.heartbeat import Heartbeat
from frugaltune.train import checkpoint as ckpt
from frugaltune.train import faults, guards, stack_runtime
from frugaltune.train.config import PRESET_PREFIX, RunConfig, load_config
from frugaltune.train.data_auto import resolve_data_format
from frugaltune.train.loader import BatchPlan, total_steps
from frugaltune.train.loss import supports_logits_to_keep
from frugaltune.train.progress import PhaseProgress
from frugaltune.train.signals import EXIT_INTERRUPTED, StopSignals
from frugaltune.train.state import TrainProgress, config_differences, rng_from_tensors, rng_to_tensors

log = logging.getLogger("frugaltune.train")
SCHEDULES = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}
MIRROR_WAIT_ON_STOP_S = 120.0  # a spot notice gives ~2 min (AWS); do not outlive it waiting for an upload


@dataclass
class RunResult:
    """How `train` ended: status finished | interrupted, the process exit code, and the run's summary."""

    status: str
    exit_code: int
    run_dir: Path
    steps: int
    summary: dict = field(default_factory=dict)
    checkpoint: Path | None = None  # the newest complete checkpoint on disk when the run ended (None: none yet)
    error: FrugalError | None = None  # what went wrong after training itself finished (e.g. the mirror is down)


@dataclass
class _Attempt:
    """This process's own counters (not checkpointed: each attempt is billed and timed on its own)."""

    tokens: int = 0
    train_seconds: float = 0.0
    window_tokens: int = 0
    window_seconds: float = 0.0
    window_losses: list = field(default_factory=list)
    last_save_time: float = field(default_factory=time.monotonic)
    train_seconds_at_save: float = 0.0  # train_seconds at the last save (timed saves count training time only)
    last_saved_step: int = -1
    last_eval_step: int = -1


class Recipe:
    """One training run. Call `setup()`, then `train()`; `cleanup()` always."""

    def __init__(self, cfg: RunConfig, *, resume: str = "auto", quiet: bool = False, started_at: float | None = None):
        self.cfg = cfg
        self.started_at = started_at or time.time()  # the CLI passes its process start: imports are billed too
        self.is_main = int(os.environ.get("RANK", "0")) == 0  # torchrun / accelerate launch: rank 0 keeps the books
        self.resume = resume
        self.quiet = quiet
        self.run_dir = Path(cfg.output.dir)
        self.ckpt_root = self.run_dir / "checkpoints"
        self.progress = TrainProgress()
        self.attempt = _Attempt()
        self.signals = StopSignals()
        self.ledger: ledger.Ledger | None = None
        self.heartbeat: Heartbeat | None = None
        self.mirror = None
        self.bar = None
        self.estimate: dict | None = None
        self.estimate_note: str | None = None
        self.estimate_applies = False  # like for like: only an estimate for the machine measured is compared
        self.estimate_job: dict = {}  # the estimator's inputs for this run (frugaltune probe re-prices them)

    # ------------------------------------------------------------------ setup

    def setup(self) -> None:
        """Open the ledger, load data and model, build optimizer and scheduler, resume if there is a checkpoint."""
        from frugaltune.train import model as M

        self._quiet_libraries()  # before the training stack is imported (its import-time chatter included)
        if not self.cfg.is_preset:  # a missing model fails before anything heavy is imported or written
            M.check_hub_cached(M.resolve_source(self.cfg))
        self._prepare_run_dir()
        self.signals.__enter__()  # from here on a SIGTERM (even during model loading) stops at the next boundary
        self.ledger = ledger.Ledger(self.run_dir) if self.is_main else ledger.NullLedger(self.run_dir)
        self.ledger.write("attempt_start", durable=True, pid=os.getpid(), resume=self.resume,
                          host=os.uname().nodename, started=self.started_at)
        if self.is_main:  # a SIGKILL from here on is billed up to the last heartbeat (report/heartbeat.py)
            self.heartbeat = Heartbeat(self.run_dir, lambda: self.ledger.attempt).start()
        import torch
        from transformers import set_seed

        from frugaltune.train.engines import make_engine

        self.torch = torch
        if self.cfg.training.cpu_threads and not torch.cuda.is_available():
            torch.set_num_threads(self.cfg.training.cpu_threads)
        self.compute_dtype = self._compute_dtype(torch)
        self.engine = make_engine(self.cfg, self.compute_dtype)
        self.engine.check_shared_dir(self.run_dir)
        self.hardware = hardware.detect(torch, self.engine.device, self.engine.num_processes)
        set_seed(self.cfg.training.seed)
        self._load_data_and_model()
        self.model, self.optimizer = self.engine.prepare(self.model, self._build_optimizer)
        self.engine.note_params(self.model)
        self.scheduler = self._build_scheduler()
        self.sparse_logits = supports_logits_to_keep(self.engine.unwrap(self.model))
        self.mirror = self._open_mirror()
        self._resume()
        self._estimate()

    def _prepare_run_dir(self) -> None:
        faults.check_output_dir(self.run_dir)
        with faults.local_writes("creating the run directory", self.run_dir):
            self._create_run_dir()

    def _create_run_dir(self) -> None:
        existing = ckpt.list_checkpoints(self.ckpt_root)
        if self.resume == "never" and existing:
            raise ConfigError(f"{self.run_dir} already holds checkpoints ({existing[-1].name}) and --resume never "
                              "was given.", fix="Use a new --output-dir, delete that directory, or resume with "
                              "--resume auto.")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not self.is_main:
            return
        for stale in ckpt.clean_staging(self.ckpt_root):
            log.warning("removed %s left by a save that was interrupted.", stale.name)
        (self.run_dir / "config.yaml").write_text(self.cfg.to_yaml(header=f"frugaltune train {self.run_dir}/config.yaml"))

    def _quiet_libraries(self) -> None:
        from frugaltune.train.quiet import quiet_libraries

        quiet_libraries()

    def _compute_dtype(self, torch) -> str:
        from frugaltune.train.engines import resolve_precision

        return resolve_precision(self.cfg.training.precision)

    def _load_data_and_model(self) -> None:
        from frugaltune.train import data as D
        from frugaltune.train import model as M

        d, seed = self.cfg.data, self.cfg.training.seed
        train_records, eval_records = self._records(D)
        self.labels = (d.labels or D.find_labels(train_records)) if d.format == "classification" else None
        self.source = self._model_source(M, train_records)
        M.check_hub_cached(self.source)
        self.tokenizer = M.load_tokenizer(self.source)
        tokenising = PhaseProgress("tokenising", len(train_records) + len(eval_records),
                                   enabled=not self.quiet and self.is_main)
        examples = D.build_examples(train_records, self.tokenizer, format=d.format, max_seq_len=d.max_seq_len,
                                    labels=self.labels, prompt_template=d.prompt_template, advance=tokenising.advance)
        if d.packing:
            examples = D.pack_examples(examples, d.max_seq_len, eos_id=self.tokenizer.eos_token_id)
        if not examples:
            raise ConfigError(f"{d.path}: no training examples left after tokenisation.",
                              fix="Raise data.max_seq_len or check the data fields.")
        self.train_set = examples
        self.eval_records = eval_records[: d.max_eval_samples] if d.max_eval_samples else eval_records
        self.eval_set = D.build_examples(self.eval_records, self.tokenizer, format=d.format,
                                         max_seq_len=d.max_seq_len, labels=self.labels, prompt_template=d.prompt_template,
                                         advance=tokenising.advance) if self.eval_records else []
        tokenising.close()
        model = M.load_base_model(self.cfg, self.source, self.compute_dtype, **self.engine.load_options())
        self.model = stack_runtime.maybe_compile(M.apply_method(model, self.cfg), self.cfg.training)
        self._echo(M.trainable_line(self.model))
        self.trainable_params, self.total_params = M.param_counts(self.model)
        self.plan = BatchPlan(len(examples), self.cfg.training.micro_batch, seed, self.engine.num_processes,
                              self.engine.process_index)
        t = self.cfg.training
        self.total_steps = total_steps(self.plan, t.grad_accum, t.epochs, t.max_steps)

    def _records(self, D) -> tuple[list[dict], list[dict]]:
        d = self.cfg.data
        kwargs = d.load_records_kwargs()
        records = D.load_records(d.path, **kwargs)
        if d.eval_path:
            return records, D.load_records(d.eval_path, **kwargs)
        if d.eval_fraction > 0:
            return D.train_eval_split(records, d.eval_fraction, self.cfg.training.seed)
        return records, []

    def _model_source(self, M, train_records: list[dict]):
        if not self.cfg.is_preset:
            return M.resolve_source(self.cfg)
        from frugaltune.train.presets import build_preset, texts_of

        name = self.cfg.model.source[len(PRESET_PREFIX):]
        with self.engine.main_process_first():  # rank 0 builds it, the others then find it built
            path = build_preset(name, self.run_dir / "preset-model", seed=self.cfg.training.seed,
                                texts=texts_of(train_records), vocab_size=self.cfg.model.vocab_size)
        return M.resolve_source(self.cfg, preset_dir=path)

    def _build_optimizer(self, model):
        """The optimizer over what `model` trains (the engine calls this on its prepared, maybe sharded, model)."""
        t = self.cfg.training
        params = [p for p in model.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": t.weight_decay},
                  {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]  # no decay on norms, biases
        groups = [g for g in groups if g["params"]]
        stack_runtime.check_stack(t, self.engine.num_processes)
        optimizer_class = self.engine.optimizer_class(t.optimizer)
        if t.optimizer_in_backward:
            return stack_runtime.optimizer_in_backward(optimizer_class, groups, lr=t.lr)
        return optimizer_class(groups, lr=t.lr)

    def _build_scheduler(self):
        from transformers import get_scheduler

        t = self.cfg.training
        return get_scheduler(SCHEDULES[t.schedule], self.optimizer, num_warmup_steps=t.warmup_steps,
                             num_training_steps=self.total_steps)

    def _open_mirror(self):
        url = self.cfg.checkpoints.mirror
        if not url or not self.is_main:
            return None
        # a bad URL or missing permission fails now (within a timeout), not at the first save
        return faults.open_mirror(url, self.cfg.checkpoints.keep_last, self.ckpt_root)

    # ------------------------------------------------------------------ resume

    def _resume(self) -> None:
        if self.resume == "never":
            return
        if self.resume != "auto":
            path = Path(self.resume)
            problem = ckpt.verify(path) if path.is_dir() else "no such directory"
            if problem:
                raise CheckpointError(f"--resume {path}: not a usable checkpoint ({problem}).",
                                      fix=f"Pick a complete step-NNNNNN directory under {self.ckpt_root}, or use "
                                          "--resume auto.")
            return self.load_checkpoint(path, source="path")
        path = ckpt.newest_valid(self.ckpt_root, warn=log.warning)
        source = "local"
        if self.mirror is not None:  # a new disk, or an old one that the mirror has moved past
            mirrored = self._download_from_mirror(newer_than=ckpt.step_of(path) if path else -1)
            if mirrored is not None:
                path, source = mirrored, "mirror"
        if self.engine.num_processes > 1:  # rank 0 may have downloaded from the mirror: all load the same
            self.engine.barrier()
            path = path if self.is_main else ckpt.newest_valid(self.ckpt_root, warn=log.warning)
        if path is not None:
            self.load_checkpoint(path, source=source)

    def _load_rng(self, path: Path, saved_processes: int) -> None:
        """This rank's generator states; a run resumed with another process count cannot continue every stream."""
        rank, processes = self.engine.process_index, self.engine.num_processes
        if saved_processes != processes and self.is_main:
            log.warning("checkpoint %s was written by %d process(es) and this run has %d: training continues "
                        "correctly, but not bit for bit as an uninterrupted run would (data order, dropout).",
                        path.name, saved_processes, processes)
        own = path / ckpt.rng_file_name(rank)
        rng_path = own if own.is_file() else path / ckpt.rng_file_name(0)
        ckpt.set_rng_state(rng_from_tensors(self.torch.load(rng_path, weights_only=True)))

    def _download_from_mirror(self, newer_than: int) -> Path | None:
        """The newest usable mirrored checkpoint past step `newer_than`, downloaded; None when there is none."""
        names = [n for n in self.mirror.list_complete() if (ckpt.step_of(n) or -1) > newer_than]
        for name in reversed(names):
            try:
                path = self.mirror.download(name, self.ckpt_root)
            except CheckpointError as err:
                log.warning("mirror checkpoint %s unusable (%s); trying the previous one.", name, err)
                continue
            problem = ckpt.verify(path)
            if problem is None:
                return path
            log.warning("mirror checkpoint %s unusable (%s); trying the previous one.", name, problem)
        return None

    def load_checkpoint(self, path: Path, source: str = "local") -> None:
        """Restore weights (adapter or full), optimizer, scheduler, RNG and data position from `path`."""
        t0 = time.perf_counter()
        torch = self.torch
        state = ckpt.read_state(path)
        if state.get("method") != self.cfg.method.kind:
            raise CheckpointError(f"{path} was written by a {state.get('method')} run; this config trains "
                                  f"{self.cfg.method.kind}.", fix="Use a new --output-dir, or the config that "
                                  "wrote this run (its config.yaml).")
        for diff in config_differences(state.get("config", {}), self.cfg.model_dump(mode="json")):
            log.warning("config differs from checkpoint %s in %s; the config's value is used.", path.name, diff)
        if state.get("data_fingerprint") not in (None, self._data_fingerprint()):
            log.warning("the training examples differ from those checkpoint %s was trained on (data file or "
                        "tokenizer changed); resuming on the new data, so the run will not match an "
                        "uninterrupted one.", path.name)
        self.engine.check_resume(path, state)
        self.engine.load_state(path, self.model, self.optimizer, trainable_only=self.cfg.method.kind != "full")
        self.scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
        self._load_rng(path, state.get("num_processes", 1))
        self.progress = TrainProgress.from_json(state["progress"])
        self.attempt.last_saved_step = self.progress.step
        if source == "mirror" and self.ledger.attempt == 1:  # a new machine: adopt the past
            faults.restore_history(self.mirror, self.ledger, path)
        seconds = time.perf_counter() - t0
        self.ledger.write("resume", durable=True, from_step=self.progress.step, checkpoint=path.name, source=source,
                          seconds=seconds, **self.counters())
        self._echo(f"resumed from {path.name} ({source}, step {self.progress.step}/{self.total_steps}) "
                   f"in {seconds:.2f}s")

    # ------------------------------------------------------------------ train

    def train(self) -> RunResult:
        """Run until total_steps, or until a signal: then save and return exit code 75."""
        from frugaltune.train import metric_logging
        from frugaltune.train.progress import StepProgress

        self.bar = StepProgress(self.total_steps, self.progress.step, log_every=self.cfg.training.log_every,
                                enabled=not self.quiet and self.engine.is_main)
        if self._agree(self.signals.requested):  # a notice that came while loading: go now, before eval_before
            return self._stop()
        self.model.train()
        metric_logging.attach(self)  # TensorBoard / MLflow / W&B and the NVML sampler listen to the ledger
        self.ledger.write("train_start", step=self.progress.step, total_steps=self.total_steps)
        if self.cfg.training.eval_before and self.progress.step == 0:
            self._evaluate()
        while self.progress.step < self.total_steps:
            if self._agree(self.signals.requested):
                return self._stop()
            self._train_step()
            self._after_step()
        return self._finish()

    def run_step(self) -> tuple[int, float]:
        """One optimizer step outside `train()` (what `frugaltune probe` times): (tokens, seconds) of the step."""
        tokens, seconds = self.attempt.tokens, self.attempt.train_seconds
        self._train_step()
        return self.attempt.tokens - tokens, self.attempt.train_seconds - seconds

    def _micro_batch(self, g: int) -> dict:
        from frugaltune.train.data import collate

        return collate([self.train_set[i] for i in self.plan.indices(g)], self.tokenizer.pad_token_id)

    def _train_step(self) -> None:
        t0 = time.perf_counter()
        ga, eng = self.cfg.training.grad_accum, self.engine
        batches = [self._micro_batch(self.progress.micro_batches + i) for i in range(ga)]
        n_trained = sum(int(b["labels"][:, 1:].ne(-100).sum()) for b in batches)
        tokens = sum(int(b["attention_mask"].sum()) for b in batches)
        n_trained, tokens = self._sum_over_ranks(n_trained, tokens)  # the step's totals over all ranks
        n_global = max(1, n_trained)
        loss_sum = 0.0
        for i, batch in enumerate(batches):
            with eng.micro_step(self.model, last=i == ga - 1):
                batch_dev = {k: v.to(eng.device, non_blocking=True) for k, v in batch.items()}
                # summed over tokens / trained tokens of the whole step (x ranks: every engine averages gradients)
                loss = stack_runtime.step_loss(self.model, batch_dev, self.cfg.training,
                                               cuda=str(eng.device).startswith("cuda"),
                                               sparse_logits=self.sparse_logits) * (eng.num_processes / n_global)
                eng.backward(self.model, loss)
            loss_sum = loss_sum + loss.detach()
        guards.check_step(self, loss_sum)  # a non-finite loss or gradient stops the run before it reaches the weights
        if eng.step(self.model, self.optimizer, self.cfg.training.max_grad_norm):
            self.scheduler.step()
        if self.torch.cuda.is_available():  # CUDA is asynchronous: end the step's clock when its work is done
            self.torch.cuda.synchronize()
        self._count(tokens, n_trained, time.perf_counter() - t0, loss_sum / eng.num_processes)

    def _count(self, tokens: int, trained: int, seconds: float, loss) -> None:
        p, a = self.progress, self.attempt
        p.step += 1
        p.micro_batches += self.cfg.training.grad_accum
        p.tokens_processed += tokens
        p.trainable_tokens += trained
        a.tokens += tokens
        a.train_seconds += seconds
        a.window_tokens += tokens
        a.window_seconds += seconds
        a.window_losses.append(loss)

    def _after_step(self) -> None:
        step, t = self.progress.step, self.cfg.training
        if step % t.log_every == 0 or step == self.total_steps:
            self._log_step()
        if t.eval_every and step % t.eval_every == 0 and step < self.total_steps:
            self._evaluate()
        reason = self._checkpoint_due()
        if reason:
            self.save_checkpoint(reason)
        faults.report_news(self.mirror, self.ledger, step)

    def _log_step(self) -> None:
        a = self.attempt
        loss = float(sum(a.window_losses)) / len(a.window_losses)
        if self.engine.num_processes > 1:  # each rank holds its share of the step's loss
            loss = float(self.engine.sum_over_ranks(loss)[0])
        rate = a.window_tokens / a.window_seconds if a.window_seconds > 0 else None
        peak_gb, source = self._peak_memory()
        p = self.progress
        if self.engine.is_main:
            self.ledger.write("step", step=p.step, loss=loss, lr=self.scheduler.get_last_lr()[0],
                              epoch=p.micro_batches / self.plan.batches_per_epoch, **self.counters(),
                              tokens_per_sec=rate, peak_memory_gb=peak_gb, peak_memory_source=source)
        self.bar.update(p.step, loss, rate, train_seconds=a.train_seconds)
        a.window_tokens, a.window_seconds, a.window_losses = 0, 0.0, []

    def counters(self) -> dict:
        """The trajectory's and this attempt's totals. Every event that ends a stretch of steps (checkpoint, resume,
        interrupted, finished, failed, diverged) carries them, so the summary is right when a run stops between two
        log lines."""
        p, a = self.progress, self.attempt
        return {"tokens_processed": p.tokens_processed, "trainable_tokens": p.trainable_tokens,
                "attempt_tokens": a.tokens, "attempt_train_seconds": a.train_seconds}

    def _peak_memory(self) -> tuple[float, str]:
        torch = self.torch
        if torch.cuda.is_available():
            return torch.cuda.max_memory_allocated() / 1e9, "cuda_max_allocated"
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, "process_rss_peak"

    def _checkpoint_due(self) -> str | None:
        c, step = self.cfg.checkpoints, self.progress.step
        if c.every_steps and step % c.every_steps == 0:
            return "every_steps"
        # training time since the last save: evaluations and saves are not work a crash would lose
        elapsed = self.attempt.train_seconds - self.attempt.train_seconds_at_save
        if self._agree(bool(c.every_minutes) and elapsed >= (c.every_minutes or 0) * 60):
            return "every_minutes"
        return None

    def _agree(self, flag: bool) -> bool:
        """True on every rank when it is true on any (a stop or a time-based save must happen everywhere)."""
        if self.engine.num_processes == 1:
            return flag
        return self._sum_over_ranks(int(flag)) > 0

    def _sum_over_ranks(self, *values: int):
        """The sums over all ranks of integer `values` (one collective); the values themselves in a single process."""
        sums = [int(round(x)) for x in self.engine.sum_over_ranks(*values)]
        return sums if len(sums) > 1 else sums[0]

    def _evaluate(self) -> dict:
        from frugaltune.train.evaluate import eval_units, evaluate

        t0 = time.perf_counter()
        d = self.cfg.data
        model = self.engine.eval_model(self.model)
        records = self.eval_records if self.labels else None
        mb = self.cfg.training.micro_batch
        with self.bar.phase("eval", eval_units(self.eval_set, records, self.labels, mb)) as progress:
            result = evaluate(model, self.tokenizer, self.eval_set, records, self.labels,
                              prompt_template=d.prompt_template, max_seq_len=d.max_seq_len, batch_size=mb,
                              device=self.engine.device, advance=progress.advance,
                              stop=lambda: self._agree(self.signals.requested))  # every rank stops at the same batch
        self.attempt.last_eval_step = self.progress.step
        if result["eval_loss"] is None and result["eval_accuracy"] is None:
            return result
        seconds = time.perf_counter() - t0
        if self.engine.is_main:
            self.ledger.write("eval", step=self.progress.step, seconds=seconds, **result)
        acc = result["eval_accuracy"]
        loss = result["eval_loss"]
        self.bar.note(f"eval step {self.progress.step}: loss {'-' if loss is None else f'{loss:.4f}'}"
                      + (f", accuracy {acc:.3f}" if acc is not None else "") + f" ({seconds:.1f}s)")
        return result

    # ------------------------------------------------------------------ save

    def save_checkpoint(self, reason: str) -> Path | None:
        """Write `checkpoints/step-NNNNNN/` atomically, keep the last K, start its mirror upload.

        A collective: rank 0 opens the staging directory, every rank writes its part (the engine's state: whole on
        rank 0 under ddp, shards under fsdp/deepspeed), then rank 0 writes the manifest and publishes the step.
        """
        p = self.progress
        if p.step == self.attempt.last_saved_step or p.step == 0:
            return None
        guards.check_weights(self)  # never a checkpoint of weights that are not finite
        t0, saved, eng = time.perf_counter(), None, self.engine
        rng_states = eng.gather_objects(rng_to_tensors(ckpt.rng_state()))  # every rank's generators, in rank order
        what = f"saving checkpoint {ckpt.step_dir_name(p.step)}"  # a full disk fails every rank alike (faults.py)
        staging, failed = faults.attempt(what, self.ckpt_root, lambda: ckpt.begin_checkpoint(
            self.ckpt_root, p.step) if eng.is_main else ckpt.staging_dir(self.ckpt_root, p.step))
        eng.barrier()
        if failed is None:
            failed = faults.attempt(what, self.ckpt_root, lambda: self._write_checkpoint_files(staging, rng_states))[1]
        eng.barrier()
        if eng.is_main and failed is None:
            saved, failed = faults.attempt(what, self.ckpt_root, lambda: self._publish(p.step, reason, t0))
        if self._agree(failed is not None):
            raise faults.failed_save(failed, what, self.ckpt_root, clean=eng.is_main)
        eng.barrier()
        self.attempt.last_saved_step = p.step
        self.attempt.last_save_time = time.monotonic()
        self.attempt.train_seconds_at_save = self.attempt.train_seconds
        return saved.path if saved else None

    def _publish(self, step: int, reason: str, t0: float):
        """Rank 0: manifest + atomic rename, the ledger's record, the mirror upload, pruning and the summary."""
        saved = ckpt.publish_checkpoint(self.ckpt_root, step, {"method": self.cfg.method.kind, "reason": reason,
                                                               "engine": self.engine.name}, started=t0)
        self.ledger.write("checkpoint", durable=True, step=step, path=saved.path.name, reason=reason,
                          seconds=saved.seconds, bytes=saved.bytes, **self.counters())
        if self.mirror is not None:  # hard-link snapshot: pruning below cannot race it
            faults.after_save(self.mirror, saved.path, self.ledger)
        ckpt.prune(self.ckpt_root, self.cfg.checkpoints.keep_last)
        self._write_summary()
        return saved

    def _write_checkpoint_files(self, out: Path, rng_states: list[dict]) -> None:
        """Every rank: the engine's model and optimizer state; rank 0 also the scheduler, the generators of every
        rank, the progress and the run's totals."""
        import json

        self.engine.save_state(out, self.model, self.optimizer, trainable_only=self.cfg.method.kind != "full")
        if not self.engine.is_main:
            return
        torch = self.torch
        torch.save(self.scheduler.state_dict(), out / "scheduler.pt")
        for rank, rng in enumerate(rng_states):
            torch.save(rng, out / ckpt.rng_file_name(rank))
        # The run's totals travel with its checkpoint (a few KB, whatever the run's length): a new machine adopts them.
        (out / ledger.HISTORY).write_text(json.dumps(self.ledger.history()))
        state = {"progress": self.progress.to_json(self.plan.batches_per_epoch, self.cfg.training.seed),
                 "total_steps": self.total_steps, "method": self.cfg.method.kind, "time": time.time(),
                 "config": self.cfg.model_dump(mode="json"), "data_fingerprint": self._data_fingerprint(),
                 "num_processes": len(rng_states), "distributed": self.engine.describe()}
        (out / "trainer_state.json").write_text(json.dumps(state, indent=1))

    # ------------------------------------------------------------------ end

    def _stop(self) -> RunResult:
        if self.engine.num_processes > 1:  # the launcher may SIGTERM every rank again while they exit
            self.signals.deaf_after_exit = True
        name, step = self.signals.signal_name or "SIGTERM to another process", self.progress.step
        self._echo(f"{name}: saving a checkpoint at step {step} and exiting with code {EXIT_INTERRUPTED} (restart "
                   "the same command to resume)" if step else f"{name} before the first step: nothing to save; "
                   f"exiting with code {EXIT_INTERRUPTED}")
        self.save_checkpoint("signal")
        self._wait_mirror(MIRROR_WAIT_ON_STOP_S)
        self.ledger.write("interrupted", durable=True, step=step, signal=name, **self.counters())
        return self._result("interrupted", EXIT_INTERRUPTED)

    def _finish(self) -> RunResult:
        done_before = self._finished_before()
        if done_before:
            self._echo(f"already finished at step {self.progress.step}; nothing to do")
        elif self.attempt.last_eval_step != self.progress.step and (self.eval_set or self.eval_records):
            self._evaluate()
        self.save_checkpoint("final")
        if self._agree(self.engine.is_main and not (done_before and (self.run_dir / "final").is_dir())):
            with faults.local_writes("saving final/", self.run_dir):
                self._save_final()
        if done_before and self.mirror is not None:  # a rerun after the mirror was down: upload what it lacks
            faults.catch_up(self.mirror, self.ckpt_root)
        mirror_error = self._wait_mirror(None)
        self.ledger.write("finished", durable=True, step=self.progress.step, **self.counters())
        result = self._result("finished", mirror_error.exit_code if mirror_error else 0)
        result.error = mirror_error
        return result

    def _finished_before(self) -> bool:
        """A restarted run that had already finished this step (a supervisor restarting a completed job)."""
        step, attempts = self.progress.step, self.ledger.tally.attempts.values()
        return any(a["ended"] == "finished" and a["last_step"] == step and a["attempt"] != self.ledger.attempt
                   for a in attempts)

    def _save_final(self) -> None:
        """`final/`: the adapter (peft format) or the full model, with the tokenizer; written beside, then swapped in.
        A collective: a sharding engine gathers the whole state onto rank 0 first."""
        import shutil

        full = self.engine.full_state_dict(self.model, trainable_only=self.cfg.method.kind != "full")
        if not self.engine.is_main:
            return
        final, tmp = self.run_dir / "final", self.run_dir / f".final-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        model = self.engine.unwrap(self.model)
        kwargs = {} if full is None else {"state_dict": full}
        if self.cfg.method.kind == "full":
            model.save_pretrained(tmp, **kwargs)
        else:
            model.save_pretrained(tmp, save_embedding_layers=False, **kwargs)
        self.tokenizer.save_pretrained(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)

    def _wait_mirror(self, timeout: float | None) -> MirrorError | None:
        """Wait for the uploads (a few seconds' grace when the mirror is failing); the MirrorError if it still is."""
        if self.mirror is None:
            return None
        try:
            faults.finish_mirror(self.mirror, timeout)
        except MirrorError as err:
            self.ledger.write("mirror", durable=True, step=self.progress.step, ok=False, message=err.message)
            log.warning("%s", err.message)
            return err
        return None

    def _result(self, status: str, code: int) -> RunResult:
        summary = self._write_summary() if self.engine.is_main else {}
        if summary and status == "finished":
            from frugaltune.report.calibrate import record_run

            record_run(summary, self.run_dir)  # GPU runs only: calibrates later estimates of this GPU x method
        self.bar.close()
        newest = ckpt.complete_checkpoints(self.ckpt_root) if self.is_main else []
        return RunResult(status, code, self.run_dir, self.progress.step, summary, newest[-1] if newest else None)

    def _estimate(self) -> None:
        if not self.is_main:
            return
        ex = self.train_set
        n_tokens = sum(len(e["input_ids"]) for e in ex)
        padded = self._padded_tokens_per_sample()
        ref = self.source.path if self.source.kind == "hub" else self._config_dir()
        kwargs = compare.job_kwargs(self.cfg, model_ref=ref, n_examples=len(ex), tokens_per_sample=n_tokens / len(ex),
                                    padded_tokens_per_sample=padded, steps=self.total_steps,
                                    world_size=self.engine.num_processes)
        self.estimate_job = kwargs
        kwargs["gpu"], not_applicable = hardware.estimate_gpu(self.cfg.cost.gpu, self.hardware)
        if kwargs["gpu"] != self.cfg.cost.gpu and kwargs["gpu"] is not None:
            kwargs.update(platform=None, instance=None, region=None)  # the GPU measured, at its cheapest offer
        self.estimate, self.estimate_note = compare.estimate_for_run(kwargs, fallback_model=self._config_dir())
        self.estimate_applies = self.estimate is not None and not_applicable is None
        if self.estimate_note and self.engine.is_main:
            log.warning("%s", self.estimate_note)
        self.estimate_note = self.estimate_note or not_applicable

    def _data_fingerprint(self) -> str:
        """sha256 of the tokenized training examples (what the data order indexes into)."""
        if not hasattr(self, "_fingerprint"):
            import hashlib
            import json

            h = hashlib.sha256()
            for ex in self.train_set:
                h.update(json.dumps([ex["input_ids"], ex["labels"]]).encode())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    def _padded_tokens_per_sample(self) -> float:
        """Mean padded length per sequence under this run's batching (the estimator's compute per sample)."""
        mb, order, total = self.cfg.training.micro_batch, self.plan.order(0), 0
        for start in range(0, len(order), mb):
            chunk = order[start:start + mb]
            total += max(len(self.train_set[i]["input_ids"]) for i in chunk) * len(chunk)
        return total / len(order)

    def _config_dir(self) -> str:
        """A directory with the base model's config.json (what the estimator reads to size the model)."""
        if self.source.kind in ("local", "preset"):
            return self.source.path
        out = self.run_dir / "base-config"
        out.mkdir(exist_ok=True)
        model = self.engine.unwrap(self.model)
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        cfg = base.config.to_dict()
        cfg.pop("quantization_config", None)
        import json

        (out / "config.json").write_text(json.dumps(cfg, indent=1, default=str))
        return str(out)

    def _write_summary(self) -> dict:
        cfg = self.cfg
        extra = {"run_name": cfg.run_name, "model": cfg.model.source, "method": cfg.method.kind,
                 "total_steps": self.total_steps, "trainable_params": self.trainable_params,
                 "total_params": self.total_params, "compute_dtype": self.compute_dtype,
                 "device": str(self.engine.device), "num_processes": self.engine.num_processes,
                 "distributed": self.engine.describe(),
                 "gpu": cfg.cost.gpu, "platform": cfg.cost.platform, "hardware": self.hardware,
                 "estimate_applies": self.estimate_applies}
        price, extra["price_source"] = hardware.run_price(cfg, self.estimate, self.estimate_applies)
        summary = self.ledger.summary(usd_per_hour=price, extra=extra)  # running totals: no re-read of the log
        summary["estimate"] = self.estimate
        summary["estimate_note"] = self.estimate_note
        summary["vs_estimate"] = compare.vs_estimate(summary, self.estimate if self.estimate_applies else None)
        ledger.write_summary(self.run_dir, summary)
        return summary

    def _echo(self, message: str) -> None:
        if not self.quiet and getattr(self, "engine", None) is not None and self.engine.is_main:
            print(message, flush=True)

    def cleanup(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.mirror is not None:
            try:
                # the end of the run already gave a failing mirror its grace (faults.finish_mirror): none again here
                self.mirror.close(timeout=MIRROR_WAIT_ON_STOP_S, outage_grace_s=0)
            except CheckpointError as err:
                log.warning("checkpoint mirror: %s", err.message)
        if self.heartbeat is not None:
            self.heartbeat.stop()
        if self.ledger is not None:
            self.ledger.close()
        self.signals.__exit__(None, None, None)


def train(config: RunConfig | str | Path, *, resume: str = "auto", output_dir: str | None = None,
          max_steps: int | None = None, quiet: bool = False, started_at: float | None = None) -> RunResult:
    """Fine-tune as `config` says; resume from the newest complete checkpoint unless `resume` says otherwise.

    Args:
        config: a RunConfig or the path of a run YAML.
        resume: "auto" (newest complete checkpoint, local or mirrored), "never", or a checkpoint directory.
        output_dir: overrides output.dir.
        max_steps: overrides training.max_steps.
        quiet: no progress output.
        started_at: when this attempt's process started (unix time; default now), the start of its billed time.

    Returns:
        RunResult; exit_code is 0 when finished and 75 when stopped by SIGTERM/SIGINT after saving.

    Raises:
        ConfigError, DataError, CheckpointError: bad input, with what to do about it.
    """
    overrides = {k: v for k, v in (("output.dir", output_dir), ("training.max_steps", max_steps)) if v is not None}
    if isinstance(config, RunConfig):
        cfg = config.model_copy(deep=True)
        for dotted, value in overrides.items():
            section, key = dotted.split(".")
            setattr(getattr(cfg, section), key, value)  # validate_assignment checks the value
    else:
        cfg = load_config(config, overrides)
    cfg = resolve_data_format(cfg)  # data.format: auto -> the format the data's columns say
    recipe = Recipe(cfg, resume=resume, quiet=quiet, started_at=started_at)
    try:
        recipe.setup()
        return recipe.train()
    except BaseException as err:
        error = faults.record_failure(recipe, err)  # the ledger and summary.json say why; a full disk -> exit 74
        if error is err:
            raise
        raise error from None
    finally:
        recipe.cleanup()

