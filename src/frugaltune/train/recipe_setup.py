"""Setting a run up (the parts of recipe.Recipe.setup): the run directory, the data and the model, the optimizer and
its schedule, the checkpoint mirror. Each function takes the Recipe and fills in its attributes."""

from __future__ import annotations

import logging

from frugaltune.errors import ConfigError
from frugaltune.train import checkpoint as ckpt
from frugaltune.train import faults, stack_runtime
from frugaltune.train.config import PRESET_PREFIX
from frugaltune.train.loader import BatchPlan, total_steps
from frugaltune.train.progress import PhaseProgress

log = logging.getLogger("frugaltune.train")
SCHEDULES = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}


def prepare_run_dir(r) -> None:
    """The run directory, writable, with this run's config.yaml; no checkpoints when --resume never."""
    faults.check_output_dir(r.run_dir)
    with faults.local_writes("creating the run directory", r.run_dir):
        _create_run_dir(r)


def _create_run_dir(r) -> None:
    existing = ckpt.list_checkpoints(r.ckpt_root)
    if r.resume == "never" and existing:
        raise ConfigError(f"{r.run_dir} already holds checkpoints ({existing[-1].name}) and --resume never "
                          "was given.", fix="Use a new --output-dir, delete that directory, or resume with "
                          "--resume auto.")
    r.run_dir.mkdir(parents=True, exist_ok=True)
    if not r.is_main:
        return
    for stale in ckpt.clean_staging(r.ckpt_root):
        log.warning("removed %s left by a save that was interrupted.", stale.name)
    (r.run_dir / "config.yaml").write_text(r.cfg.to_yaml(header=f"frugaltune train {r.run_dir}/config.yaml"))


def load_data_and_model(r) -> None:
    """Records -> tokenized (packed) examples, the base model with its method applied, the batch plan."""
    from frugaltune.train import data as D
    from frugaltune.train import model as M

    train_records, eval_records = _records(r, D)
    d = r.cfg.data
    r.labels = (d.labels or D.find_labels(train_records)) if d.format == "classification" else None
    r.source = _model_source(r, M, train_records)
    M.check_hub_cached(r.source)
    r.tokenizer = M.load_tokenizer(r.source)
    _tokenise(r, D, train_records, eval_records)
    model = M.load_base_model(r.cfg, r.source, r.compute_dtype, **r.engine.load_options())
    r.layout = _batch_layout(r, model)
    r.model = stack_runtime.maybe_compile(M.apply_method(model, r.cfg), r.cfg.training)
    r._echo(M.trainable_line(r.model))
    r.trainable_params, r.total_params = M.param_counts(r.model)
    t = r.cfg.training
    r.plan = BatchPlan(len(r.train_set), t.micro_batch, t.seed, r.engine.num_processes, r.engine.process_index)
    r.total_steps = total_steps(r.plan, t.grad_accum, t.epochs, t.max_steps)


def _batch_layout(r, model) -> str:
    """How micro-batches are built: "padded" (collate) unpacked, else the packed layout the model can take."""
    if not r.cfg.data.packing:
        return "padded"
    from frugaltune.train import packing

    layout, why = packing.layout(model)
    if layout == "padded":
        log.warning("packing: %s, so packed rows stay padded with an attention_mask and examples in a row attend to "
                    "each other.", why)
    else:
        log.info("packing without padding (%s): %s.", layout, why)
    return layout


def _tokenise(r, D, train_records: list[dict], eval_records: list[dict]) -> None:
    """r.train_set (packed when data.packing), r.eval_records (at most max_eval_samples) and r.eval_set."""
    d = r.cfg.data
    tokenising = PhaseProgress("tokenising", len(train_records) + len(eval_records),
                               enabled=not r.quiet and r.is_main)
    examples = D.build_examples(train_records, r.tokenizer, format=d.format, max_seq_len=d.max_seq_len,
                                labels=r.labels, prompt_template=d.prompt_template, advance=tokenising.advance)
    if d.packing:
        examples = D.pack_examples(examples, d.max_seq_len, eos_id=r.tokenizer.eos_token_id)
    if not examples:
        raise ConfigError(f"{d.path}: no training examples left after tokenisation.",
                          fix="Raise data.max_seq_len or check the data fields.")
    r.train_set = examples
    r.eval_records = eval_records[: d.max_eval_samples] if d.max_eval_samples else eval_records
    r.eval_set = D.build_examples(r.eval_records, r.tokenizer, format=d.format, max_seq_len=d.max_seq_len,
                                  labels=r.labels, prompt_template=d.prompt_template,
                                  advance=tokenising.advance) if r.eval_records else []
    tokenising.close()


def _records(r, D) -> tuple[list[dict], list[dict]]:
    d = r.cfg.data
    kwargs = d.load_records_kwargs()
    records = D.load_records(d.path, **kwargs)
    if d.eval_path:
        return records, D.load_records(d.eval_path, **kwargs)
    if d.eval_fraction > 0:
        return D.train_eval_split(records, d.eval_fraction, r.cfg.training.seed)
    return records, []


def _model_source(r, M, train_records: list[dict]):
    if not r.cfg.is_preset:
        return M.resolve_source(r.cfg)
    from frugaltune.train.presets import build_preset, texts_of

    name = r.cfg.model.source[len(PRESET_PREFIX):]
    with r.engine.main_process_first():  # rank 0 builds it, the others then find it built
        path = build_preset(name, r.run_dir / "preset-model", seed=r.cfg.training.seed,
                            texts=texts_of(train_records), vocab_size=r.cfg.model.vocab_size)
    return M.resolve_source(r.cfg, preset_dir=path)


def build_optimizer(r, model):
    """The optimizer over what `model` trains (the engine calls this on its prepared, maybe sharded, model)."""
    t = r.cfg.training
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2], "weight_decay": t.weight_decay},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]  # no decay on norms, biases
    groups = [g for g in groups if g["params"]]
    stack_runtime.check_stack(t, r.engine.num_processes)
    optimizer_class = r.engine.optimizer_class(t.optimizer)
    if t.optimizer_in_backward:
        return stack_runtime.optimizer_in_backward(optimizer_class, groups, lr=t.lr)
    return optimizer_class(groups, lr=t.lr)


def build_scheduler(r):
    from transformers import get_scheduler

    t = r.cfg.training
    return get_scheduler(SCHEDULES[t.schedule], r.optimizer, num_warmup_steps=t.warmup_steps,
                         num_training_steps=r.total_steps)


def open_mirror(r):
    url = r.cfg.checkpoints.mirror
    if not url or not r.is_main:
        return None
    # a bad URL or missing permission fails now (within a timeout), not at the first save
    return faults.open_mirror(url, r.cfg.checkpoints.keep_last, r.ckpt_root)
