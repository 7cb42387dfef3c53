"""Padding-free packing: packed rows reach the model with position_ids restarting at every example and no
attention_mask, so each example attends to itself only (its loss is the loss it has alone), no pad token is
computed in the flat layout, the runner counts real tokens, and a resumed packed run replays the same batches.
Tiny random Llama, tokenizer trained here, CPU."""

from __future__ import annotations

import pytest
from ft_runner_util import config_dict, events, load_tensors, step_losses
from test_data import _make_tokenizer

from frugaltune.train.data import IGNORE_INDEX, build_examples, collate, collate_packed, pack_examples
from frugaltune.train.loss import summed_loss

PAIRS = [("The capital of France is", " Paris."), ("Roses are red,", " violets are blue."),
         ("Hi there", " good morning"), ("2+2?", " 4"), ("Install conduit", " and wire panels."),
         ("Replace water heaters", " and fix leaks.")]


@pytest.fixture(scope="module")
def tok():
    return _make_tokenizer()


@pytest.fixture(scope="module")
def examples(tok):
    records = [{"prompt": p, "completion": c} for p, c in PAIRS]
    return build_examples(records, tok, format="completion", max_seq_len=64)


def _llama(tok, attention: str, use_cache: bool = True):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, attn_implementation=attention,
                         use_cache=use_cache)  # a cache would hide the documents from transformers: the loss drops it
    return LlamaForCausalLM(config).eval()


def test_rows_know_their_documents_and_positions_restart_per_example(examples, tok):
    rows = pack_examples(examples, 48, eos_id=tok.eos_token_id)
    assert [r["lengths"] for r in rows] == [[len(e["input_ids"]) for e in examples[:2]],
                                            [len(e["input_ids"]) for e in examples[2:5]],
                                            [len(e["input_ids"]) for e in examples[5:]]]
    flat = collate_packed(rows, tok.pad_token_id, layout="flat")
    assert set(flat) == {"input_ids", "labels", "position_ids"}  # no attention_mask
    assert flat["input_ids"].shape == (1, sum(len(e["input_ids"]) for e in examples))  # not one pad token
    assert flat["input_ids"][0].tolist() == [t for e in examples for t in e["input_ids"]]
    assert flat["position_ids"][0].tolist() == [p for e in examples for p in range(len(e["input_ids"]))]
    starts = {sum(len(e["input_ids"]) for e in examples[:i]) for i in range(1, len(examples))}
    gold = [t for e in examples for t in e["labels"]]
    got = flat["labels"][0].tolist()
    # every example's own labels, except its first, which no token of another example may be trained to predict
    assert all(g == (IGNORE_INDEX if i in starts else w) for i, (g, w) in enumerate(zip(got, gold)))

    side = collate_packed(rows, tok.pad_token_id, layout="rows")
    width = max(len(r["input_ids"]) for r in rows)
    assert side["input_ids"].shape == (len(rows), width) and "attention_mask" not in side
    for row, ids, pos, lab in zip(rows, side["input_ids"], side["position_ids"], side["labels"]):
        n, fill = len(row["input_ids"]), width - len(row["input_ids"])
        assert ids.tolist() == row["input_ids"] + [tok.pad_token_id] * fill
        assert pos.tolist() == [p for k in row["lengths"] for p in range(k)] + list(range(fill))  # filler: own doc
        assert lab.tolist()[n:] == [IGNORE_INDEX] * fill
    with pytest.raises(ValueError, match="do not add up"):
        collate_packed([{"input_ids": [1, 2, 3], "labels": [1, 2, 3], "lengths": [2]}], 0)


def test_a_long_example_split_over_rows_restarts_its_positions_on_each():
    rows = pack_examples([{"input_ids": list(range(3, 14)) + [2], "labels": list(range(3, 14)) + [2]},
                          {"input_ids": [20, 2], "labels": [20, 2]}], 5, eos_id=2)
    assert [r["lengths"] for r in rows] == [[5], [5], [2, 2]]
    assert collate_packed(rows, 0)["position_ids"][0].tolist() == [0, 1, 2, 3, 4] * 2 + [0, 1, 0, 1]


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("layout", ["flat", "rows"])
@pytest.mark.parametrize("sparse", [False, True])
def test_packed_loss_is_the_sum_of_each_example_alone(examples, tok, attention, layout, sparse):
    """Per-document attention, proven: the packed batch's summed loss equals each example run by itself; the old
    padded rows (attention_mask only) let later examples attend to earlier ones and give another loss."""
    import torch

    model = _llama(tok, attention)
    rows = pack_examples(examples, 48, eos_id=tok.eos_token_id)
    assert max(len(r["lengths"]) for r in rows) > 1  # rows really hold several examples
    with torch.no_grad():
        alone = sum(float(summed_loss(model, collate([e], tok.pad_token_id), sparse_logits=sparse))
                    for e in examples)
        packed = float(summed_loss(model, collate_packed(rows, tok.pad_token_id, layout=layout),
                                   sparse_logits=sparse))
        padded = float(summed_loss(model, collate(rows, tok.pad_token_id), sparse_logits=sparse))
    assert packed == pytest.approx(alone, rel=1e-5)
    assert padded != pytest.approx(alone, rel=1e-5)  # cross-contamination in the padded rows
    if sparse:  # training.loss chunked (and fused off CUDA) calls the decoder with the same inputs
        from frugaltune.train.stack_runtime import chunked_loss

        with torch.no_grad():
            chunked = float(chunked_loss(model, collate_packed(rows, tok.pad_token_id, layout=layout)))
        assert chunked == pytest.approx(alone, rel=1e-5)


def test_packed_logits_of_each_example_equal_its_logits_alone(examples, tok):
    import torch

    model = _llama(tok, "sdpa")
    rows = pack_examples(examples, 48, eos_id=tok.eos_token_id)
    batch = collate_packed(rows, tok.pad_token_id, layout="flat")
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False).logits[0]
        at = 0
        for e in examples:
            n = len(e["input_ids"])
            alone = model(input_ids=torch.tensor([e["input_ids"]])).logits[0]
            torch.testing.assert_close(logits[at:at + n], alone, rtol=1e-5, atol=1e-5)
            at += n


def test_the_layout_follows_the_attention_and_the_model(tok):
    from transformers import MambaConfig, MambaForCausalLM

    from frugaltune.train.packing import layout

    assert layout(_llama(tok, "sdpa"))[0] == "rows"  # a mask is materialised: rows side by side, not (b x s)^2
    assert layout(_llama(tok, "eager"))[0] == "rows"
    varlen = _llama(tok, "sdpa")
    varlen.config._attn_implementation = "flash_attention_2"  # the varlen kernel (flash-attn is CUDA only)
    assert layout(varlen)[0] == "flat"
    mamba = MambaForCausalLM(MambaConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, state_size=4))
    kind, why = layout(mamba)
    assert kind == "padded" and "MambaForCausalLM" in why  # a recurrent state would cross documents


def _recording(monkeypatch, layout: str | None = None):
    """Record every micro-batch the runner builds (and force its packed layout when `layout` is given)."""
    from frugaltune.train import packing, recipe_step

    seen = []
    original = recipe_step.micro_batch

    def record(r, g):
        batch, tokens = original(r, g)
        seen.append((g, {k: v.clone() for k, v in batch.items()}, tokens))
        return batch, tokens

    monkeypatch.setattr(recipe_step, "micro_batch", record)
    if layout:
        monkeypatch.setattr(packing, "layout", lambda model: (layout, "forced by the test"))
    return seen


@pytest.mark.parametrize("layout", [None, "flat"])
def test_packed_run_counts_real_tokens_and_resumes_with_the_same_batches(tmp_path, monkeypatch, layout):
    """A packed run (the preset's sdpa: side-by-side rows; forced flat: what flash attention gets) counts only real
    tokens, and a run resumed from its step-4 checkpoint replays the batches and losses of the straight run."""
    import torch

    from frugaltune.train.config import RunConfig
    from frugaltune.train.recipe import train

    packed = {"packing": True, "max_seq_len": 256}
    seen = _recording(monkeypatch, layout)
    straight = train(RunConfig.from_dict(config_dict(tmp_path, steps=8, out="straight", data=packed)), quiet=True)
    assert straight.exit_code == 0
    first = list(seen)
    assert len(first) == 8 * 2  # 8 steps x grad_accum 2
    for _, batch, tokens in first:
        assert "attention_mask" not in batch
        pos = batch["position_ids"]
        assert int((pos == 0).sum()) > batch["input_ids"].shape[0]  # positions restart inside rows: several examples
        if layout == "flat":
            assert batch["input_ids"].shape[0] == 1 and tokens == batch["input_ids"].numel()  # no pad token
        else:
            assert tokens < batch["input_ids"].numel()  # the filler is not counted
    assert straight.summary["tokens_processed"] == sum(t for _, _, t in first)

    seen.clear()
    resumed = train(RunConfig.from_dict(config_dict(tmp_path, steps=8, out="resumed", data=packed)),
                    resume=str(straight.run_dir / "checkpoints" / "step-000004"), quiet=True)
    assert resumed.exit_code == 0 and events(resumed.run_dir, "resume")[0]["from_step"] == 4
    replayed = {g: batch for g, batch, _ in seen}
    for g, batch, _ in first[8:]:  # micro-batches 8..15: steps 5..8
        assert set(replayed[g]) == set(batch)
        assert all(torch.equal(replayed[g][k], batch[k]) for k in batch)
    want = {s: v for s, v in step_losses(straight.run_dir).items() if s > 4}
    assert step_losses(resumed.run_dir) == want  # exact float equality
    adapter = "final/adapter_model.safetensors"
    a, b = load_tensors(straight.run_dir / adapter), load_tensors(resumed.run_dir / adapter)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
