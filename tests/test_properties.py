"""Property tests (Hypothesis) of the validation layer: over the CLI's option space and the run-config schema, no
input produces a traceback or a non-finite number in the output. Any command line built from a command's own option
table, with values drawn from what users get wrong (nan, inf, negatives, huge, empty, text where numbers go), exits
0, 2 or 3 with at most one error line; any run config built from the schema's keys either validates to finite
numbers or is one ConfigError."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_bad_inputs import NON_FINITE, run_cli

REPO = Path(__file__).resolve().parents[1]
NASTY_NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1e308", "1e-320", "99999999999999999999", "-0", "1e9", "2.5"]
NASTY_TEXT = ["", " ", ",", "é", "--", "../..", "a" * 300, "\x00", "0x10", "1_000"]
FUZZED = ["estimate", "compare", "impact", "recommend", "buy-vs-rent", "afford", "catalog prices", "catalog gpus"]
SLOW_FLAGS = {"--dataset", "--catalog", "--sample"}  # files: the corpus covers them one by one


def values_for(opt) -> st.SearchStrategy[str]:
    """Strings a user might type for `opt`: good values, boundary numbers and garbage."""
    good = list(opt.choices or []) + ([str(opt.default)] if opt.default not in (None, False, True) else [])
    numbers = [str(x) for x in (1, 2, 4, 8, 16, 0.5, 100)] if opt.type in (int, float) else []
    pool = good + numbers + NASTY_NUMBERS + NASTY_TEXT
    return st.one_of(st.sampled_from(pool), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                     st.integers(-(10**25), 10**25).map(str))


@st.composite
def command_lines(draw, name: str) -> list[str]:
    from frugaltune.cli import commands

    options = [o for o in commands.load(name).options if not o.positional and o.flag not in SLOW_FLAGS]
    chosen = draw(st.lists(st.sampled_from(options), max_size=5, unique_by=lambda o: o.dest))
    argv = name.split()
    for opt in chosen:
        if opt.type is bool:
            argv.append(opt.flag if draw(st.booleans()) or not opt.negatable else "--no-" + opt.flag[2:])
        else:
            argv += [opt.flag, draw(values_for(opt))]
    if name in ("buy-vs-rent",) and "--usd-per-kwh" not in argv:
        argv += ["--usd-per-kwh", draw(st.sampled_from(["0.2", "nan", "-1", "0"]))]
    if name == "afford" and "--budget-usd" not in argv:
        argv += ["--budget-usd", draw(st.sampled_from(["50", "nan", "0", "1e30"]))]
    return argv


def check_output(argv: list[str], code, out: str, err: str) -> None:
    assert isinstance(code, int) and "Traceback" not in out + err, (argv, err[-1500:])
    assert code in (0, 2, 3), (argv, code, err[-500:])
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    # exit 3 (nothing feasible) is an error line from the planner, a warning from estimate (it prints the estimate)
    assert len(errors) == {0: 0, 2: 1}.get(code, len(errors[:1])), (argv, err[-800:])
    if "--json" in argv and out.strip():
        json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in --json output of {argv}"))
    elif code == 0:
        assert not NON_FINITE.search(out), (argv, NON_FINITE.search(out).group(0))


@pytest.mark.parametrize("name", FUZZED)
def test_no_command_line_gives_a_traceback_or_a_non_finite_number(name, monkeypatch):
    monkeypatch.chdir(REPO)

    @settings(max_examples=int(__import__("os").environ.get("FT_FUZZ_EXAMPLES", "20")), deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(argv=command_lines(name), json_out=st.booleans())
    def run(argv, json_out):
        argv = argv + (["--json"] if json_out and "--json" not in argv else [])
        check_output(argv, *run_cli(argv))

    run()


# ---- the run-config schema -------------------------------------------------------------------------------------

def _leaf_values() -> st.SearchStrategy:
    return st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20),
                     st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(NASTY_TEXT + NASTY_NUMBERS),
                     st.lists(st.sampled_from(["q_proj", "", "x"]), max_size=3))


@st.composite
def run_configs(draw) -> dict:
    from pydantic import BaseModel

    from frugaltune.train.config import RunConfig

    raw: dict = {}
    for section, field in RunConfig.model_fields.items():
        model = field.annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or not draw(st.booleans()):
            continue
        keys = draw(st.lists(st.sampled_from(list(model.model_fields)), max_size=4, unique=True))
        raw[section] = {k: draw(_leaf_values()) for k in keys}
    return raw


def _numbers(value) -> list[float]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in _numbers(v)]
    return [value] if isinstance(value, float) else []


@settings(max_examples=300, deadline=None)
@given(raw=run_configs())
def test_every_run_config_is_finite_or_one_config_error(raw):
    from frugaltune.errors import ConfigError
    from frugaltune.train.config import RunConfig

    try:
        cfg = RunConfig.from_dict(raw)
    except ConfigError as err:
        assert err.message and "\n" not in err.message
        return
    assert all(math.isfinite(x) for x in _numbers(cfg.model_dump(mode="python")))


@settings(max_examples=int(__import__("os").environ.get("FT_FUZZ_EXAMPLES", "40")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=run_configs())
def test_every_run_yaml_dry_runs_or_fails_in_one_line(tmp_path_factory, raw):
    import yaml

    d = tmp_path_factory.mktemp("cfg")
    (d / "data.jsonl").write_text("".join(json.dumps({"text": f"row {i}", "label": "ab"[i % 2]}) + "\n"
                                          for i in range(12)))
    base = {"model": {"source": "preset:tiny-llama"}, "data": {"path": str(d / "data.jsonl")},
            "output": {"dir": str(d / "run")}}
    merged = {k: {**base.get(k, {}), **v} for k, v in {**base, **raw}.items()}
    path = d / "run.yaml"
    path.write_text(yaml.safe_dump(merged))
    code, out, err = run_cli(["train", str(path), "--dry-run", "--json"])
    check_output(["train", "--dry-run", "--json"], code, out, err)
