"""Training data: loading and checking every format from every file type, masking, truncation, packing,
splitting, batching, and label scoring. Tokenizers are trained here on a small corpus (no download)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from frugaltune.errors import ConfigError, DataError
from frugaltune.train.data import (
    IGNORE_INDEX,
    accuracy,
    build_examples,
    classification_prompt,
    collate,
    find_labels,
    load_records,
    pack_examples,
    score_labels,
    train_eval_split,
)

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
TRADE_PROMPT = "Classify this job description into one of: {labels}.\nJob: {text}\nTrade:"

ROWS = {
    "alpaca": [{"instruction": "Name a tool for cutting wood.", "input": "", "output": "A hand saw."},
               {"instruction": "Translate to French.", "input": "good morning", "output": "bonjour"}],
    "chat": [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"},
                           {"role": "assistant", "content": "Hello!"}]},
             {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"},
                           {"role": "user", "content": "and 3+3?"}, {"role": "assistant", "content": "6"}]}],
    "completion": [{"prompt": "The capital of France is", "completion": " Paris."},
                   {"prompt": "Roses are red,", "completion": " violets are blue."}],
    "classification": [{"text": "Install conduit and wire panels.", "label": "electrician"},
                       {"text": "Replace water heaters and fix leaks.", "label": "plumber"}],
}
EXPECTED = {**ROWS, "chat": ROWS["chat"]}


def _write(path: Path, rows: list[dict]) -> Path:
    """Write rows as `path`'s type: .jsonl, .json, .csv (nested values as JSON), .parquet, or a datasets dir."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows, indent=2))
    elif path.suffix == ".csv":
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()} for r in rows)
    elif path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        import datasets

        datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return path


def _make_tokenizer(bos: bool = False, chat_template: str | None = CHATML):
    """A byte-level BPE tokenizer trained on the test texts (vocab 400), wrapped as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    corpus = [json.dumps(r) for rows in ROWS.values() for r in rows] + [ALPACA_TEXT, TRADE_PROMPT] * 3
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, show_progress=False,
                                  special_tokens=["<pad>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus, trainer)
    if bos:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    t = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    t.chat_template = chat_template
    return t


ALPACA_TEXT = "Below is an instruction that describes a task. ### Instruction: ### Input: ### Response:"


@pytest.fixture(scope="module")
def tok():
    return _make_tokenizer()


def _trained_text(tok, ex: dict) -> str:
    return tok.decode([t for t in ex["labels"] if t != IGNORE_INDEX])


def _prompt_text(tok, ex: dict) -> str:
    return tok.decode([t for t, lab in zip(ex["input_ids"], ex["labels"]) if lab == IGNORE_INDEX])


# ---- loading ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet", ".ds"])
@pytest.mark.parametrize("format", list(ROWS))
def test_each_format_loads_from_each_file_type(tmp_path, format, suffix):
    path = _write(tmp_path / f"train{suffix}", ROWS[format])
    records = load_records(path, format=format)
    assert records == EXPECTED[format]


def test_column_names_and_single_text_completion(tmp_path):
    rows = [{"body": "Some free text.", "tag": 3}, {"body": "More text.", "tag": "plumber"}]
    path = _write(tmp_path / "t.jsonl", rows)
    assert load_records(path, format="completion", text_field="body") == [
        {"prompt": "", "completion": "Some free text."}, {"prompt": "", "completion": "More text."}]
    assert [r["label"] for r in load_records(path, format="classification", text_field="body",
                                             label_field="tag")] == ["3", "plumber"]
    alpaca = _write(tmp_path / "a.jsonl", [{"q": "Say hi", "a": "hi"}])
    assert load_records(alpaca, format="alpaca", instruction_field="q", output_field="a") == [
        {"instruction": "Say hi", "input": "", "output": "hi"}]


def test_saved_dataset_dict_and_class_labels(tmp_path):
    import datasets

    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["electrician", "plumber"])})
    ds = datasets.Dataset.from_dict({"text": ["wire a panel", "fix a leak"], "label": [0, 1]}, features=features)
    datasets.DatasetDict({"train": ds, "test": ds.select([1])}).save_to_disk(str(tmp_path / "dd"))
    assert load_records(tmp_path / "dd", format="classification") == [
        {"text": "wire a panel", "label": "electrician"}, {"text": "fix a leak", "label": "plumber"}]
    assert load_records(tmp_path / "dd", format="classification", split="test") == [
        {"text": "fix a leak", "label": "plumber"}]
    with pytest.raises(DataError, match="no split 'validation'"):
        load_records(tmp_path / "dd", format="classification", split="validation")


BAD_ROWS = [
    # (file name, content, format, extra kwargs, expected message fragment)
    ("train.jsonl", '{"instruction": "a", "output": "b"}\n\n{"instruction": "c", "output": "d"\n', "alpaca", {},
     r"train.jsonl line 3: invalid JSON"),
    ("train.jsonl", '{"instruction": "a", "output": "b"}\n{"instruction": "c", "outptu": "d"}\n', "alpaca", {},
     (r"train.jsonl line 2: missing field 'output' Did you mean: outptu\? \(alpaca rows need 'instruction', "
      r"'output'; 'input' optional\)")),
    ("train.jsonl", '{"instruction": 5, "output": "b"}\n', "alpaca", {},
     r"line 1: field 'instruction' must be a string, got int"),
    ("train.jsonl", '{"text": "ok", "label": "welder"}\n{"text": "   ", "label": "welder"}\n', "classification", {},
     r"line 2: field 'text' is empty"),
    ("train.jsonl", '{"text": "ok", "label": "weldr"}\n', "classification", {"labels": ["welder", "plumber"]},
     r"line 1: unknown label 'weldr' Did you mean: welder\?"),
    ("train.jsonl", '[1, 2]\n', "classification", {}, r"line 1: expected an object with named fields, got list"),
    ("train.json", '[{"text": "a", "label": "x"},\n {"text": "b"}]', "classification", {},
     r"train.json item 2: missing field 'label'"),
    ("train.json", '[{"text": "a",\n "label": "x"}\n {"text": "b"}]', "classification", {},
     r"train.json line 3: invalid JSON"),
    ("train.csv", 'text,label\n"two\nlines",welder\n"",welder\n', "classification", {}, r"train.csv line 4: field"),
    ("train.csv", 'text,label\nok,welder,extra\n', "classification", {}, r"train.csv line 2: 1 more value"),
    ("train.jsonl", '{"messages": [{"role": "user", "content": "hi"}]}\n', "chat", {},
     r"line 1: no assistant message with content"),
    ("train.jsonl", '{"messages": [{"role": "user", "content": ["a"]}]}\n', "chat", {},
     r"line 1: message 1: 'content' must be a string \(a list\)"),
    ("train.jsonl", '{"prompt": "a"}\n', "completion", {}, r"line 1: missing field 'completion'"),
    ("train.txt", "x", "completion", {}, r"unknown data file type '.txt'"),
    ("train.jsonl", "\n\n", "completion", {}, r"train.jsonl: no rows"),
]


@pytest.mark.parametrize("name,content,format,kwargs,match", BAD_ROWS)
def test_bad_rows_name_file_and_line(tmp_path, name, content, format, kwargs, match):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=match) as info:
        load_records(tmp_path / name, format=format, **kwargs)
    assert info.value.fix


def test_bad_parquet_row_and_many_bad_rows_counted(tmp_path):
    rows = [{"text": "ok", "label": "a"}] + [{"text": "", "label": "a"}] * 5
    path = _write(tmp_path / "t.parquet", rows)
    with pytest.raises(DataError) as info:
        load_records(path, format="classification")
    message = str(info.value)
    assert "t.parquet row 2: field 'text' is empty" in message and "row 4" in message
    assert "and 2 more bad row(s) of 6" in message


def test_missing_paths_and_unknown_format(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_records(tmp_path / "nope.jsonl", format="alpaca")
    (tmp_path / "plain_dir").mkdir()
    with pytest.raises(DataError, match="not one written by datasets' save_to_disk"):
        load_records(tmp_path / "plain_dir", format="alpaca")
    with pytest.raises(ConfigError, match="Did you mean: classification"):
        load_records(tmp_path / "nope.jsonl", format="clasification")


# ---- building examples -----------------------------------------------------------------------------------------

def test_alpaca_loss_on_output_only(tok):
    examples = build_examples(EXPECTED["alpaca"], tok, format="alpaca", max_seq_len=512)
    for ex, row in zip(examples, EXPECTED["alpaca"]):
        assert len(ex["input_ids"]) == len(ex["labels"])
        assert _trained_text(tok, ex) == row["output"] + "</s>"
        prompt = _prompt_text(tok, ex)
        assert prompt.endswith("### Response:\n") and row["instruction"] in prompt
        assert ("### Input:\n" + row["input"] in prompt) == bool(row["input"])
        # the trained tokens are exactly the tail of the sequence, and equal the inputs there
        n = sum(t != IGNORE_INDEX for t in ex["labels"])
        assert ex["labels"][-n:] == ex["input_ids"][-n:] and set(ex["labels"][:-n]) == {IGNORE_INDEX}


def test_classification_prompt_and_label(tok):
    records = EXPECTED["classification"]
    examples = build_examples(records, tok, format="classification", max_seq_len=256,
                              labels=["plumber", "electrician"], prompt_template=TRADE_PROMPT)
    assert _prompt_text(tok, examples[0]) == ("Classify this job description into one of: plumber, electrician.\n"
                                              "Job: Install conduit and wire panels.\nTrade:")
    assert _trained_text(tok, examples[0]) == " electrician</s>"
    assert _trained_text(tok, examples[1]) == " plumber</s>"
    default = build_examples(records, tok, format="classification", max_seq_len=256)
    assert _prompt_text(tok, default[1]).startswith("Classify this text into one of: electrician, plumber.\nText:")
    assert find_labels(records) == ["electrician", "plumber"]
    with pytest.raises(ConfigError, match="no {text} field"):
        build_examples(records, tok, format="classification", max_seq_len=256, prompt_template="{labels}")


def test_completion_prompt_masked_and_single_text_all_trained(tok):
    ex = build_examples(EXPECTED["completion"], tok, format="completion", max_seq_len=64)
    assert _prompt_text(tok, ex[0]) == "The capital of France is"
    assert _trained_text(tok, ex[0]) == " Paris.</s>"
    single = build_examples([{"prompt": "", "completion": "Roses are red,"}], tok, format="completion", max_seq_len=64)
    assert single[0]["labels"] == single[0]["input_ids"]


def test_bos_prefix_is_added_and_masked():
    tok = _make_tokenizer(bos=True)
    ex = build_examples(EXPECTED["completion"], tok, format="completion", max_seq_len=64)[0]
    assert ex["input_ids"][0] == tok.bos_token_id and ex["labels"][0] == IGNORE_INDEX
    assert _trained_text(tok, ex) == " Paris.</s>"


def test_chat_loss_on_every_assistant_turn(tok):
    examples = build_examples(EXPECTED["chat"], tok, format="chat", max_seq_len=256)
    assert tok.decode(examples[1]["input_ids"]) == tok.apply_chat_template(EXPECTED["chat"][1]["messages"],
                                                                          tokenize=False)
    trained = [tok.decode([t for t in ex["labels"] if t != IGNORE_INDEX]) for ex in examples]
    assert trained == ["Hello!<|im_end|>\n", "4<|im_end|>\n6<|im_end|>\n"]
    prompt = _prompt_text(tok, examples[1])
    assert "2+2?" in prompt and "and 3+3?" in prompt and "<|im_start|>assistant\n" in prompt


def test_chat_needs_a_template(tmp_path):
    with pytest.raises(ConfigError, match="no chat template|has none"):
        build_examples(EXPECTED["chat"], _make_tokenizer(chat_template=None), format="chat", max_seq_len=64)


def test_truncation_keeps_response_and_prompt_tail(tok, caplog):
    long_text = " ".join(["Install conduit and wire panels."] * 40)
    records = [{"text": long_text, "label": "electrician"}, {"text": "Fix leaks.", "label": "plumber"}]
    full = build_examples(records, tok, format="classification", max_seq_len=4096, prompt_template=TRADE_PROMPT)
    limit = len(full[1]["input_ids"]) + 4
    cut = build_examples(records, tok, format="classification", max_seq_len=limit, prompt_template=TRADE_PROMPT)
    assert len(full[0]["input_ids"]) > limit and len(cut[0]["input_ids"]) == limit
    assert cut.num_truncated == 1 and cut.num_dropped == 0 and "1 of 2 examples" in caplog.text
    assert _trained_text(tok, cut[0]) == " electrician</s>"
    prompt = _prompt_text(tok, cut[0])
    assert prompt.startswith("Classify this job description") and prompt.endswith("panels.\nTrade:")
    assert cut[1] == full[1]
    # a response longer than the budget keeps its first half-budget of tokens
    long_answer = build_examples([{"prompt": "Q:", "completion": long_text}], tok, format="completion", max_seq_len=20)
    response_ids = tok(long_text, add_special_tokens=False)["input_ids"]
    assert long_answer[0]["input_ids"] == tok("Q:", add_special_tokens=False)["input_ids"] + response_ids[:18]
    assert [t for t in long_answer[0]["labels"] if t != IGNORE_INDEX] == response_ids[:18]


def test_long_chat_keeps_the_latest_reply(tok):
    messages = [{"role": "user", "content": "Hi there " * 30}, {"role": "assistant", "content": "Hello!"},
                {"role": "user", "content": "2+2?"}]
    ex = build_examples([{"messages": messages}], tok, format="chat", max_seq_len=16)
    assert len(ex[0]["input_ids"]) == 16 and ex.num_truncated == 1
    assert tok.decode(ex[0]["input_ids"]).endswith("Hello!<|im_end|>\n")


# ---- packing, splitting, batching ------------------------------------------------------------------------------

def _examples(lengths: list[int]) -> list[dict]:
    out, next_id = [], 10
    for n in lengths:
        ids = list(range(next_id, next_id + n - 1)) + [2]  # ends with EOS (id 2)
        next_id += n
        out.append({"input_ids": ids, "labels": [IGNORE_INDEX] * (n // 2) + ids[n // 2:]})
    return out


def test_packing_preserves_tokens_and_labels():
    examples = _examples([5, 7, 3, 9, 4, 20, 2, 6])
    rows = pack_examples(examples, 10)
    flat = [t for r in rows for t in r["input_ids"]]
    assert flat == [t for ex in examples for t in ex["input_ids"]]
    assert all(len(r["input_ids"]) == len(r["labels"]) <= 10 for r in rows)
    # rows in order: 5 | 7+3 | 9 | 4 | 20 split as 10, 10 | 2+6
    assert [len(r["input_ids"]) for r in rows] == [5, 10, 9, 4, 10, 10, 8]
    assert [r["lengths"] for r in rows] == [[5], [7, 3], [9], [4], [10], [10], [2, 6]]  # the 20 split: 10 + 10
    starts, pos = set(), 0
    for ex in examples:
        starts.add(pos)
        pos += len(ex["input_ids"])
    row_starts, pos = set(), 0
    for r in rows:
        row_starts.add(pos)
        pos += len(r["input_ids"])
    flat_labels = [t for r in rows for t in r["labels"]]
    gold = [t for ex in examples for t in ex["labels"]]
    for i, (got, want) in enumerate(zip(flat_labels, gold)):
        # a document that starts mid-row has its first label masked: no loss across documents
        assert got == (IGNORE_INDEX if i in starts and i not in row_starts else want), i
    # no example that fits in a row is split across rows
    for ex in examples:
        if len(ex["input_ids"]) <= 10:
            assert any(_contains(r["input_ids"], ex["input_ids"]) for r in rows)


def _contains(row: list[int], part: list[int]) -> bool:
    return any(row[i:i + len(part)] == part for i in range(len(row) - len(part) + 1))


def test_packing_inserts_eos_when_missing():
    rows = pack_examples([{"input_ids": [5, 6], "labels": [5, 6]}, {"input_ids": [7], "labels": [7]}], 8, eos_id=2)
    assert rows == [{"input_ids": [5, 6, 2, 7, 2], "labels": [5, 6, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX],
                     "lengths": [3, 2]}]


def test_split_is_deterministic_and_disjoint():
    items = list(range(100))
    train, held = train_eval_split(items, 0.15, seed=7)
    assert (train, held) == train_eval_split(items, 0.15, seed=7)
    assert len(held) == 15 and sorted(train + held) == items and not set(train) & set(held)
    assert train == sorted(train) and held == sorted(held)  # original order kept
    assert train_eval_split(items, 0.15, seed=8)[1] != held
    assert train_eval_split(list(range(5)), 0.01, seed=0)[1] != []  # a non-zero fraction holds out at least one
    assert train_eval_split(items, 0.0, seed=0) == (items, [])
    with pytest.raises(ConfigError):
        train_eval_split(items, 1.0, seed=0)
    with pytest.raises(ConfigError, match="nothing to train on"):
        train_eval_split([1], 0.5, seed=0)


def test_collate_pads_right():
    batch = collate([{"input_ids": [5, 6, 7], "labels": [IGNORE_INDEX, 6, 7]}, {"input_ids": [8], "labels": [8]}],
                    pad_id=0, pad_to_multiple_of=4)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 0], [8, 0, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7, -100], [8, -100, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    assert str(batch["input_ids"].dtype) == "torch.int64"


# ---- scoring labels --------------------------------------------------------------------------------------------

class _FixedLogits:
    """A stub causal LM: at every position, logits favour `favoured` token ids (+5) over the rest (0)."""

    training = False

    def __init__(self, vocab: int, favoured: list[int]):
        self.vocab, self.favoured = vocab, favoured
        self.calls = 0

    def eval(self):
        return self

    def __call__(self, input_ids, attention_mask):
        from types import SimpleNamespace

        import torch

        self.calls += 1
        logits = torch.zeros(*input_ids.shape, self.vocab)
        logits[..., self.favoured] = 5.0
        return SimpleNamespace(logits=logits)


def test_score_labels_picks_highest_likelihood(tok):
    labels = ["electrician", "plumber", "HVAC technician"]
    favoured = tok(" HVAC technician", add_special_tokens=False)["input_ids"]
    model = _FixedLogits(len(tok), favoured)
    texts = ["Install conduit.", "Fix leaks.", "Charge refrigerant."]
    assert score_labels(model, tok, texts, labels, batch_size=4) == ["HVAC technician"] * 3
    assert model.calls == 3  # 9 (text, label) sequences in batches of 4
    model = _FixedLogits(len(tok), tok(" plumber", add_special_tokens=False)["input_ids"])
    assert score_labels(model, tok, texts, labels) == ["plumber"] * 3
    assert accuracy(["plumber", "welder"], ["plumber", "plumber"]) == 0.5
    with pytest.raises(DataError):
        accuracy(["a"], ["a", "b"])


def test_classification_prompt_text():
    assert classification_prompt("  Weld pipe. ", ["welder", "plumber"], TRADE_PROMPT) == (
        "Classify this job description into one of: welder, plumber.\nJob: Weld pipe.\nTrade:")


def test_tiny_model_learns_labels_and_scoring_finds_them(tok):
    """End to end on a real (tiny, random) Llama: build -> collate -> train -> score_labels."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    records = [{"text": t, "label": lab} for t, lab in [
        ("Install conduit and wire panels.", "electrician"), ("Replace water heaters and fix leaks.", "plumber"),
        ("wire a panel", "electrician"), ("fix a leak", "plumber"), ("Hi there", "electrician"),
        ("good morning", "plumber")]]
    labels = ["electrician", "plumber"]
    examples = build_examples(records, tok, format="classification", max_seq_len=128, labels=labels)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2))
    texts, gold = [r["text"] for r in records], [r["label"] for r in records]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    batch = collate(examples, pad_id=tok.pad_token_id)
    model.train()
    for _ in range(60):
        loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    assert loss.item() < 0.2
    predicted = score_labels(model, tok, texts, labels, batch_size=5)
    assert accuracy(predicted, gold) == 1.0
    assert model.training  # score_labels put the model back in training mode


def test_prompt_cache_scoring_equals_full_sequence_scoring(tok):
    """The fast path (prompt once, labels over its KV cache) gives the flat path's scores on a real model."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from frugaltune.train import data_classify as dc
    from frugaltune.train.data_tokens import encode, special_prefix

    torch.manual_seed(1)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)).eval()

    class FlatOnly:  # a model without use_cache/past_key_values: score_labels must fall back to full sequences
        training = False

        def eval(self):
            return self

        def parameters(self):
            return model.parameters()

        def __call__(self, input_ids, attention_mask):
            return model(input_ids=input_ids, attention_mask=attention_mask)

    labels = ["electrician", "plumber", "HVAC technician", "carpenter"]
    texts = ["Install conduit and wire panels.", "Fix leaks.", " ".join(["Replace water heaters."] * 12)]
    prompts = encode(tok, [classification_prompt(t, labels, TRADE_PROMPT) for t in texts])
    answers = encode(tok, [" " + lab for lab in labels])
    assert max(len(a) for a in answers) > 1  # the multi-token path is exercised
    prefix = special_prefix(tok)
    for max_len in (None, len(prompts[0]) + 8):  # the second cuts the long text's prompt (flat path for it)
        with torch.inference_mode():
            cached = dc._scores(model, prefix, prompts, answers, max_len, 3, tok.pad_token_id)
            flat = dc._scores(FlatOnly(), prefix, prompts, answers, max_len, 3, tok.pad_token_id)
        assert torch.allclose(torch.tensor(cached), torch.tensor(flat), atol=1e-4), (cached, flat)
    assert score_labels(model, tok, texts, labels) == score_labels(FlatOnly(), tok, texts, labels)
