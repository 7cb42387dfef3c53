"""frugaltune.jsonout writes exactly what json.dumps(indent=2) writes (the fast path uses it instead of json)."""

from __future__ import annotations

import json
import math
import random

import pytest

from frugaltune import api
from frugaltune.jsonout import dumps


def test_the_json_contract_is_written_exactly_as_json_dumps_writes_it():
    for kwargs in ({}, {"pricing": "spot"}, {"method": "qlora", "gpu": "t4", "platform": "modal"}):
        payload = api.estimate(model="llama-2-7b", gpu=kwargs.pop("gpu", "a10"),
                               platform=kwargs.pop("platform", "lambda"), **kwargs).to_json()
        assert dumps(payload) == json.dumps(payload, indent=2)


@pytest.mark.parametrize("value", [
    {}, [], (), {"a": []}, {"a": {}}, [[], {}], None, True, False, 0, -7, 10**30, 0.1, -2.5e-300, 1e300, 3.0,
    math.nan, math.inf, -math.inf, "", 'quote " and \\ backslash', "tab\tnew\nline\r\b\f", "\x00\x1f\x7f DEL",
    "é ü — 日本 🚀 \U0001F600", {3: "int key", 2.5: "float key", True: "bool key", None: "null key"},
    {"nested": [{"a": (1, 2.0, "x")}, [None, [True, {"b": []}]]]},
])
def test_edge_cases_match_json(value):
    assert dumps(value) == json.dumps(value, indent=2)


def test_random_unicode_strings_match_json():
    rng = random.Random(7)
    for _ in range(300):
        text = "".join(chr(rng.choice([rng.randrange(0, 128), rng.randrange(128, 0xD800),
                                       rng.randrange(0xE000, 0x110000)])) for _ in range(rng.randrange(0, 12)))
        assert dumps({text: [text]}) == json.dumps({text: [text]}, indent=2)


def test_unsupported_values_raise_type_error_like_json():
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"a": {1, 2}})
    with pytest.raises(TypeError, match="keys must be"):
        dumps({(1, 2): "tuple key"})
