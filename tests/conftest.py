"""Suite-wide isolation: no test reads or writes the developer's real frugaltune config, and nothing hits the Hub."""

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _isolated_user_config(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("FRUGALTUNE_MEASUREMENTS", str(home / "frugaltune" / "measurements.jsonl"))
    monkeypatch.delenv("FRUGALTUNE_CATALOG_DIR", raising=False)
