"""`--dataset PATH`: real samples and tokens of a JSONL/CSV file. Without a cached tokenizer tokens are counted by the
documented chars/4 rule: ceil(len(text) / 4), at least 1, capped at seq_len; single-text rows count their text, rows
of an unknown format every string field joined with newlines. (More: test_dataset_stats.py.)"""

from __future__ import annotations

import json
import sys
import types

import pytest

from frugaltune import api
from frugaltune.errors import DataError
from frugaltune.estimate import dataset_stats
from frugaltune.estimate.dataset_stats import dataset_token_stats, padded_mean

# text lengths: 40 -> 10 tokens; 20 chars -> 5 tokens; 7 -> ceil(1.75) = 2 tokens
ROWS = [{"text": "a" * 40}, {"text": "x" * 10 + "\n" + "y" * 9}, {"text": "z" * 7}]
TOKENS = [10, 5, 2]


@pytest.fixture
def jsonl(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n\n")  # a trailing blank line is skipped
    return path


@pytest.fixture
def no_tokenizer(monkeypatch):
    """Force the chars/4 rule even where the model's tokenizer happens to be cached."""
    monkeypatch.setattr(dataset_stats, "_tokenizer_counter", lambda arch: None)


def test_chars_per_4_rule(jsonl, tiny, no_tokenizer):
    stats = dataset_token_stats(jsonl, tiny, seq_len=512, micro_batch=1)
    assert stats.samples == 3
    assert stats.mean_tokens == pytest.approx(sum(TOKENS) / 3)  # 17 / 3
    assert stats.mean_padded_tokens == pytest.approx(17 / 3)  # micro-batch 1: no padding
    assert stats.counted_with == "chars/4" and stats.format == "completion"


def test_seq_len_caps_and_padding(jsonl, tiny, no_tokenizer):
    stats = dataset_token_stats(jsonl, tiny, seq_len=8, micro_batch=3)
    assert stats.mean_tokens == pytest.approx((8 + 5 + 2) / 3)  # the 10-token sample is truncated to 8
    assert stats.mean_padded_tokens == 8  # one micro-batch of 3, padded to its longest (8)


def test_padded_mean():
    assert padded_mean([10, 5, 2], 1) == pytest.approx(17 / 3)
    assert padded_mean([10, 5, 2], 3) == 10
    assert padded_mean([4, 4, 4, 4], 2) == 4
    assert padded_mean([10, 5, 2], 2) == pytest.approx((10 + 10 + 5) / 3)  # pairs {10,5} {10,2} {5,2}, equally likely


def test_csv_dataset(tmp_path, tiny, no_tokenizer):
    path = tmp_path / "train.csv"
    path.write_text("prompt,response\n" + "p" * 8 + "," + "r" * 7 + "\nabc,d\n")
    stats = dataset_token_stats(path, tiny, seq_len=512, micro_batch=1)
    # "pppppppp\nrrrrrrr" = 16 chars -> 4 tokens; "abc\nd" = 5 chars -> 2 tokens
    assert (stats.samples, stats.mean_tokens) == (2, 3.0)


def test_empty_and_unsupported_files(tmp_path, tiny):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DataError, match="no samples"):
        dataset_token_stats(empty, tiny, 512, 1)
    text = tmp_path / "x.txt"
    text.write_text("hi")
    with pytest.raises(DataError, match="unknown data file type '.txt'"):
        dataset_token_stats(text, tiny, 512, 1)


def test_api_estimate_uses_dataset_counts(jsonl, no_tokenizer, today):
    j = api.estimate(model="llama-2-7b", gpu="a10", platform="lambda", dataset=jsonl, epochs=1, today=today).to_json()
    assert j["job"]["tokens_total"] == 17  # 3 samples, 10 + 5 + 2 tokens, 1 epoch


def test_tokens_total_is_not_truncated(tmp_path, no_tokenizer, today):
    # 6 samples of 8 tokens (32 chars) + 1 of 13 tokens (52 chars) = 61 tokens; 7 x (61 / 7) is 60.99999999999999 in
    # floating point, which int() truncated to 60
    path = tmp_path / "seven.jsonl"
    path.write_text("".join(json.dumps({"text": "a" * n}) + "\n" for n in [32] * 6 + [52]))
    j = api.estimate(model="llama-2-7b", gpu="a10", platform="lambda", dataset=path, epochs=1, today=today).to_json()
    assert j["job"]["tokens_total"] == 61


def test_cli_dataset_counts(cli, jsonl, tmp_path):
    # a bare size has no tokenizer (and an empty HF_HOME caches none): the CLI falls back to chars/4 as documented
    proc = cli("estimate", "--model", "7B", "--gpu", "a10", "--platform", "lambda", "--dataset", str(jsonl),
               "--epochs", "2", "--json", env={"HF_HOME": str(tmp_path / "hf")})
    assert proc.returncode == 0, proc.stderr
    j = json.loads(proc.stdout)
    assert j["job"]["tokens_total"] == 17 * 2
    assert j["job"]["steps_total"] == 2  # packed: ceil(17 / 512) = 1 sequence per epoch x 2 epochs


class _TransformersSpy(types.ModuleType):
    """Stands in for `transformers` and records whether the dataset counter reached for it."""

    touched = False

    def __getattr__(self, name):
        type(self).touched = True
        raise ImportError("spy")


def test_uncached_tokenizer_does_not_reach_for_transformers(jsonl, tiny, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))
    monkeypatch.setitem(sys.modules, "transformers", _TransformersSpy("transformers"))
    arch = tiny.__class__(**{**tiny.__dict__, "hf_id": "nobody/not-cached-anywhere"})
    stats = dataset_token_stats(jsonl, arch, seq_len=512, micro_batch=1)
    assert stats.counted_with == "chars/4"
    assert not _TransformersSpy.touched
