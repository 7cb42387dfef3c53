"""Count a dataset's real tokens for `frugaltune estimate --dataset PATH` (and plan, and train's dry run), streaming.

Rows are read one at a time (JSONL line by line, CSV/TSV row by row, Parquet row group by row group) and only a
histogram of their lengths is kept, so memory does not grow with the file. The format is detected from the columns
(frugaltune/data_format.py) unless given, and each row is measured as the trainer renders it
(estimate/dataset_rows.py). With the model's tokenizer in the local Hugging Face cache tokens are counted exactly, in
batches; otherwise by the documented rule of CHARS_PER_TOKEN characters per token (estimate/cost.py).
`sample=N` measures a uniform random sample of N rows (seeded) and states the sampling error of the mean.
Padding without packing is the expected padding of shuffled micro-batches (estimate/dataset_hist.py).
"""

from __future__ import annotations

import math
from pathlib import Path

from frugaltune.catalog.types import ModelArch
from frugaltune.errors import DataError
from frugaltune.estimate import dataset_hist as H
from frugaltune.estimate.cost import CHARS_PER_TOKEN
from frugaltune.record import asdict, record


@record(frozen=True)
class DatasetStats:
    samples: int  # rows in the file
    mean_tokens: float  # per row, after truncation to seq_len
    mean_padded_tokens: float  # per row, incl. padding to the longest row of its micro-batch (no packing)
    max_tokens: int  # the longest row after truncation to seq_len: sets peak memory without packing
    counted_with: str  # "tokenizer:<id>" or "chars/4"
    format: str = "unknown"  # alpaca | chat | completion | classification | unknown (every string field counted)
    format_detected: bool = True  # False when the caller named the format
    p95_tokens: int = 0  # before truncation
    longest_tokens: int = 0  # before truncation
    truncated_rows: int = 0  # rows longer than seq_len (cut to it)
    seq_len: int = 0
    micro_batch: int = 1
    sampled_rows: int | None = None  # rows measured when sampling (None: every row)
    mean_tokens_error: float = 0.0  # 95 % half-width of mean_tokens from sampling (0: every row measured)
    attended_tokens: float = 0.0  # E[L^2] / E[L] after truncation: packed rows attended one by one (dataset_hist)

    @property
    def padding_pct(self) -> float:
        """Share of a padded (unpacked) batch that is padding."""
        return 100.0 * (1 - self.mean_tokens / self.mean_padded_tokens) if self.mean_padded_tokens else 0.0

    def summary(self) -> dict:
        """The `dataset` object of `frugaltune estimate --json`."""
        out = asdict(self)
        out["padding_pct"] = round(self.padding_pct, 2)
        out["tokens_total"] = round(self.mean_tokens * self.samples)
        return out


def padded_mean(lengths: list[int], micro_batch: int, seed: int = 0) -> float:
    """Mean tokens per row when shuffled rows are padded to the longest of their micro-batch (expected value)."""
    return H.expected_padded(_hist(lengths), micro_batch)


def attended_mean(lengths: list[int]) -> float:
    """E[L^2] / E[L] of the rows' lengths (dataset_hist.attended_length)."""
    return H.attended_length(_hist(lengths))


def _hist(lengths: list[int]) -> dict[int, int]:
    hist: dict[int, int] = {}
    for n in lengths:
        hist[n] = hist.get(n, 0) + 1
    return hist


_MEMO: dict[tuple, DatasetStats] = {}  # per process, keyed on the file's version and the tokenizer's (tokenizer_stamp)
TOKENIZER_FILES = ("tokenizer", "vocab", "merges", "special_tokens_map", "added_tokens", "config.json", "spiece")


def dataset_token_stats(path: str | Path, arch: ModelArch, seq_len: int, micro_batch: int, *,
                        sample: int | None = None, data_format: str | None = None,
                        progress: bool = True) -> DatasetStats:
    """Token statistics of a .jsonl/.json/.csv/.tsv/.parquet file for a model (its cached tokenizer, else chars/4).

    Args:
        sample: measure a seeded uniform sample of this many rows instead of every row.
        data_format: alpaca | chat | completion | classification; None or "auto" detects it from the columns.
        progress: show progress with an ETA on stderr when reading takes more than a second.

    Raises:
        DataError: a missing, unreadable or empty file, or a row that does not fit the format (line named).
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        raise DataError(f"dataset file not found: {path}", fix="pass an existing .jsonl, .json, .csv or .parquet "
                        "file") from None
    if sample is not None and sample < 1:
        raise DataError(f"--sample {sample}: must be at least 1 row.", fix="use e.g. --sample 1000.")
    fmt = None if data_format in (None, "auto") else data_format
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, arch.hf_id, tokenizer_stamp(arch.hf_id), seq_len,
           micro_batch, sample, fmt)
    if key not in _MEMO:
        from frugaltune.estimate.dataset_scan import scan

        counter = _tokenizer_counter(arch)
        tally = scan(path, fmt, counter, sample, progress)
        how = f"tokenizer:{arch.hf_id}" if counter else f"chars/{CHARS_PER_TOKEN:g}"
        _MEMO[key] = _stats(tally, seq_len, micro_batch, how, fmt is None)
    return _MEMO[key]


def _stats(tally, seq_len: int, micro_batch: int, how: str, detected: bool) -> DatasetStats:
    hist = tally.token_hist()
    cut = H.truncated(hist, seq_len)
    mean, _ = H.mean_and_var(cut)
    measured = sum(hist.values())
    sampled = measured < tally.rows
    return DatasetStats(samples=tally.rows, mean_tokens=mean, mean_padded_tokens=H.expected_padded(cut, micro_batch),
                        max_tokens=max(cut), counted_with=how, format=tally.format or "unknown",
                        format_detected=detected, p95_tokens=H.quantile(hist, 0.95), longest_tokens=max(hist),
                        truncated_rows=round(sum(c for t, c in hist.items() if t > seq_len) * tally.rows / measured),
                        seq_len=seq_len, micro_batch=micro_batch, sampled_rows=measured if sampled else None,
                        mean_tokens_error=H.mean_error(cut, tally.rows), attended_tokens=H.attended_length(cut))


def tokenizer_stamp(repo_id: str) -> tuple:
    """What identifies the tokenizer of `repo_id` in the local Hugging Face cache: every snapshot's tokenizer and
    config files (names, sizes, mtimes); () when there is none. A tokenizer downloaded, updated or replaced since the
    counts were made changes it, so they are made again."""
    if not repo_id or "/" not in repo_id:
        return ()
    from frugaltune.catalog.hub import hub_cache_dir

    snapshots = Path(hub_cache_dir()) / ("models--" + repo_id.replace("/", "--")) / "snapshots"
    stamp = []
    for snapshot in sorted(snapshots.iterdir()) if snapshots.is_dir() else ():
        for f in sorted(snapshot.iterdir()):
            if f.name.startswith(TOKENIZER_FILES) and f.is_file():
                st = f.stat()  # a cache's files are links to its blobs: the blob's size and mtime
                stamp.append((snapshot.name, f.name, st.st_size, st.st_mtime_ns))
    return tuple(stamp)


def hf_cache_has(repo_id: str) -> bool:
    """Whether the Hugging Face hub cache holds any snapshot of `repo_id` (checked before importing transformers,
    which costs seconds; layout in catalog/hub.py)."""
    from frugaltune.catalog.hub import hub_cache_dir

    snapshots = Path(hub_cache_dir()) / ("models--" + repo_id.replace("/", "--")) / "snapshots"
    return snapshots.is_dir() and any(snapshots.iterdir())


def _tokenizer_counter(arch: ModelArch):
    """A batch token counter (list of texts -> list of counts) from the locally cached tokenizer of the model, or
    None (never downloads)."""
    if not arch.hf_id or "/" not in arch.hf_id or not hf_cache_has(arch.hf_id):
        return None
    try:
        from transformers import AutoTokenizer

        from frugaltune.catalog.hub import hub_cache_dir

        # the cache hf_cache_has looked in (huggingface_hub fixes its default when first imported)
        tok = AutoTokenizer.from_pretrained(arch.hf_id, local_files_only=True, cache_dir=hub_cache_dir())
    except Exception:  # no transformers, or the tokenizer is not in the local cache
        return None
    return lambda texts: [len(ids) for ids in tok(texts, add_special_tokens=True)["input_ids"]]


def chars_to_tokens(chars: int) -> int:
    """The documented rule without a tokenizer: ceil(chars / CHARS_PER_TOKEN), at least 1."""
    return max(1, math.ceil(chars / CHARS_PER_TOKEN))
