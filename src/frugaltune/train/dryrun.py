"""`frugaltune train --dry-run`: check the config, the model source and every data row, and print the estimate,
without loading weights.

The estimate is made exactly as `frugaltune plan` made it: the same token count of the data file (the model's
tokenizer when it is in the local Hugging Face cache, else 4 characters per token), the same training rows (the
evaluation hold-out removed), the same engine, offer and epochs, so a planned config dry-runs to the plan's own
peak memory, steps and epochs. A real run's ledger has the exact token counts.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from frugaltune.errors import ConfigError, DataError
from frugaltune.estimate.steps import held_out_rows, optimizer_steps, sequences_per_epoch
from frugaltune.record import asdict
from frugaltune.report import compare
from frugaltune.train.config import PRESET_PREFIX, RunConfig
from frugaltune.train.presets import texts_of


def _model_config_dir(cfg: RunConfig, src) -> str | None:
    """A directory holding config.json for the estimator (presets: from their shape; GGUF: from its metadata)."""
    if src.kind == "local":
        return src.path
    if src.kind == "hub":
        return None
    if src.kind == "preset":
        from frugaltune.train.presets import DEFAULT_VOCAB_SIZE, MAX_POSITIONS, PRESETS

        shape = PRESETS[cfg.model.source[len(PRESET_PREFIX):]]
        config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_act": "silu",
                  "vocab_size": cfg.model.vocab_size or DEFAULT_VOCAB_SIZE, "tie_word_embeddings": False,
                  "max_position_embeddings": MAX_POSITIONS, **shape}
    else:
        from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

        config = load_gguf_checkpoint(str(Path(src.path) / src.gguf_file), return_tensors=False)["config"]
        config.setdefault("architectures", ["LlamaForCausalLM"])
    out = Path(tempfile.mkdtemp(prefix="frugaltune-dryrun-"))
    (out / "config.json").write_text(json.dumps(config))
    return str(out)


def dry_run(cfg: RunConfig, here: bool = True) -> dict:
    """Validate everything that can be checked without weights; return the plan with its estimate.

    Args:
        cfg: the run config.
        here: the run happens on this machine, so its output dir, mirror and thread count are checked here too
            (train/preflight.py); `launch` passes False.

    Raises:
        ConfigError / DataError / CheckpointError: the same errors a real run would raise at start-up.
    """
    from frugaltune.train import model as M
    from frugaltune.train.data_auto import resolve_data_format
    from frugaltune.train.preflight import preflight

    cfg = resolve_data_format(cfg)  # data.format: auto -> the format the data's columns say
    notes = preflight(cfg, here)  # output dir, prompt template, mirror, threads: what the run will touch
    d, t = cfg.data, cfg.training
    src = M.resolve_source(cfg)
    try:
        M.check_hub_cached(src)
        cache_note = None
    except ConfigError as err:  # a dry run on a laptop plans a GPU run whose weights are not here yet
        cache_note = err.message
    records, n_train, n_eval = _rows(cfg)
    config_dir = _model_config_dir(cfg, src)
    ref = src.path if src.kind == "hub" else (config_dir or src.path)
    stats = _token_stats(cfg, [ref, config_dir], records)
    kwargs = compare.job_kwargs(cfg, model_ref=ref, n_examples=n_train, tokens_per_sample=stats["mean_tokens"],
                                padded_tokens_per_sample=stats["mean_padded_tokens"], steps=t.max_steps,
                                longest_sample_tokens=stats["max_tokens"],
                                attended_tokens_per_sample=stats.get("attended_tokens") or None)
    estimate, note = compare.estimate_for_run(kwargs, fallback_model=config_dir)
    per_epoch = sequences_per_epoch(n_train, stats["mean_tokens"], d.max_seq_len, d.packing)
    steps = t.max_steps or optimizer_steps(per_epoch, t.micro_batch, t.grad_accum, cfg.cost.num_gpus, kwargs["epochs"])
    from frugaltune.train import data as D

    return {"config_ok": True, "model": cfg.model.source, "model_kind": src.kind, "method": cfg.method.kind,
            "data": d.path, "format": d.format, "train_rows": n_train, "eval_rows": n_eval,
            "labels": D.find_labels(records) if d.format == "classification" and not d.labels else d.labels,
            "approx_tokens_per_sample": round(stats["mean_tokens"], 1), "tokens_counted_with": stats["counted_with"],
            "sequences_per_epoch": per_epoch, "epochs": kwargs["epochs"], "steps": steps,
            "num_gpus": cfg.cost.num_gpus, "output_dir": cfg.output.dir,
            "estimate": estimate, "estimate_note": note, "model_note": cache_note, "estimate_job": kwargs,
            "notes": notes}


def _rows(cfg: RunConfig) -> tuple[list[dict], int, int]:
    """Every row of the data (and eval) file checked as a real run would; (records, train rows, eval rows)."""
    from frugaltune.train import data as D

    d = cfg.data
    kwargs = d.load_records_kwargs()
    records = D.load_records(d.path, **kwargs)
    if d.eval_path:
        return records, len(records), len(D.load_records(d.eval_path, **kwargs))
    n_eval = held_out_rows(len(records), d.eval_fraction)
    return records, len(records) - n_eval, n_eval


def _token_stats(cfg: RunConfig, model_refs: list[str | None], records: list[dict]) -> dict:
    """Token statistics of the data file, counted by the function `frugaltune plan --dataset` uses; for files it
    cannot read (Parquet, a saved `datasets` directory) the same 4-characters-per-token rule over the records."""
    from frugaltune.estimate import dataset_stats as S

    d, arch = cfg.data, _arch(model_refs)
    path = Path(d.path)
    if arch is not None and path.is_file() and path.suffix.lower() in (".jsonl", ".json", ".csv"):
        try:
            return asdict(S.dataset_token_stats(path, arch, d.max_seq_len, cfg.training.micro_batch,
                                                data_format=d.format))
        except DataError:
            pass
    lengths = [min(max(1, -(-len("\n".join(texts_of([r]))) // int(S.CHARS_PER_TOKEN))), d.max_seq_len)
               for r in records]
    return {"samples": len(lengths), "mean_tokens": sum(lengths) / len(lengths), "max_tokens": max(lengths),
            "mean_padded_tokens": S.padded_mean(lengths, cfg.training.micro_batch),
            "attended_tokens": S.attended_mean(lengths),
            "counted_with": f"chars/{S.CHARS_PER_TOKEN:g}"}


def _arch(model_refs: list[str | None]):
    """The model's architecture from the catalog or a config.json directory, or None."""
    from frugaltune.estimate.build import get_catalog
    from frugaltune.errors import FrugalError

    catalog = get_catalog()
    for ref in dict.fromkeys(r for r in model_refs if r):
        try:
            return catalog.model(ref)
        except FrugalError:
            continue
    return None


def render(plan: dict) -> None:
    from frugaltune.console import Console, Table

    console = Console()
    console.print(f"[bold]config OK[/]: {plan['method']} on {plan['model']} ({plan['model_kind']}); "
                  f"{plan['train_rows']} train / {plan['eval_rows']} eval rows of {plan['data']} ({plan['format']}); "
                  f"~{plan['approx_tokens_per_sample']} tokens/row; {plan['steps']} steps, {plan['epochs']:g} epochs "
                  f"on {plan['num_gpus']} GPU(s) -> {plan['output_dir']}")
    if plan.get("model_note"):
        console.print(f"note: {plan['model_note']} (training needs it; the estimate does not)")
    for note in plan.get("notes") or []:
        console.print(f"warning: {note}")
    est = plan["estimate"]
    if est is None:
        console.print(plan["estimate_note"])
        return
    hw = est["hardware"]
    where = " ".join(x for x in (hw.get("platform"), hw.get("instance"), hw.get("region")) if x) or "no platform"
    table = Table(title=f"estimate on {est['job']['num_gpus']}x {hw['gpu']}", title_justify="left")
    table.add_column("figure")
    table.add_column("estimate", justify="right")
    mem, tp, tm, cost = est["memory"], est["throughput"], est["time"], est["cost_breakdown"]
    for label, value in (("offer", f"{where} ({hw['pricing']})"), ("peak memory GB/GPU", f"{mem['peak_gb_per_gpu']:.2f} ({'fits' if mem['fits'] else 'DOES NOT FIT'})"),
                         ("tokens/s", f"{tp['tokens_per_sec']:,.0f}"), ("hours", f"{tm['hours']:.3f}"),
                         ("billed hours", "-" if tm["billed_hours"] is None else f"{tm['billed_hours']:.3f}"),
                         ("steps · epochs", f"{est['job']['steps_total']:,} · {est['job']['epochs']:g}"),
                         ("total cost USD", "-" if cost["total_cost"] is None else f"${cost['total_cost']:,.2f}"
                          if cost["total_cost"] >= 0.01 else f"${cost['total_cost']:.4f}")):
        table.add_row(label, value)
    console.print(table)
    for w in est.get("warnings") or []:
        console.print(f"warning: {w}")
