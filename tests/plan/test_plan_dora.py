"""DoRA in the planner: a DoRA job stays on adapters (the flow's full fine-tuning becomes LoRA, with the reason), and
asking for DoRA with --method full is refused before planning."""

from __future__ import annotations

import pytest

from frugaltune.errors import ConfigError
from frugaltune.plan import api


def test_large_shift_with_dora_keeps_adapters():
    plain = api.recommend("qwen2.5-1.5b", domain_shift="large")
    dora = api.recommend("qwen2.5-1.5b", domain_shift="large", use_dora=True)
    assert plain.choice.method == "full"
    assert dora.choice.method == "lora" and dora.job.use_dora
    assert any("DoRA (--dora)" in w for w in dora.choice.why)


@pytest.mark.parametrize("call", [api.recommend, api.plan])
def test_dora_with_method_full_is_refused(call, tmp_path):
    with pytest.raises(ConfigError, match="--dora applies to LoRA adapters"):
        call("qwen2.5-1.5b", method="full", use_dora=True)
