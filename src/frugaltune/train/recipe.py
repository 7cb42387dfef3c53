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
from functools import partial
from pathlib import Path

from frugaltune.errors import CheckpointError, FrugalError
from frugaltune.report import hardware, ledger
from frugaltune.report.heartbeat import Heartbeat
from frugaltune.train import checkpoint as ckpt
from frugaltune.train import faults, recipe_resume, recipe_save, recipe_setup, recipe_step, recipe_summary
from frugaltune.train.config import RunConfig, load_config
from frugaltune.train.data_auto import resolve_data_format
from frugaltune.train.loss import supports_logits_to_keep
from frugaltune.train.signals import EXIT_INTERRUPTED, Interrupted, StopSignals
from frugaltune.train.state import TrainProgress

log = logging.getLogger("frugaltune.train")
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
    """One training run. Call `setup()`, then `train()`; `cleanup()` always.

    The recipe tells the run's story; each part lives in its own module and takes the recipe: recipe_setup (run
    directory, data, model, optimizer), recipe_resume, recipe_step (a step, its log line, evaluations, when to save),
    recipe_save (checkpoints, final/), recipe_summary (the estimate and summary.json)."""

    def __init__(self, cfg: RunConfig, *, resume: str = "auto", quiet: bool = False, started_at: float | None = None,
                 stop_while_loading: bool = False):
        self.cfg = cfg
        self.stop_while_loading = stop_while_loading  # one process: a stop signal abandons loading (_stopped_loading)
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
        from frugaltune.train.quiet import quiet_libraries

        quiet_libraries()  # before the training stack is imported (its import-time chatter included)
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

        from frugaltune.train.engines import make_engine, resolve_precision

        self.torch = torch
        if self.cfg.training.cpu_threads and not torch.cuda.is_available():
            torch.set_num_threads(self.cfg.training.cpu_threads)
        self.compute_dtype = resolve_precision(self.cfg.training.precision)
        self.engine = make_engine(self.cfg, self.compute_dtype)
        self.engine.check_shared_dir(self.run_dir)
        self.hardware = hardware.detect(torch, self.engine.device, self.engine.num_processes)
        set_seed(self.cfg.training.seed)
        with self.signals.interruptible(self.stop_while_loading and self.engine.num_processes == 1):
            self._load_data_and_model()  # reads only: a stop signal here abandons it at once (Interrupted)
        self.model, self.optimizer = self.engine.prepare(self.model, partial(recipe_setup.build_optimizer, self))
        self.engine.note_params(self.model)
        self.scheduler = recipe_setup.build_scheduler(self)
        self.sparse_logits = supports_logits_to_keep(self.engine.unwrap(self.model))
        self.mirror = recipe_setup.open_mirror(self)
        recipe_resume.resume(self)
        self._estimate()

    def _prepare_run_dir(self) -> None:
        recipe_setup.prepare_run_dir(self)

    def _load_data_and_model(self) -> None:
        recipe_setup.load_data_and_model(self)

    def load_checkpoint(self, path: Path, source: str = "local") -> None:
        """Restore weights (adapter or full), optimizer, scheduler, RNG and data position from `path`."""
        recipe_resume.load_checkpoint(self, path, source)

    def _estimate(self) -> None:
        recipe_summary.estimate(self)

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

    def _train_step(self) -> None:
        recipe_step.train_step(self)

    def _count(self, tokens: int, trained: int, seconds: float, loss) -> None:
        recipe_step.count(self, tokens, trained, seconds, loss)

    def _after_step(self) -> None:
        recipe_step.after_step(self)

    def _evaluate(self) -> dict:
        return recipe_step.evaluate(self)

    def _checkpoint_due(self) -> str | None:
        return recipe_step.checkpoint_due(self)

    def _agree(self, flag: bool) -> bool:
        """True on every rank when it is true on any (a stop or a time-based save must happen everywhere)."""
        return recipe_step.agree(self, flag)

    def counters(self) -> dict:
        """The trajectory's and this attempt's totals. Every event that ends a stretch of steps (checkpoint, resume,
        interrupted, finished, failed, diverged) carries them, so the summary is right when a run stops between two
        log lines."""
        p, a = self.progress, self.attempt
        return {"tokens_processed": p.tokens_processed, "trainable_tokens": p.trainable_tokens,
                "attempt_tokens": a.tokens, "attempt_train_seconds": a.train_seconds}

    # ------------------------------------------------------------------ save

    def save_checkpoint(self, reason: str) -> Path | None:
        """Write `checkpoints/step-NNNNNN/` atomically (a collective: recipe_save.save_checkpoint)."""
        return recipe_save.save_checkpoint(self, reason)

    def _write_checkpoint_files(self, out: Path, rng_states: list[dict]) -> None:
        recipe_save.write_checkpoint_files(self, out, rng_states)

    def _save_final(self) -> None:
        recipe_save.save_final(self)

    def _data_fingerprint(self) -> str:
        """sha256 of the tokenized training examples (what the data order indexes into), computed once."""
        if not hasattr(self, "_fingerprint"):
            self._fingerprint = recipe_summary.data_fingerprint(self.train_set)
        return self._fingerprint

    def _write_summary(self) -> dict:
        return recipe_summary.write_summary(self)

    # ------------------------------------------------------------------ end

    def _stop(self) -> RunResult:
        if self.engine.num_processes > 1:  # the launcher may SIGTERM every rank again while they exit
            self.signals.deaf_after_exit = True
        name, step = self.signals.signal_name or "SIGTERM to another process", self.progress.step
        self._echo(f"{name}: saving a checkpoint at step {step} and exiting with code {EXIT_INTERRUPTED} "
                   "(restart the same command to resume)" if step else f"{name} before the first step: nothing "
                   f"to save; exiting with code {EXIT_INTERRUPTED}")
        self.save_checkpoint("signal")
        recipe_save.wait_mirror(self, MIRROR_WAIT_ON_STOP_S)
        self.ledger.write("interrupted", durable=True, step=step, signal=name, **self.counters())
        return self._result("interrupted", EXIT_INTERRUPTED)

    def _stopped_loading(self) -> RunResult:
        """A stop signal while the model loaded (Interrupted): nothing trained, nothing to save; exit 75 at once."""
        self.signals.deaf_after_exit = True
        name, newest = self.signals.signal_name, ckpt.complete_checkpoints(self.ckpt_root)
        kept = f"checkpoint {newest[-1].name} is kept" if newest else "nothing to save, the next run starts over"
        self._echo(f"{name} before the first step, while loading the model: {kept}; exiting with code "
                   f"{EXIT_INTERRUPTED} (run the same command again)")
        self.ledger.write("interrupted", durable=True, step=self.progress.step, signal=name, **self.counters())
        return RunResult("interrupted", EXIT_INTERRUPTED, self.run_dir, self.progress.step,
                         checkpoint=newest[-1] if newest else None)

    def _finish(self) -> RunResult:
        done_before = recipe_summary.finished_before(self)
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
        mirror_error = recipe_save.wait_mirror(self, None)
        self.ledger.write("finished", durable=True, step=self.progress.step, **self.counters())
        result = self._result("finished", mirror_error.exit_code if mirror_error else 0)
        result.error = mirror_error
        return result

    def _result(self, status: str, code: int) -> RunResult:
        summary = self._write_summary() if self.engine.is_main else {}
        if summary and status == "finished":
            from frugaltune.report.calibrate import record_run

            record_run(summary, self.run_dir)  # GPU runs only: calibrates later estimates of this GPU x method
        self.bar.close()
        newest = ckpt.complete_checkpoints(self.ckpt_root) if self.is_main else []
        return RunResult(status, code, self.run_dir, self.progress.step, summary, newest[-1] if newest else None)

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
    recipe = Recipe(cfg, resume=resume, quiet=quiet, started_at=started_at, stop_while_loading=True)
    try:
        recipe.setup()
        return recipe.train()
    except Interrupted:  # a spot notice while the model loaded: go now, not after loading
        return recipe._stopped_loading()
    except BaseException as err:
        error = faults.record_failure(recipe, err)  # the ledger and summary.json say why; a full disk -> exit 74
        if error is err:
            raise
        raise error from None
    finally:
        recipe.cleanup()

