"""train --dry-run says when model.attention needs a package this machine lacks (the model load would stop on it)."""

from __future__ import annotations

import importlib.util

from frugaltune.train import preflight


def test_flash_attention_without_its_package_is_a_note(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    note = preflight.attention_note("flash_attention_2")
    assert note and "flash-attn" in note and "model.attention: auto" in note
    assert "flash-attn 3" in preflight.attention_note("flash_attention_3")


def test_no_note_when_the_package_is_there_or_none_is_needed(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert preflight.attention_note("flash_attention_2") is None
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    for attention in ("auto", "sdpa", "eager"):
        assert preflight.attention_note(attention) is None
