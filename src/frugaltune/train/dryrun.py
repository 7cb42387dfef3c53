"""`frugaltune train --dry-run`: check the config, the model source and every data row, and print the estimate,
without loading weights. Token counts are approximate here (4 characters per token, the usual rule for English
BPE vocabularies); a real run's ledger has the exact ones."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from frugaltune.errors import ConfigError
from frugaltune.report import compare
from frugaltune.train.config import PRESET_PREFIX, RunConfig
from frugaltune.train.presets import texts_of

CHARS_PER_TOKEN = 4.0


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


def dry_run(cfg: RunConfig) -> dict:
    """Validate everything that can be checked without weights; return the plan with its estimate.

    Raises:
        ConfigError / DataError: the same errors a real run would raise at start-up.
    """
    from frugaltune.train import data as D
    from frugaltune.train import model as M
    from frugaltune.train.recipe import estimated_steps

    d, t = cfg.data, cfg.training
    src = M.resolve_source(cfg)
    try:
        M.check_hub_cached(src)
        cache_note = None
    except ConfigError as err:  # a dry run on a laptop plans a GPU run whose weights are not here yet
        cache_note = err.message
    kwargs = d.load_records_kwargs()
    records = D.load_records(d.path, **kwargs)
    if d.eval_path:  # every row of both files is checked, as a real run would
        n_eval, n_train = len(D.load_records(d.eval_path, **kwargs)), len(records)
    else:
        n_eval = 0 if d.eval_fraction == 0 else max(1, round(len(records) * d.eval_fraction))
        n_train = len(records) - n_eval
    chars = sum(len(s) for s in texts_of(records)) / len(records)
    tokens = min(chars / CHARS_PER_TOKEN + 16, d.max_seq_len)  # + the prompt template's words
    steps = estimated_steps(n_train, t.micro_batch, t.grad_accum, t.epochs, t.max_steps)
    config_dir = _model_config_dir(cfg, src)
    kwargs = compare.job_kwargs(cfg, model_ref=src.path if src.kind == "hub" else (config_dir or src.path),
                                n_examples=n_train, tokens_per_sample=tokens, padded_tokens_per_sample=tokens,
                                steps=steps)
    estimate, note = compare.estimate_for_run(kwargs, fallback_model=config_dir)
    return {"config_ok": True, "model": cfg.model.source, "model_kind": src.kind, "method": cfg.method.kind,
            "data": d.path, "format": d.format, "train_rows": n_train, "eval_rows": n_eval,
            "labels": D.find_labels(records) if d.format == "classification" and not d.labels else d.labels,
            "approx_tokens_per_sample": round(tokens, 1), "steps": steps, "output_dir": cfg.output.dir,
            "estimate": estimate, "estimate_note": note, "model_note": cache_note}


def render(plan: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]config OK[/]: {plan['method']} on {plan['model']} ({plan['model_kind']}); "
                  f"{plan['train_rows']} train / {plan['eval_rows']} eval rows of {plan['data']} ({plan['format']}); "
                  f"~{plan['approx_tokens_per_sample']} tokens/row; {plan['steps']} steps -> {plan['output_dir']}")
    if plan.get("model_note"):
        console.print(f"note: {plan['model_note']} (training needs it; the estimate does not)")
    est = plan["estimate"]
    if est is None:
        console.print(plan["estimate_note"])
        return
    table = Table(title=f"estimate on {est['hardware']['gpu']} ({est['hardware'].get('platform') or 'no platform'})",
                  title_justify="left")
    table.add_column("figure")
    table.add_column("estimate", justify="right")
    mem, tp, tm, cost = est["memory"], est["throughput"], est["time"], est["cost_breakdown"]
    for label, value in (("peak memory GB/GPU", f"{mem['peak_gb_per_gpu']:.2f} ({'fits' if mem['fits'] else 'DOES NOT FIT'})"),
                         ("tokens/s", f"{tp['tokens_per_sec']:,.0f}"), ("hours", f"{tm['hours']:.3f}"),
                         ("billed hours", "-" if tm["billed_hours"] is None else f"{tm['billed_hours']:.3f}"),
                         ("total cost USD", "-" if cost["total_cost"] is None else f"${cost['total_cost']:.2f}")):
        table.add_row(label, value)
    console.print(table)
    for w in est.get("warnings") or []:
        console.print(f"warning: {w}")
