"""User catalog files: precedence, partial overrides, new rows, and clear errors for malformed files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from frugaltune.catalog.load import load_catalog
from frugaltune.errors import CatalogError

FIXTURES = Path(__file__).parent / "fixtures" / "catalog"
OFFER_HEADER = "platform,instance,gpu,region,on_demand_usd_per_gpu_hour,data_date,source\n"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("FRUGALTUNE_CATALOG_DIR", raising=False)


def _dir(tmp_path: Path, name: str, files: dict[str, str]) -> Path:
    path = tmp_path / name
    path.mkdir(parents=True)
    for file, text in files.items():
        (path / file).write_text(text)
    return path


def _lambda_a10_price(extra_dirs=None) -> float:
    return load_catalog(extra_dirs).find_offer("a10", "lambda").on_demand_usd_per_gpu_hour


def _price_file(usd: float) -> dict[str, str]:
    return {"offers.csv": OFFER_HEADER + f"lambda,gpu_1x_a10,A10,all regions,{usd},2026-11-20,test\n"}


def test_precedence_shipped_xdg_env_then_catalog_flag(tmp_path, monkeypatch):
    assert _lambda_a10_price() == 1.29  # shipped
    _dir(tmp_path, "xdg/frugaltune/catalog", _price_file(0.99))
    assert _lambda_a10_price() == 0.99  # ~/.config (XDG_CONFIG_HOME) beats the shipped row
    env_dir = _dir(tmp_path, "env", _price_file(0.88))
    monkeypatch.setenv("FRUGALTUNE_CATALOG_DIR", str(env_dir))
    assert _lambda_a10_price() == 0.88  # $FRUGALTUNE_CATALOG_DIR beats ~/.config
    flag_a, flag_b = _dir(tmp_path, "a", _price_file(0.77)), _dir(tmp_path, "b", _price_file(0.66))
    assert _lambda_a10_price([flag_a]) == 0.77  # --catalog DIR beats the environment
    assert _lambda_a10_price([flag_a, flag_b]) == 0.66  # later --catalog dirs win


def test_override_changes_only_the_cells_it_fills(tmp_path):
    user = _dir(tmp_path, "u", _price_file(0.5))
    offer = load_catalog([user]).find_offer("a10", "lambda")
    assert (offer.on_demand_usd_per_gpu_hour, offer.data_date, offer.source) == (0.5, "2026-11-20", "test")
    assert (offer.billing_increment_s, offer.gpus_per_instance, offer.kind) == (60, 1, "cloud")  # kept
    assert len(load_catalog([user]).offers) == len(load_catalog().offers)  # replaced, not added


def test_fixture_dir_adds_an_owned_gpu_and_a_private_model(tmp_path):
    user = tmp_path / "user"
    shutil.copytree(FIXTURES / "user", user)
    before = {p.name: p.read_bytes() for p in user.iterdir()}
    cat = load_catalog([user])
    home = cat.find_offer("RTX 4090", "owned")
    assert (home.kind, home.gpu, home.on_demand_usd_per_gpu_hour, home.region) == ("owned", "RTX-4090", 0.05, "home")
    assert "owned" in cat.platforms and cat.platform("Owned") == "owned"
    assert cat.find_offer("a10", "lambda").on_demand_usd_per_gpu_hour == 0.99  # "Lambda Labs" -> lambda
    tiny = cat.model("acme/tiny-llama")
    assert (tiny.name, tiny.num_kv_heads, tiny.head_dim) == ("acme-tiny", 2, 16)
    # 64*64 embed + 2 layers * (attn 64*64*2 + 2*64*32 + mlp 3*64*172 + norms 2*64) + final 64 + lm_head 64*64
    assert tiny.total_params == 4096 + 2 * (8192 + 4096 + 33024 + 128) + 64 + 4096
    assert {p.name: p.read_bytes() for p in user.iterdir()} == before  # user files are never written


def test_shape_override_recomputes_params(tmp_path):
    user = _dir(tmp_path, "u", {"models.csv": "name,num_layers\nLlama 2 7B,16\n"})
    model = load_catalog([user]).model("llama-2-7b")
    assert model.num_layers == 16 and model.name == "llama-2-7b"  # canonical key spelling kept
    assert model.total_params == 2 * 32000 * 4096 + 16 * (4 * 4096**2 + 3 * 4096 * 11008 + 2 * 4096) + 4096


def test_gpu_override_and_new_gpu(tmp_path):
    user = _dir(tmp_path, "u", {"gpus.csv": "name,memory_gb,bf16_tflops,bf16_supported,segment,aliases\n"
                                            "a10,24,130,yes,,\n"
                                            "RTX-3080,10,59.5,yes,consumer,rtx 3080|3080\n"})
    cat = load_catalog([user])
    assert cat.gpu("A10").bf16_tflops == 130.0 and cat.gpu("A10").fp32_tflops == 31.2
    new = cat.gpu("rtx 3080")
    source = f"user catalog {user / 'gpus.csv'}:3"  # a new row without a source names its file and line
    assert (new.name, new.memory_gb, new.fp8_tflops, new.source) == ("RTX-3080", 10.0, None, source)


def test_cache_sees_edited_user_files(tmp_path):
    user = _dir(tmp_path, "u", _price_file(0.5))
    assert _lambda_a10_price([user]) == 0.5
    (user / "offers.csv").write_text(OFFER_HEADER + "lambda,gpu_1x_a10,A10,all regions,0.456,2026-11-21,test2\n")
    assert _lambda_a10_price([user]) == 0.456


@pytest.mark.parametrize("files, expected", [
    ({"offers.csv": OFFER_HEADER + "lambda,gpu_1x_a10,A10,all regions,cheap,2026-11-20,x\n"},
     r"offers.csv:2: column 'on_demand_usd_per_gpu_hour': cannot read 'cheap' as a number"),
    ({"offers.csv": "platform,instance,gpu,on_demand_usd_per_gpu_hr\nlambda,x,A10,1\n"},
     r"offers.csv:1: column 4 'on_demand_usd_per_gpu_hr' is not a catalog column. Did you mean: on_demand_usd_per"),
    ({"offers.csv": OFFER_HEADER + "lambda,gpu_1x_a10,A10,all regions,1.0,2026-11-20\n"},
     r"offers.csv:2: 6 cells but the header has 7 columns"),
    ({"offers.csv": OFFER_HEADER + "lambda,x,A11,all regions,1.0,2026-11-20,x\n"},
     r"offers.csv:2: column 'gpu': Unknown GPU 'A11'. Did you mean: A10"),
    ({"offers.csv": OFFER_HEADER + "lambda,x,A10,all regions,-1,2026-11-20,x\n"},
     r"offers.csv:2: column 'on_demand_usd_per_gpu_hour': -1.0 must be >= 0"),
    ({"offers.csv": "platform,gpu,kind\nhome,A10,rented\n"}, r"offers.csv:2: column 'kind': 'rented' is not one of"),
    ({"gpus.csv": "name,architecture\nMystery-GPU,Hopper\n"},
     r"gpus.csv:2: a new GpuSpec row needs column\(s\) memory_gb"),
    ({"models.csv": "name,num_layers\nmy-model,4\n"}, r"models.csv:2: a new ModelArch row needs column\(s\)"),
    ({"models.csv": "name,num_heads,num_kv_heads\nllama-2-7b,32,5\n"},
     r"models.csv:2: column 'num_kv_heads': 32 heads are not a multiple of 5"),
    ({"storage.csv": "platform,item,usd_per_gb_month\naws,ebs gp3,yes\n"}, r"storage.csv:2: column 'usd_per_gb_month'"),
])
def test_malformed_user_file_names_file_line_and_column(tmp_path, files, expected):
    user = _dir(tmp_path, "u", files)
    with pytest.raises(CatalogError, match=expected) as err:
        load_catalog([user])
    assert str(user) in err.value.message and err.value.fix


def test_missing_catalog_dir_is_an_error(tmp_path, monkeypatch):
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog([tmp_path / "nope"])
    (tmp_path / "offers.csv").write_text("platform\n")
    with pytest.raises(CatalogError, match="is a file, not a directory"):  # --catalog pointed at a file
        load_catalog([tmp_path / "offers.csv"])
    monkeypatch.setenv("FRUGALTUNE_CATALOG_DIR", str(tmp_path / "nope-either"))
    with pytest.raises(CatalogError, match=r"\$FRUGALTUNE_CATALOG_DIR"):
        load_catalog()


def test_user_storage_price_replaces_the_median_fallback(tmp_path):
    user = _dir(tmp_path, "u", {"storage.csv": "platform,item,usd_per_gb_month,default_for_platform,source,"
                                               "data_date\nAWS,EBS gp3,0.08,yes,aws.amazon.com/ebs/pricing,"
                                               "2026-11-01\n"})
    usd, note = load_catalog([user]).storage_usd_per_gb_month("aws")
    assert usd == 0.08 and "EBS gp3" in note and "median" not in note


def test_cli_catalog_flag(tmp_path, capsys):
    import json

    from frugaltune.cli.app import run

    user = _dir(tmp_path, "u", _price_file(0.42))
    assert run(["catalog", "prices", "--json", "--catalog", str(user), "--platform", "lambda", "--gpu", "a10"]) == 0
    assert json.loads(capsys.readouterr().out)["offers"][0]["on_demand_usd_per_gpu_hour"] == 0.42
    assert run(["catalog", "gpus", "--catalog", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
