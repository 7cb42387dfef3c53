"""The trade-classifier data generator: deterministic, balanced, varied, not solvable by spotting the label word."""

from __future__ import annotations

import collections
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "trade-classifier" / "generate.py"


@pytest.fixture(scope="module")
def gen():
    spec = importlib.util.spec_from_file_location("trade_generate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_same_seed_same_data_other_seed_other_data(gen):
    a = gen.generate_splits(300, 60, seed=1)
    assert a == gen.generate_splits(300, 60, seed=1)
    b = gen.generate_splits(300, 60, seed=2)
    assert len({r["text"] for r in a[0]} & {r["text"] for r in b[0]}) < 5
    # the eval split does not depend on the train size
    assert gen.generate_splits(100, 60, seed=1)[1][:10] == a[1][:10]


def test_labels_present_balanced_and_unique(gen):
    train, held_out = gen.generate_splits(1000, 200, seed=0)
    assert len(gen.LABELS) == 10 and len(set(gen.LABELS)) == 10
    for rows, n in ((train, 1000), (held_out, 200)):
        counts = collections.Counter(r["label"] for r in rows)
        assert set(counts) == set(gen.LABELS) and len(rows) == n
        assert max(counts.values()) - min(counts.values()) <= 1
    texts = [r["text"] for r in train + held_out]
    assert len(set(texts)) == len(texts)  # no duplicate, and eval shares no text with train
    # no near-duplicates either: under 1% of postings share over 85% of their words with another one
    words = [set(t.lower().split()) for t in texts[:600]]
    near = {i for i in range(len(words)) for j in range(i + 1, len(words))
            if len(words[i] & words[j]) > 0.85 * len(words[i] | words[j])}
    assert len(near) < 0.01 * len(words), len(near)


def test_label_word_absent_from_a_real_fraction(gen):
    train, _ = gen.generate_splits(1000, 0, seed=0)
    key = {lab: gen.TRADES[lab]["leak"][0] for lab in gen.LABELS}
    named = [key[r["label"]] in r["text"].lower() for r in train]
    share = sum(named) / len(named)
    assert 0.2 < share < 0.7, share  # the label word is often, but far from always, there
    for lab in gen.LABELS:  # and that holds for every trade, so no class is keyword-trivial
        rows = [n for n, r in zip(named, train) if r["label"] == lab]
        assert sum(rows) / len(rows) < 0.8, lab
    hard = [r for r in train if any(p in r["text"] for p in ("alongside", "Coordinate daily", "handle their scopes",
                                                               "working near"))]
    assert 0.1 < len(hard) / len(train) < 0.35


def test_cli_writes_files(tmp_path):
    out = tmp_path / "data"
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--train", "40", "--eval", "20", "--seed", "3"],
                   check=True, capture_output=True)
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    held = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    labels = (out / "labels.txt").read_text().splitlines()
    assert len(train) == 40 and len(held) == 20 and len(labels) == 10
    assert all(set(r) == {"text", "label"} and r["label"] in labels for r in train + held)


def test_committed_default_data_matches_generator(gen):
    data = ROOT / "examples" / "trade-classifier" / "data"
    train, held_out = gen.generate_splits(600, 120, seed=0)
    assert [json.loads(x) for x in (data / "train.jsonl").read_text().splitlines()] == train
    assert [json.loads(x) for x in (data / "eval.jsonl").read_text().splitlines()] == held_out
    assert (data / "labels.txt").read_text().splitlines() == gen.LABELS
