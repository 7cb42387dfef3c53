"""The per-user cache of parsed shipped data: current entries are reused, anything else is rebuilt."""

from __future__ import annotations

import os

import pytest

from frugaltune import datacache


def _counting_builder(values):
    calls = []

    def build():
        calls.append(1)
        return values

    return build, calls


def test_reuses_a_current_entry_and_rebuilds_when_a_source_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tmp_path / "rows.csv"
    source.write_text("a,b\n1,2\n")
    build, calls = _counting_builder({"rows": [{"a": 1.0, "tags": ("x",)}]})
    assert datacache.cached("t", [str(source)], build) == {"rows": [{"a": 1.0, "tags": ("x",)}]}
    assert datacache.cached("t", [str(source)], build) == {"rows": [{"a": 1.0, "tags": ("x",)}]}
    assert len(calls) == 1
    source.write_text("a,b\n1,2\n3,4\n")  # edited (size and mtime change): the old entry must not be served
    datacache.cached("t", [str(source)], build)
    assert len(calls) == 2


def test_a_corrupt_cache_file_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tmp_path / "rows.csv"
    source.write_text("x\n")
    build, calls = _counting_builder([1, 2, 3])
    datacache.cached("t", [str(source)], build)
    (entry,) = (tmp_path / "cache" / "frugaltune").iterdir()
    entry.write_bytes(entry.read_bytes()[:5])  # truncated, as by a crash mid-write on a filesystem without rename
    assert datacache.cached("t", [str(source)], build) == [1, 2, 3]
    entry.write_bytes(b"not marshal data at all")
    assert datacache.cached("t", [str(source)], build) == [1, 2, 3]
    assert len(calls) == 3


def test_an_unwritable_cache_dir_still_works(tmp_path, monkeypatch):
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # makedirs under a file fails
    source = tmp_path / "rows.csv"
    source.write_text("x\n")
    build, calls = _counting_builder({"ok": True})
    assert datacache.cached("t", [str(source)], build) == {"ok": True}
    assert datacache.cached("t", [str(source)], build) == {"ok": True}
    assert len(calls) == 2 and not any(p.name.endswith(".marshal") for p in tmp_path.rglob("*"))
    assert sorted(os.listdir(tmp_path)) == ["file-not-dir", "rows.csv"]  # no temp files left behind


def test_values_that_are_not_plain_data_are_served_uncached(tmp_path, monkeypatch):
    import datetime

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tmp_path / "rows.csv"
    source.write_text("x\n")
    build, calls = _counting_builder({"when": datetime.date(2026, 1, 1)})
    assert datacache.cached("t", [str(source)], build) == {"when": datetime.date(2026, 1, 1)}
    assert datacache.cached("t", [str(source)], build) == {"when": datetime.date(2026, 1, 1)}
    assert len(calls) == 2


def test_a_yaml_file_is_parsed_once_per_version(tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "budget.yaml"
    path.write_text("months: 3\nphases: [a, b]\n")
    probe = ("import sys; from frugaltune.datacache import cached_yaml; "
             "print(cached_yaml(sys.argv[1], 'budget file', 'fix'), 'yaml' in sys.modules)")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, env=env,
                           check=True, timeout=60).stdout.strip() for _ in range(2)]
    assert runs == ["{'months': 3, 'phases': ['a', 'b']} True", "{'months': 3, 'phases': ['a', 'b']} False"]
    path.write_text("months: 3\nmonths: 4\n")  # edited, and now invalid: parsed again, and the error is raised
    from frugaltune.errors import ConfigError

    with pytest.raises(ConfigError, match="appears twice"):
        datacache.cached_yaml(path, "budget file", "fix")


def test_a_new_version_of_the_code_that_built_an_entry_rebuilds_it(tmp_path, monkeypatch):
    """The key holds the code's version too: an edited or upgraded parser, a caller's format version or a new package
    version never reads an entry the old code made from the same, unchanged source file."""
    import importlib.util

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tmp_path / "rows.csv"
    source.write_text("a\n1\n")
    parser = tmp_path / "parser.py"

    def load(code: str):
        parser.write_text("CALLS = []\n\ndef build():\n    CALLS.append(1)\n" + code)
        spec = importlib.util.spec_from_file_location("parser", parser)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    old = load("    return {'a': 1}\n")
    assert datacache.cached("t", [str(source)], old.build) == {"a": 1}
    assert datacache.cached("t", [str(source)], old.build) == {"a": 1} and len(old.CALLS) == 1  # served cached
    new = load("    return {'a': 1.0, 'unit': 'usd'}  # the parser now keeps the unit\n")
    assert datacache.cached("t", [str(source)], new.build) == {"a": 1.0, "unit": "usd"} and len(new.CALLS) == 1
    assert datacache.cached("t", [str(source)], new.build, version=2) == {"a": 1.0, "unit": "usd"}
    assert len(new.CALLS) == 2  # the caller raised its format version
    monkeypatch.setattr(datacache, "__version__", "99.0")  # an upgraded package
    datacache.cached("t", [str(source)], new.build, version=2)
    assert len(new.CALLS) == 3
    datacache.cached("t", [str(source)], new.build, version=2)
    assert len(new.CALLS) == 3
