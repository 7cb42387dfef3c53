"""Evaluation leaves the training RNG and mode untouched and stops for a pending signal; the loss projected
only at trained positions equals the model's own loss."""

from __future__ import annotations

import pytest
from ft_runner_util import CUES, LABELS

from frugaltune.train.data_tokens import encode
from frugaltune.train.evaluate import evaluate
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
