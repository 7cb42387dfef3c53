"""Streaming dataset statistics: format detection, rows measured as the trainer renders them, the summary (p95,
truncation, padding), sampling with its stated error, constant memory, Parquet/CSV, progress on stderr."""

from __future__ import annotations

import io
import itertools
import json
import math
import random
import statistics
import tracemalloc

import pytest

from frugaltune import api
from frugaltune.data_format import detect_format, fits_instead
from frugaltune.errors import DataError
from frugaltune.estimate import dataset_hist as H
from frugaltune.estimate import dataset_stats
from frugaltune.estimate.dataset_stats import dataset_token_stats
from frugaltune.ticker import Ticker
from frugaltune.train.data_tokens import ALPACA_PROMPT_NO_INPUT, CLASSIFICATION_PROMPT


REAL_COUNTER = dataset_stats._tokenizer_counter


@pytest.fixture(autouse=True)
def no_tokenizer(monkeypatch):
    monkeypatch.setattr(dataset_stats, "_tokenizer_counter", lambda arch: None)


def _jsonl(tmp_path, rows, name="train.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("row, fmt", [
    ({"messages": [{"role": "user", "content": "hi"}]}, "chat"),
    ({"instruction": "i", "input": "", "output": "o"}, "alpaca"),
    ({"text": "t", "label": "a"}, "classification"),
    ({"prompt": "p", "completion": "c"}, "completion"),
    ({"text": "t"}, "completion"),
    ({"question": "q", "answer": "a"}, None),
    (["not", "a", "row"], None),
])
def test_detect_format(row, fmt):
    assert detect_format(row) == fmt


def test_rows_are_measured_as_the_trainer_renders_them(tmp_path, tiny):
    alpaca = _jsonl(tmp_path, [{"instruction": "i" * 40, "input": "", "output": "o" * 20}], "a.jsonl")
    chars = len(ALPACA_PROMPT_NO_INPUT.format(instruction="i" * 40)) + 20
    s = dataset_token_stats(alpaca, tiny, 4096, 1)
    assert (s.format, s.format_detected, s.mean_tokens) == ("alpaca", True, math.ceil(chars / 4))
    labelled = _jsonl(tmp_path, [{"text": "t" * 30, "label": "spam"}, {"text": "u" * 10, "label": "ham"}], "c.jsonl")
    s = dataset_token_stats(labelled, tiny, 4096, 1)
    prompts = [CLASSIFICATION_PROMPT.format(labels="ham, spam", text=t) + " " + lab
               for t, lab in (("t" * 30, "spam"), ("u" * 10, "ham"))]  # the label list is in every prompt
    assert s.format == "classification" and s.mean_tokens == statistics.mean(math.ceil(len(p) / 4) for p in prompts)
    chat = _jsonl(tmp_path, [{"messages": [{"role": "user", "content": "q" * 8}, {"role": "assistant",
                                                                                   "content": "a" * 24}]}], "h.jsonl")
    assert dataset_token_stats(chat, tiny, 4096, 1).mean_tokens == (8 + 24) / 4 + 2 * 4  # + 4 tokens of markers a turn


def test_a_row_of_another_format_is_named_with_the_format_that_fits(tmp_path, tiny):
    path = _jsonl(tmp_path, [{"prompt": "p", "completion": "c"}, {"messages": [{"role": "user", "content": "x"}]}])
    with pytest.raises(DataError) as err:
        dataset_token_stats(path, tiny, 512, 1)
    assert f"{path} line 2:" in err.value.message and "set data.format: chat" in err.value.message
    assert "completion rows need" in err.value.message


def test_a_named_format_is_checked_not_detected(tmp_path, tiny):
    path = _jsonl(tmp_path, [{"text": "some text", "label": "x"}])
    s = dataset_token_stats(path, tiny, 512, 1, data_format="completion")
    assert (s.format, s.format_detected) == ("completion", False)
    with pytest.raises(DataError, match="line 1: missing field 'messages'.*looks like classification data"):
        dataset_token_stats(path, tiny, 512, 1, data_format="chat")


def test_unknown_columns_count_every_string(tmp_path, tiny):
    path = _jsonl(tmp_path, [{"question": "q" * 11, "answer": "a" * 4}])
    s = dataset_token_stats(path, tiny, 512, 1)
    assert s.format == "unknown" and s.mean_tokens == 4  # "q"*11 + "\n" + "a"*4 = 16 chars


def test_summary_lengths_truncation_and_padding(tmp_path, tiny):
    lengths = [4 * n for n in range(1, 101)]  # 1..100 tokens
    path = _jsonl(tmp_path, [{"text": "x" * n} for n in lengths])
    s = dataset_token_stats(path, tiny, seq_len=80, micro_batch=4)
    assert (s.samples, s.longest_tokens, s.max_tokens, s.p95_tokens, s.truncated_rows) == (100, 100, 80, 95, 20)
    assert s.mean_tokens == pytest.approx(statistics.mean(min(n, 80) for n in range(1, 101)))
    assert s.mean_padded_tokens > s.mean_tokens and 0 < s.padding_pct < 100
    summary = s.summary()
    assert summary["tokens_total"] == round(s.mean_tokens * 100) and summary["padding_pct"] == round(s.padding_pct, 2)


@pytest.mark.parametrize("lengths, b", [([3, 1, 4, 1, 5, 9, 2], 3), ([2, 2, 7, 1], 2), ([5, 6], 4), ([8], 1)])
def test_expected_padding_is_the_mean_over_every_batch(lengths, b):
    batches = list(itertools.combinations(lengths, min(b, len(lengths))))
    exact = statistics.mean(max(batch) for batch in batches)
    hist = {n: lengths.count(n) for n in set(lengths)}
    assert H.expected_padded(hist, b) == pytest.approx(exact)


def test_a_sample_states_its_error_and_covers_the_truth(tmp_path, tiny):
    rng = random.Random(7)
    lengths = [rng.randint(4, 2000) for _ in range(20_000)]
    path = _jsonl(tmp_path, [{"text": "x" * n} for n in lengths])
    full = dataset_token_stats(path, tiny, 4096, 1)
    s = dataset_token_stats(path, tiny, 4096, 1, sample=400)
    assert (s.samples, s.sampled_rows, full.sampled_rows) == (20_000, 400, None)
    assert 0 < s.mean_tokens_error < 0.1 * s.mean_tokens and full.mean_tokens_error == 0
    assert abs(s.mean_tokens - full.mean_tokens) <= s.mean_tokens_error  # seeded: this draw is inside its 95 % band
    assert dataset_token_stats(path, tiny, 4096, 1, sample=50_000).sampled_rows is None  # larger than the file


def test_csv_and_parquet_stream_and_sample(tmp_path, tiny):
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    rows = [{"prompt": "p" * (i % 50), "completion": "c" * 20} for i in range(10_000)]
    table = pa.Table.from_pylist(rows)
    pq.write_table(table, tmp_path / "train.parquet", row_group_size=1000)
    path_csv = tmp_path / "train.csv"
    path_csv.write_text("prompt,completion\n" + "".join(f"{r['prompt']},{r['completion']}\n" for r in rows))
    expected = statistics.mean(max(1, math.ceil((i % 50 + 20) / 4)) for i in range(10_000))
    for path in (tmp_path / "train.parquet", path_csv):
        s = dataset_token_stats(path, tiny, 512, 1)
        assert (s.samples, s.format) == (10_000, "completion") and s.mean_tokens == pytest.approx(expected)
        sampled = dataset_token_stats(path, tiny, 512, 1, sample=500)
        assert sampled.sampled_rows == 500 and abs(sampled.mean_tokens - expected) < 3 * sampled.mean_tokens_error


def _peak_bytes(path, tiny) -> int:
    tracemalloc.start()
    dataset_token_stats(path, tiny, 512, 1, progress=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_does_not_grow_with_the_file(tmp_path, tiny):
    rows = [{"prompt": "p" * (i % 300), "completion": "c" * (i % 700)} for i in range(30_000)]
    small = _peak_bytes(_jsonl(tmp_path, rows[:3000], "small.jsonl"), tiny)
    large = _peak_bytes(_jsonl(tmp_path, rows, "large.jsonl"), tiny)
    assert large < 1.3 * small + 100_000, (small, large)  # 10x the rows, about the same memory


def test_tokenizer_counts_in_batches(tmp_path, tiny, monkeypatch):
    calls = []

    def counter(texts):
        calls.append(len(texts))
        return [len(t.split()) + 1 for t in texts]  # words + a BOS

    monkeypatch.setattr(dataset_stats, "_tokenizer_counter", lambda arch: counter)
    path = _jsonl(tmp_path, [{"text": "one two three"}] * 2500)
    s = dataset_token_stats(path, tiny, 512, 1)
    assert s.mean_tokens == 4 and s.counted_with == "tokenizer:" + (tiny.hf_id or "")
    assert max(calls) <= 1024 and sum(calls) == 2500


def test_bad_json_names_the_line(tmp_path, tiny):
    path = tmp_path / "t.jsonl"
    path.write_text('{"text": "ok"}\n{"text": broken\n')
    with pytest.raises(DataError, match=r"t.jsonl line 2: invalid JSON"):
        dataset_token_stats(path, tiny, 512, 1)


def test_progress_shows_only_after_a_second_with_an_eta(monkeypatch):
    now = [0.0]
    monkeypatch.setenv("FRUGALTUNE_PROGRESS", "1")
    out = io.StringIO()
    t = Ticker("reading x.jsonl", total=1000, stream=out, clock=lambda: now[0])
    t.update(100, 10)
    assert out.getvalue() == ""  # quick work shows nothing
    now[0] = 2.0
    t.update(500, 50)
    now[0] = 4.0
    t.close(100)
    lines = out.getvalue().splitlines()
    assert lines[0] == "reading x.jsonl: 50% · 500 B of 1.0 KB · 50 rows · ETA 2 s"
    assert lines[1] == "reading x.jsonl: 100 rows in 4.0 s"


def test_progress_is_silent_on_a_pipe_by_default(monkeypatch):
    monkeypatch.delenv("FRUGALTUNE_PROGRESS", raising=False)
    out = io.StringIO()
    t = Ticker("x", total=10, stream=out, clock=lambda: 99.0, show_after_s=0)
    t.update(5, 5)
    t.close(5)
    assert out.getvalue() == ""


def test_estimate_json_and_table_show_the_summary(tmp_path, cli):
    path = _jsonl(tmp_path, [{"messages": [{"role": "user", "content": "q" * 40},
                                           {"role": "assistant", "content": "a" * 400}]}] * 30)
    proc = cli("estimate", "--model", "7B", "--gpu", "a10", "--platform", "lambda", "--dataset", str(path), "--json",
               env={"HF_HOME": str(tmp_path / "hf")})
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)["dataset"]
    assert (d["samples"], d["format"], d["format_detected"], d["counted_with"]) == (30, "chat", True, "chars/4")
    assert proc.stderr == ""  # no progress for a small file, and never on stdout
    table = cli("estimate", "--model", "7B", "--gpu", "a10", "--platform", "lambda", "--dataset", str(path),
                env={"HF_HOME": str(tmp_path / "hf")}).stdout
    assert "30 rows · chat (detected from its columns)" in table and "4 characters per token" in table


def test_api_estimate_carries_the_summary(tmp_path):
    path = _jsonl(tmp_path, [{"text": "x" * 400, "label": "a"}, {"text": "y" * 40, "label": "b"}])
    j = api.estimate(model="llama-2-7b", gpu="a10", platform="lambda", dataset=path, micro_batch=2).to_json()
    assert j["dataset"]["format"] == "classification" and j["dataset"]["padding_pct"] > 0
    assert api.estimate(model="llama-2-7b", gpu="a10", platform="lambda").to_json()["dataset"] is None


def test_fits_instead_says_nothing_when_nothing_fits():
    assert fits_instead({"q": 1}, "chat") == "" and fits_instead({"text": "t"}, "completion") == ""


@pytest.mark.slow
def test_a_cached_tokenizer_counts_every_row_exactly(tmp_path, monkeypatch):
    """A model outside the catalog with its config and tokenizer in the local Hugging Face cache: the summary says
    the tokenizer counted, and the counts are the tokenizer's own (in batches), rows rendered as the trainer does."""
    pytest.importorskip("transformers")
    from frugaltune.catalog import hub
    from frugaltune.train.presets import train_tokenizer

    monkeypatch.setattr(dataset_stats, "_tokenizer_counter", REAL_COUNTER)  # the real lookup (autouse turned it off)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "_ARCHS", {})
    rows = [{"prompt": f"question {i}: " + "word " * (i % 17), "completion": "answer " * (1 + i % 5)}
            for i in range(2500)]
    snapshot = tmp_path / "hf" / "hub" / "models--someorg--tiny-tok" / "snapshots" / "c0ffee"
    snapshot.mkdir(parents=True)
    tok = train_tokenizer([r["prompt"] + r["completion"] for r in rows], vocab_size=300)
    tok.save_pretrained(snapshot)
    (snapshot / "config.json").write_text(json.dumps({
        "model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300, "max_position_embeddings": 512}))
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("c0ffee")
    path = _jsonl(tmp_path, rows)
    dataset_stats._MEMO.clear()
    s = api.estimate(model="someorg/tiny-tok", gpu="a10", platform="lambda", dataset=path).to_json()["dataset"]
    expected = [len(tok(r["prompt"] + r["completion"], add_special_tokens=True)["input_ids"]) for r in rows]
    assert s["counted_with"] == "tokenizer:someorg/tiny-tok" and s["format"] == "completion"
    assert s["mean_tokens"] == pytest.approx(statistics.mean(expected)) and s["longest_tokens"] == max(expected)


def test_counts_are_made_again_when_the_local_tokenizer_changes(tmp_path, monkeypatch, tiny):
    """The counts of a file are kept per version of the file AND of the model's tokenizer in the local Hugging Face
    cache: one downloaded or replaced since is used at once, never the counts of the one before."""
    from frugaltune.record import replace

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    arch = replace(tiny, hf_id="someorg/tiny-tok")
    snapshot = tmp_path / "hf" / "hub" / "models--someorg--tiny-tok" / "snapshots" / "c0ffee"

    def counter(_arch):  # stands in for the cached tokenizer: its tokenizer.json says how many tokens a character is
        vocab = snapshot / "tokenizer.json"
        if not vocab.is_file():
            return None
        per_char = int(vocab.read_text())
        return lambda texts: [len(t) * per_char for t in texts]

    monkeypatch.setattr(dataset_stats, "_tokenizer_counter", counter)
    path = _jsonl(tmp_path, [{"text": "x" * 40}, {"text": "y" * 80}])
    dataset_stats._MEMO.clear()
    assert dataset_token_stats(path, arch, 4096, 1).counted_with == "chars/4"
    snapshot.mkdir(parents=True)
    (snapshot / "tokenizer.json").write_text("1")  # the tokenizer is downloaded
    one = dataset_token_stats(path, arch, 4096, 1)
    assert one.counted_with == "tokenizer:someorg/tiny-tok" and dataset_token_stats(path, arch, 4096, 1) is one
    (snapshot / "tokenizer.json").write_text("12")  # replaced by another one
    twelve = dataset_token_stats(path, arch, 4096, 1)
    assert twelve.mean_tokens == pytest.approx(12 * one.mean_tokens, rel=0.05)
