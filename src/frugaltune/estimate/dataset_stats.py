"""Count a dataset's real tokens for `frugaltune estimate --dataset PATH`.

With the model's tokenizer in the local Hugging Face cache, tokens are counted exactly; otherwise by the documented
rule of CHARS_PER_TOKEN characters per token (estimate/cost.py). Padding without packing is measured by shuffling the
samples (seed 0) into micro-batches and padding each to its longest sample, as a padding collator does.
"""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

from frugaltune.catalog.types import ModelArch
from frugaltune.errors import DataError
from frugaltune.estimate.cost import CHARS_PER_TOKEN
from frugaltune.record import record


@record(frozen=True)
class DatasetStats:
    samples: int
    mean_tokens: float
    mean_padded_tokens: float  # per sample, incl. padding to the longest sample of its micro-batch
    max_tokens: int  # the longest sample (after truncation to seq_len): sets peak memory without packing
    counted_with: str  # "tokenizer:<id>" or "chars/4"


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [str(value)] if value is not None else []


def read_texts(path: Path) -> list[str]:
    """One text per sample (all string fields joined) from a .jsonl/.json/.csv file."""
    if not path.exists():
        raise DataError(f"dataset file not found: {path}", fix="pass an existing .jsonl, .json or .csv file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            return ["\n".join(_strings(row)) for row in csv.DictReader(fh)]
    if suffix == ".json":
        return ["\n".join(_strings(r)) for r in json.loads(path.read_text(encoding="utf-8"))]
    if suffix != ".jsonl":
        raise DataError(f"{path}: unsupported dataset type '{suffix}'", fix="use .jsonl, .json or .csv")
    texts = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            texts.append("\n".join(_strings(json.loads(line))))
        except json.JSONDecodeError as err:
            raise DataError(f"{path} line {line_no}: invalid JSON ({err.msg})",
                            fix="fix or remove that line (one JSON object per line)") from None
    return texts


def hf_cache_has(repo_id: str) -> bool:
    """Whether the Hugging Face hub cache holds any snapshot of `repo_id` (checked before importing transformers,
    which costs seconds). Cache layout: $HF_HUB_CACHE or $HF_HOME/hub or ~/.cache/huggingface/hub,
    models--{org}--{name}/snapshots/ (huggingface_hub docs, "Manage huggingface_hub cache-system")."""
    import os

    hub = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub")
    snapshots = Path(hub) / ("models--" + repo_id.replace("/", "--")) / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())


def _tokenizer_counter(arch: ModelArch):
    """A token counter from the locally cached tokenizer of the model, or None (never downloads)."""
    if not arch.hf_id or "/" not in arch.hf_id or not hf_cache_has(arch.hf_id):
        return None
    try:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(arch.hf_id, local_files_only=True)
    except Exception:  # no transformers, or the tokenizer is not in the local cache
        return None
    return lambda text: len(tok(text, add_special_tokens=True)["input_ids"])


def padded_mean(lengths: list[int], micro_batch: int, seed: int = 0) -> float:
    """Mean tokens per sample when shuffled samples are padded to the longest of their micro-batch."""
    order = lengths[:]
    random.Random(seed).shuffle(order)
    total = 0
    for i in range(0, len(order), micro_batch):
        batch = order[i:i + micro_batch]
        total += max(batch) * len(batch)
    return total / len(order)


def dataset_token_stats(path: Path, arch: ModelArch, seq_len: int, micro_batch: int) -> DatasetStats:
    texts = read_texts(path)
    if not texts:
        raise DataError(f"{path}: no samples", fix="add at least one row")
    counter = _tokenizer_counter(arch)
    how = f"tokenizer:{arch.hf_id}" if counter else f"chars/{CHARS_PER_TOKEN:g}"
    counter = counter or (lambda text: max(1, math.ceil(len(text) / CHARS_PER_TOKEN)))
    lengths = [min(counter(t), seq_len) for t in texts]
    return DatasetStats(samples=len(lengths), mean_tokens=sum(lengths) / len(lengths),
                        mean_padded_tokens=padded_mean(lengths, micro_batch), max_tokens=max(lengths), counted_with=how)
