"""Models outside the catalog by Hub id: config.json from the local Hugging Face cache, from the Hub when online (a
local HTTP server stands in for it via HF_ENDPOINT), and one clear error offline."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from frugaltune.catalog import hub
from frugaltune.catalog.load import load_catalog
from frugaltune.cli.app import run
from frugaltune.errors import CatalogError

CONFIG = {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
          "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
          "max_position_embeddings": 32768, "tie_word_embeddings": True}


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(hub, "_ARCHS", {})


def _cache(tmp_path, repo_id: str, config: dict) -> None:
    repo = tmp_path / "hf" / "hub" / ("models--" + repo_id.replace("/", "--"))
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "config.json").write_text(json.dumps(config))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")


def test_a_model_in_the_local_hf_cache_estimates_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _cache(tmp_path, "someorg/tiny-qwen", CONFIG)
    arch = load_catalog().model("someorg/tiny-qwen")
    assert (arch.name, arch.hf_id, arch.num_layers, arch.num_kv_heads) == ("tiny-qwen", "someorg/tiny-qwen", 24, 2)
    assert 0.4e9 < arch.total_params < 0.6e9  # Qwen2-0.5B's shape
    assert run(["estimate", "--model", "someorg/tiny-qwen", "--gpu", "t4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"]["name"] == "tiny-qwen"


def test_offline_and_not_cached_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert run(["estimate", "--model", "someorg/not-here", "--gpu", "t4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Unknown model 'someorg/not-here': not in the catalog, and its config.json is not "
                          "in the local Hugging Face cache")
    assert "HF_HUB_OFFLINE=1" in err and "Traceback" not in err and len(err.strip().splitlines()) == 2


def test_a_near_miss_of_a_catalog_id_still_suggests_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CatalogError, match="Did you mean: .*meta-llama/Llama-2-7b-hf"):
        load_catalog().model("meta-llama/Llama-2-7b-hff")


class _Hub(http.server.BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):  # noqa: N802 -- http.server's naming
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        if self.path == "/someorg/online-qwen/resolve/main/config.json":
            body = json.dumps(CONFIG).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404 if "missing" in self.path else 401)
            self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def hub_server(monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    _Hub.seen = []
    yield server
    server.shutdown()


def test_online_fetches_only_the_config_once(hub_server, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    arch = load_catalog().model("someorg/online-qwen")
    assert arch.hf_id == "someorg/online-qwen" and arch.num_layers == 24
    assert _Hub.seen == [("/someorg/online-qwen/resolve/main/config.json", "Bearer hf_secret")]
    monkeypatch.setattr(hub, "_ARCHS", {})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the fetched copy serves later runs, offline too
    assert load_catalog().model("someorg/online-qwen").num_layers == 24 and len(_Hub.seen) == 1


@pytest.mark.parametrize("repo, words", [("someorg/missing", "no such model on the Hub"),
                                         ("someorg/gated", "gated or private model: set HF_TOKEN")])
def test_hub_refusals_are_one_clear_error(hub_server, repo, words):
    with pytest.raises(CatalogError, match=words):
        load_catalog().model(repo)


def test_unreachable_hub_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(CatalogError, match="the Hub could not be reached"):
        load_catalog().model("someorg/anything")
