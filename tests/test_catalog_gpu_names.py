"""GPU names as people, nvidia-smi and clouds write them resolve to one catalog row (catalog/resolve.py).

Every expectation below was checked by hand against the GPU's nvidia-smi name or the cloud's documented SKU:
nvidia-smi prints "NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3" (SXM5), "Tesla V100-SXM2-16GB"; GCP's
accelerator types are nvidia-tesla-a100 (40 GB), nvidia-a100-80gb, nvidia-h100-80gb, nvidia-h100-mega-80gb (SXM);
SkyPilot's catalog writes A100-80GB-SXM, H100-MEGA, H100-NVLINK (NVLink-connected SXM), RTXA6000, RTX6000-Ada.
"""

from __future__ import annotations

import pytest

from frugaltune.catalog.load import load_catalog
from frugaltune.catalog.resolve import gpu_parts
from frugaltune.errors import CatalogError

SPELLINGS = {
    # the list, each bare, in nvidia-smi form and with a memory suffix
    "RTX 4090 24GB": "RTX-4090", "NVIDIA GeForce RTX 4090": "RTX-4090", "GeForce RTX 4090 24 GB": "RTX-4090",
    "RTX A6000 48GB": "RTX-A6000", "NVIDIA RTX A6000": "RTX-A6000", "RTXA6000": "RTX-A6000",
    "NVIDIA A800 80GB": "A800-80GB", "NVIDIA A800-SXM4-80GB": "A800-80GB", "NVIDIA A800 80GB PCIe": "A800-80GB-PCIe",
    "A800 40GB": "A800-40GB-PCIe",
    "RTX A5000": "RTX-A5000", "NVIDIA RTX A5000": "RTX-A5000", "RTX A5000 24GB": "RTX-A5000", "RTXA5000": "RTX-A5000",
    "A40": "A40", "NVIDIA A40": "A40", "A40 48GB": "A40",
    "L40": "L40", "NVIDIA L40": "L40", "L40 48GB": "L40", "NVIDIA L40S": "L40S", "L40S 48G": "L40S",
    # other nvidia-smi names
    "NVIDIA A100-SXM4-80GB": "A100-80GB", "NVIDIA A100-SXM4-40GB": "A100-40GB",
    "NVIDIA A100-PCIE-40GB": "A100-40GB-PCIe", "NVIDIA A100 80GB PCIe": "A100-80GB-PCIe",
    "NVIDIA H100 80GB HBM3": "H100-SXM", "NVIDIA H100 PCIe": "H100-PCIe",
    "NVIDIA H100 NVL": "H100-NVL", "Tesla V100-SXM2-16GB": "V100-16GB", "Tesla V100-SXM2-32GB": "V100-32GB",
    "Tesla V100-PCIE-32GB": "V100-32GB-PCIe", "Tesla T4": "T4", "NVIDIA A10G": "A10G", "NVIDIA L4": "L4",
    "NVIDIA GH200 480GB": "GH200", "NVIDIA RTX 6000 Ada Generation": "RTX-6000-Ada",
    "NVIDIA GeForce RTX 3090": "RTX-3090", "NVIDIA GeForce RTX 4080": "RTX-4080", "NVIDIA RTX A4000": "RTX-A4000",
    "NVIDIA H800": "H800", "NVIDIA H20": "H20",
    "NVIDIA L20": "L20", "AMD Instinct MI250X": "MI250X", "AMD Instinct MI300X": "MI300X",
    # memory suffixes and form factors as people write them
    "A100 80 GB": "A100-80GB", "NVIDIA A100 80 GB": "A100-80GB", "RTX 3090 24G": "RTX-3090", "H200 141GB": "H200",
    "V100 32GB": "V100-32GB", "T4 16GB": "T4", "T4 15GB": "T4", "A10G 24GB": "A10G", "L4 24GB": "L4",
    "RTX 4080 16GB": "RTX-4080", "MI250X 128GB": "MI250X", "H800 80GB": "H800", "A100 SXM4 40GB": "A100-40GB",
    "A100 PCIe 80GB": "A100-80GB-PCIe", "H100 SXM5": "H100-SXM", "H100 NVL 94GB": "H100-NVL", "H200 SXM": "H200",
    "H100 HBM3": "H100-SXM", "8x H100 80GB": "H100-SXM", "2x RTX 4090": "RTX-4090",
    # cloud SKUs: GCP accelerator types (and the API enum spelling), SkyPilot accelerator names
    "nvidia-tesla-a100": "A100-40GB", "nvidia-a100-80gb": "A100-80GB", "nvidia-h100-80gb": "H100-SXM",
    "nvidia-h100-mega-80gb": "H100-SXM", "nvidia-l4": "L4", "nvidia-tesla-t4": "T4", "nvidia-tesla-v100": "V100-16GB",
    "nvidia-h200-141gb": "H200", "nvidia-b200": "B200", "NVIDIA_TESLA_A100": "A100-40GB",
    "A100-80GB-SXM": "A100-80GB", "H100-SXM": "H100-SXM", "H100-MEGA": "H100-SXM", "H100-NVL": "H100-NVL",
    "H100-NVLINK": "H100-SXM", "H200-SXM": "H200", "RTXA4000": "RTX-A4000", "RTX6000-Ada": "RTX-6000-Ada",
    "RTX6000Ada": "RTX-6000-Ada", "RTX4090": "RTX-4090", "RTX3090": "RTX-3090", "A6000": "RTX-A6000",
    "A4000": "RTX-A4000", "GH200": "GH200", "V100-32GB": "V100-32GB",
    # today's documented defaults for bare names stay
    "NVIDIA A100": "A100-40GB", "a100": "A100-40GB", "H100": "H100-SXM", "v100": "V100-16GB",
}


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.mark.parametrize("spelling, canonical", sorted(SPELLINGS.items()))
def test_spelling_resolves(cat, spelling, canonical):
    assert cat.gpu(spelling).name == canonical


@pytest.mark.parametrize("spelling, parts", [
    ("NVIDIA A100-SXM4-80GB", ("a100", 80.0, "sxm")), ("RTX 4090 24 GB", ("rtx4090", 24.0, None)),
    ("nvidia-tesla-t4", ("t4", None, None)), ("L40S 48G", ("l40s", 48.0, None)), ("8x H100 NVL", ("h100", None, "nvl")),
    ("NVIDIA RTX 6000 Ada Generation", ("rtx6000ada", None, None)), ("Tesla V100-PCIE-32GB", ("v100", 32.0, "pcie")),
])
def test_gpu_parts(spelling, parts):
    assert gpu_parts(spelling) == parts


def test_several_sizes_and_no_default_is_refused_with_the_candidates(cat):
    with pytest.raises(CatalogError) as err:
        cat.gpu("A800")
    assert "ambiguous" in err.value.message
    assert all(n in err.value.message for n in ("A800-40GB-PCIe", "A800-80GB", "A800-80GB-PCIe"))
    assert "memory size" in err.value.fix and "\n" not in str(err.value)


def test_a_size_the_catalog_lacks_names_the_sizes_it_has(cat):
    with pytest.raises(CatalogError) as err:
        cat.gpu("H100 120GB")
    assert "H100-NVL (94 GB)" in err.value.message and "H100-SXM (80 GB)" in err.value.message


def test_unknown_gpu_still_suggests(cat):
    with pytest.raises(CatalogError) as err:
        cat.gpu("RTX 3080")
    assert "Unknown GPU 'RTX 3080'" in err.value.message and "Did you mean" in err.value.message


def test_every_new_row_is_sourced_and_dated(cat):
    for name in ("A40", "L40", "RTX-A5000", "RTX-A4000", "RTX-4080", "A800-40GB-PCIe", "A800-80GB", "A800-80GB-PCIe",
                 "H800", "H20", "L20", "GH200", "MI250X"):
        gpu = cat.gpu(name)
        assert gpu.source and "shared/" not in gpu.source and gpu.data_date == "2026-12-01", name
        assert gpu.memory_gb > 0 and gpu.bf16_tflops and gpu.memory_bandwidth_gb_per_s, name


# --- `frugaltune catalog gpus` shows where each GPU's figures come from ------------------------------------------


def _run_cli(argv, capsys, monkeypatch):
    from frugaltune.cli.app import run

    monkeypatch.setenv("COLUMNS", "200")  # rich folds cells to the terminal width
    code = run(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_no_gpu_source_cites_internal_files(cat):
    assert [g.name for g in cat.gpus.values() if "shared/" in g.source or not g.source.strip()] == []


def test_cli_sources_lists_every_gpu_with_its_source(cat, capsys, monkeypatch):
    code, out, _ = _run_cli(["catalog", "gpus", "--sources"], capsys, monkeypatch)
    assert code == 0 and "GPU sources" in out
    assert all(name in out for name in cat.gpus)
    assert "pytorch-lightning" in out and "volcengine/verl" in out


def test_cli_one_gpu_by_its_nvidia_smi_name_shows_source_date_and_notes(capsys, monkeypatch):
    code, out, _ = _run_cli(["catalog", "gpus", "--gpu", "NVIDIA A800-SXM4-80GB"], capsys, monkeypatch)
    assert code == 0 and "A800-80GB: sources" in out
    assert "LLM-Prof" in out and "2026-12-01" in out and "China-market" in out


def test_cli_json_carries_source_fields(capsys, monkeypatch):
    import json

    code, out, _ = _run_cli(["catalog", "gpus", "--gpu", "RTX 4090 24GB", "--json"], capsys, monkeypatch)
    gpu = json.loads(out)["gpus"][0]
    assert code == 0 and gpu["name"] == "RTX-4090" and gpu["source"] and "data_date" in gpu and "notes" in gpu
