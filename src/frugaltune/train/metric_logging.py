"""Live metrics where people already look: TensorBoard, MLflow, Weights & Biases (the config's `logging:` section).

The run ledger (report/ledger.py, metrics.jsonl) stays the record; this module only listens to it. `attach(recipe)`
wraps the recipe's ledger so that every event it writes is also translated into metrics for each configured sink:

  step        train/loss, train/lr, train/epoch, perf/tokens_per_sec, perf/peak_memory_gb, cost/usd_so_far
  eval        eval/loss, eval/accuracy
  gpu         gpu/utilization_pct, gpu/memory_used_gb, gpu/power_w (NVML samples, train/gpu_monitor.py)
  train_start the estimate for this machine (estimate/tokens_per_sec, estimate/peak_memory_gb, estimate/hours,
              estimate/cost_usd, and the cost band) as parameters and as step-0 metrics, so curves sit beside them

Each sink's library is imported only when the config asks for it. A sink that cannot start (library missing, bad
tracking URI) is a warning, never a failed run: a training job must not die because a dashboard is away.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

log = logging.getLogger("frugaltune.train")

STEP_METRICS = {"loss": "train/loss", "lr": "train/lr", "epoch": "train/epoch", "tokens_per_sec": "perf/tokens_per_sec",
                "peak_memory_gb": "perf/peak_memory_gb"}
EVAL_METRICS = {"eval_loss": "eval/loss", "eval_accuracy": "eval/accuracy"}
GPU_METRICS = {"utilization_pct": "gpu/utilization_pct", "memory_used_gb": "gpu/memory_used_gb", "power_w": "gpu/power_w"}


class TensorBoardSink:
    """Event files under `<run_dir>/tensorboard`; a resumed run drops the events past its checkpoint (purge_step)."""

    def __init__(self, run_dir: Path, resume_step: int):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"), purge_step=resume_step or None)

    def log(self, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, global_step=step)

    def params(self, params: dict) -> None:
        self.writer.add_text("run/params", "\n".join(f"    {k}: {v}" for k, v in params.items()), global_step=0)

    def close(self) -> None:
        self.writer.close()


class MlflowSink:
    """One MLflow run per frugaltune run: its id is kept in the run directory, so a resumed attempt continues it."""

    def __init__(self, run_dir: Path, cfg, run_name: str):
        import mlflow

        self.mlflow = mlflow
        mlflow.set_tracking_uri(_tracking_uri(cfg.tracking_uri))
        mlflow.set_experiment(cfg.experiment or run_name)
        id_file = run_dir / "mlflow_run_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else None
        self.run = mlflow.start_run(run_id=run_id, run_name=None if run_id else run_name)
        id_file.write_text(self.run.info.run_id)

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.mlflow.log_metrics(metrics, step=step)

    def params(self, params: dict) -> None:
        try:
            self.mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        except Exception as err:  # noqa: BLE001 -- a resumed run may not change a logged parameter
            log.debug("mlflow params: %s", err)

    def close(self) -> None:
        self.mlflow.end_run()


class WandbSink:
    """A W&B run under `<run_dir>/wandb` (offline by default); its id is kept so a resumed attempt continues it."""

    def __init__(self, run_dir: Path, cfg, run_name: str):
        import secrets

        import wandb

        id_file = run_dir / "wandb_run_id"
        run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
        id_file.write_text(run_id)
        self.run = wandb.init(project=cfg.project, entity=cfg.entity, mode=cfg.mode, dir=str(run_dir), id=run_id,
                              name=run_name, resume="allow", settings=wandb.Settings(silent=True, console="off"))

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.run.log(metrics, step=step)

    def params(self, params: dict) -> None:
        self.run.config.update(params, allow_val_change=True)

    def close(self) -> None:
        self.run.finish()


def _tracking_uri(uri: str) -> str:
    """A plain directory becomes an absolute file: URI (MLflow resolves relative paths against its own cwd).

    MLflow 3 keeps its file store in maintenance mode and refuses it unless MLFLOW_ALLOW_FILE_STORE is set; a
    directory in the config is an explicit request for that store (offline, no database), so it is set here."""
    if uri.startswith("file:") or "://" not in uri:
        import os

        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    if "://" in uri or uri.startswith("file:"):
        return uri
    return Path(uri).expanduser().resolve().as_uri()


def open_sinks(cfg, run_dir: Path, resume_step: int = 0) -> list:
    """The sinks the `logging:` section asks for; one that cannot start is skipped with a warning."""
    lc = cfg.logging
    wanted = [("tensorboard", lambda: TensorBoardSink(run_dir, resume_step)) if lc.tensorboard else None,
              ("mlflow", lambda: MlflowSink(run_dir, lc.mlflow, cfg.run_name)) if lc.mlflow else None,
              ("wandb", lambda: WandbSink(run_dir, lc.wandb, cfg.run_name)) if lc.wandb else None]
    sinks = []
    for name, make in filter(None, wanted):
        try:
            sinks.append(make())
        except ImportError as err:
            log.warning("logging.%s: %s is not installed; metrics go to metrics.jsonl only (pip install %s).",
                        name, err.name or name, {"mlflow": "mlflow-skinny"}.get(name, name))
        except Exception as err:  # noqa: BLE001 -- a dashboard that is away must not stop training
            log.warning("logging.%s could not start (%s: %s); training continues without it.", name,
                        type(err).__name__, err)
    return sinks


def metrics_of(event: str, fields: dict) -> dict[str, float]:
    """The numeric metrics a ledger event carries, under the sinks' names."""
    table = {"step": STEP_METRICS, "eval": EVAL_METRICS, "gpu": GPU_METRICS}.get(event, {})
    return {name: float(fields[key]) for key, name in table.items() if isinstance(fields.get(key), (int, float))}


def estimate_metrics(estimate: dict | None) -> dict[str, float]:
    """The estimate's figures as metrics (logged once, at step 0)."""
    if not estimate:
        return {}
    tp, mem, t, c = (estimate.get(k) or {} for k in ("throughput", "memory", "time", "cost_breakdown"))
    band = c.get("total_cost_range") or [None, None]
    pairs = {"estimate/tokens_per_sec": tp.get("tokens_per_sec"), "estimate/peak_memory_gb": mem.get("peak_gb_per_gpu"),
             "estimate/hours": t.get("hours"), "estimate/billed_hours": t.get("billed_hours"),
             "estimate/cost_usd": c.get("compute_cost"), "estimate/cost_usd_low": band[0],
             "estimate/cost_usd_high": band[1]}
    return {k: float(v) for k, v in pairs.items() if isinstance(v, (int, float))}


class ObservedLedger:
    """The recipe's ledger, unchanged, plus: every event also goes to the sinks. Thread-safe (the GPU sampler
    writes from its own thread)."""

    def __init__(self, ledger, sinks: list, *, usd_per_hour: float | None, billed_hours_before: float,
                 step_of=lambda: 0):
        self._ledger, self.sinks, self.usd_per_hour = ledger, sinks, usd_per_hour
        self._billed_before, self._t0 = billed_hours_before, time.time()
        self._step_of = step_of
        self._lock = threading.Lock()
        self.monitor = None

    def __getattr__(self, name):
        return getattr(self._ledger, name)

    def write(self, event: str, durable: bool = False, **fields) -> dict:
        with self._lock:
            record = self._ledger.write(event, durable=durable, **fields)
            metrics = metrics_of(event, fields)
            if event == "step" and self.usd_per_hour is not None:
                metrics["cost/usd_so_far"] = self.cost_so_far()
            if metrics:
                self._fan_out(metrics, int(fields.get("step", self._step_of())))
            return record

    def cost_so_far(self) -> float:
        """Billed hours so far (earlier attempts + this one since it was attached) x the hourly price."""
        return (self._billed_before + (time.time() - self._t0) / 3600) * self.usd_per_hour

    def log(self, metrics: dict[str, float], step: int) -> None:
        with self._lock:
            self._fan_out(metrics, step)

    def params(self, params: dict) -> None:
        for sink in list(self.sinks):
            self._guarded(sink, sink.params, params)

    def _fan_out(self, metrics: dict[str, float], step: int) -> None:
        for sink in list(self.sinks):
            self._guarded(sink, sink.log, metrics, step)

    def _guarded(self, sink, method, *args) -> None:
        try:
            method(*args)
        except Exception as err:  # noqa: BLE001 -- drop a failing sink, keep training
            log.warning("%s failed (%s: %s); it is dropped for the rest of the run.", type(sink).__name__,
                        type(err).__name__, err)
            self.sinks.remove(sink)

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as err:  # noqa: BLE001
                log.warning("%s did not close cleanly: %s", type(sink).__name__, err)
        self.sinks = []
        self._ledger.close()


def run_params(cfg, estimate: dict | None) -> dict:
    """What the run is (shown beside its curves): model, method, batch, learning rate, GPU, and the estimate."""
    t = cfg.training
    params = {"model": cfg.model.source, "method": cfg.method.kind, "lr": t.lr, "micro_batch": t.micro_batch,
              "grad_accum": t.grad_accum, "max_seq_len": cfg.data.max_seq_len, "precision": t.precision,
              "gpu": cfg.cost.gpu, "platform": cfg.cost.platform}
    if cfg.method.kind != "full":
        params["lora_r"] = cfg.method.lora.r
    params.update({k.replace("/", "_"): v for k, v in estimate_metrics(estimate).items()})
    return params


def attach(recipe) -> None:
    """Send the recipe's ledger events to the configured sinks too (rank 0), and start the NVML sampler on CUDA."""
    if not recipe.is_main:
        return
    from frugaltune.report import hardware
    from frugaltune.report import ledger as L

    lc = recipe.cfg.logging
    sinks = open_sinks(recipe.cfg, recipe.run_dir, recipe.progress.step)
    sample = recipe.hardware.get("device") == "cuda" and lc.gpu_sample_seconds > 0
    if not sinks and not sample:
        return
    estimate = recipe.estimate if recipe.estimate_applies else None
    price, _ = hardware.run_price(recipe.cfg, recipe.estimate, recipe.estimate_applies)
    billed = L.summarize(L.read_events(recipe.ledger.path))["billed_hours"]
    observed = ObservedLedger(recipe.ledger, sinks, usd_per_hour=price, billed_hours_before=billed,
                              step_of=lambda: recipe.progress.step)
    observed.params(run_params(recipe.cfg, estimate))
    if estimate:
        observed.log(estimate_metrics(estimate), step=recipe.progress.step)
    if sample:
        from frugaltune.train.gpu_monitor import GpuMonitor

        observed.monitor = GpuMonitor.start(observed, every_s=lc.gpu_sample_seconds,
                                            low_pct=lc.low_utilization_pct)
    recipe.ledger = observed
