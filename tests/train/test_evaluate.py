"""The evaluation's label scoring with a shared prompt KV cache predicts what `data.score_labels` (one full
sequence per text x label) predicts, and evaluation leaves the training RNG untouched."""

from __future__ import annotations

import pytest
from ft_runner_util import CUES, LABELS

from frugaltune.train.data import score_labels
from frugaltune.train.data_tokens import classification_prompt, encode
from frugaltune.train.evaluate import evaluate, label_log_likelihoods, score_labels_cached
from frugaltune.train.presets import build_preset

TEMPLATE = "Classify this job description into one of: {labels}.\nJob: {text}\nTrade:"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    path = build_preset("tiny-llama", tmp_path_factory.mktemp("preset"), seed=11,
                        texts=[" ".join(v) for v in CUES.values()] + LABELS, vocab_size=300)
    return AutoModelForCausalLM.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


TEXTS = [f"Needs {a} and {b} skills, {c} a plus." for a, b, c in
         [("wiring", "pipe", "MIG"), ("framing", "trim", "doors"), ("torch", "steel", "bead"),
          ("drain", "valve", "leak"), ("outlets", "panel", "conduit"), ("stairs", "wood", "cabinets")] * 2]


def reference_log_likelihood(model, tok, text, label):
    """log p(label tokens | prompt), one full sequence, by hand."""
    import torch

    prompt, answer = encode(tok, [classification_prompt(text, LABELS, TEMPLATE), " " + label])
    ids = torch.tensor([prompt + answer])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    return sum(float(logp[len(prompt) - 1 + i, t]) for i, t in enumerate(answer))


def test_cached_log_likelihoods_equal_full_sequence_ones(tiny):
    model, tok = tiny
    got = label_log_likelihoods(model, tok, TEXTS[:3], LABELS, prompt_template=TEMPLATE)
    for text, row in zip(TEXTS[:3], got):
        want = [reference_log_likelihood(model, tok, text, label) for label in LABELS]
        assert row == pytest.approx(want, abs=1e-4)
        assert max(want) - min(want) > 0.01  # labels of 1 to 3 tokens: the scores really differ


@pytest.mark.parametrize("labels", [LABELS, ["HVAC technician", "automotive technician", "welder"]])
def test_cached_scoring_predicts_what_full_scoring_predicts(tiny, labels):
    model, tok = tiny
    full = score_labels(model, tok, TEXTS, labels, prompt_template=TEMPLATE)
    assert score_labels_cached(model, tok, TEXTS, labels, prompt_template=TEMPLATE) == full


def test_evaluate_keeps_the_training_rng_and_mode(tiny):
    import torch

    model, tok = tiny
    model.train()
    records = [{"text": t, "label": LABELS[i % 4]} for i, t in enumerate(TEXTS)]
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    result = evaluate(model, tok, [], records, LABELS, prompt_template=TEMPLATE, max_seq_len=64, batch_size=4,
                      device="cpu")
    assert torch.equal(torch.rand(3), expected) and model.training
    assert 0 <= result["eval_accuracy"] <= 1 and result["eval_loss"] is None
    stopped = evaluate(model, tok, [], records, LABELS, prompt_template=TEMPLATE, max_seq_len=64, batch_size=4,
                       device="cpu", stop=lambda: True)
    assert stopped["eval_accuracy"] is None  # a pending SIGTERM cuts the evaluation short


def test_sparse_logits_loss_equals_the_models_own_loss(tiny):
    """The loss projected only at trained positions is the HF loss (summed) of the full logits."""
    import torch

    from frugaltune.train.data import collate
    from frugaltune.train.loss import summed_loss, supports_logits_to_keep

    model, tok = tiny
    assert supports_logits_to_keep(model)
    ids = [encode(tok, [t])[0] for t in TEXTS[:4]]
    examples = [{"input_ids": x, "labels": [-100] * (len(x) - 3) + x[-3:]} for x in ids]  # last 3 tokens trained
    batch = collate(examples, tok.pad_token_id)
    n = int(batch["labels"][:, 1:].ne(-100).sum())
    with torch.no_grad():
        dense = model(**batch).loss * n  # HF: mean over trained tokens
        sparse = summed_loss(model, batch, sparse_logits=True)
        fallback = summed_loss(model, batch, sparse_logits=False)
    assert float(sparse) == pytest.approx(float(dense), rel=1e-5)
    assert float(fallback) == pytest.approx(float(dense), rel=1e-5)
