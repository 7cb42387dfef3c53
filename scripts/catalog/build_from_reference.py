#!/usr/bin/env python3
"""Build frugaltune's shipped catalog (src/frugaltune/catalog/data/*.csv) from the reference data directory.

Offline generator, never imported at runtime (SkyPilot keeps its data fetchers apart the same way).
Usage:  python scripts/catalog/build_from_reference.py [--reference DIR] [--out DIR]

Every output row carries `source` and `data_date`. Choices made here (documented in data/README.md too):
- GPU names are canonical (`A100-80GB`, `H100-SXM`, ...); a bare `A100` means the 40 GB SXM4 part (SkyPilot's
  convention, and the conservative choice for memory), `H100` means the SXM part, `V100` the 16 GB SXM2 part.
- The reference's "V100 16/32GB PCIe" row becomes two rows (16 GB and 32 GB), otherwise identical.
- A purchase price given as a range ("25000-30000") is stored as its midpoint, the range kept in notes.
- `fp16_tflops` is the FP32-accumulate rate (what AMP training gets): the BF16 column where it exists (the
  reference states that for GeForce cards it is the FP32-accumulate rate), else the FP16 column (T4, V100).
- Dates: ">=2025-11 ..." becomes 2025-11-01 (a lower bound, said in notes); anything without a date -> "unknown"
  (an offer without a date is not carried: a price must say when it was seen);
  SkyPilot Lambda rows whose values equal Lambda's pricing harvested 2026-09-20 get that date.
- Billing: per-second providers -> increment 1 s, minimum 1 s unless a minimum is stated (AWS, GCP: 60 s);
  Lambda per minute -> 60 s / 60 s; providers whose increment the sources do not state (CoreWeave's "hourly list
  rates", Azure, Nebius, Paperspace) -> 3600 s / 3600 s, the conservative reading of an hourly price.
- Spot: `spot_usd_per_gpu_hour` is the median over the region's zones the reference notes list, the figure
  estimates rank on; the reference's own figure (its cheapest zone) is `spot_cheapest_usd_per_gpu_hour` beside it,
  with the zone's name, the number of zones seen and a `spot_scarce` reason (spot_zones.py).
- Offers whose GPU has no spec row (B300) are not carried: the estimator cannot use them. GH200 and RTX A4000 offers
  are carried since those GPUs have spec rows (extra_gpus.csv).
  They are listed in data/README.md.
- GPUs the reference lacks (A40, L40, RTX A5000/A4000, RTX 4080, A800, H800, H20, L20, GH200, MI250X) come from
  extra_gpus.csv next to this script, already in the catalog's columns, each row with its public sources; models it
  lacks (Mistral NeMo 12B, Phi-4) come from extra_models.csv the same way, and offers it lacks (2- and 4-GPU
  RTX 4090 pods on RunPod and machines on Vast, from the same SkyPilot catalog snapshots) from extra_offers.csv.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REFERENCE = Path(__file__).resolve().parent / "reference"  # dated snapshot, see SNAPSHOT.md there
DEFAULT_OUT = ROOT / "src" / "frugaltune" / "catalog" / "data"
EXTRA_GPUS = Path(__file__).resolve().parent / "extra_gpus.csv"  # GPUs the reference lacks, each row sourced
EXTRA_MODELS = Path(__file__).resolve().parent / "extra_models.csv"  # models the reference lacks, each row sourced
EXTRA_OFFERS = Path(__file__).resolve().parent / "extra_offers.csv"  # offers the reference lacks, each row sourced
SCHEMA_VERSION = "v1"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from spot_zones import spot_zones  # noqa: E402  (a sibling module)
from reference_tables import (  # a sibling module of transcribed tables
    BILLING,
    GPU_ALIASES,
    GPU_NAMES,
    GPU_SEGMENTS,
    HOST_RATES,
    MODEL_ALIASES,
    MODEL_SOURCE_DATES,
    OFFER_GPU_NAMES,
    PLATFORM_KINDS,
    STORAGE_ROWS,
)

GPU_COLUMNS = [
    "name", "aliases", "architecture", "segment", "memory_gb", "memory_bandwidth_gb_per_s", "bf16_tflops",
    "fp16_tflops", "fp16_acc16_tflops", "fp32_tflops", "tf32_tflops", "fp8_tflops", "bf16_supported",
    "fp8_supported", "tdp_watts", "price_usd", "source", "data_date", "notes",
]
OFFER_COLUMNS = [
    "platform", "instance", "gpu", "gpus_per_instance", "region", "on_demand_usd_per_gpu_hour",
    "spot_usd_per_gpu_hour", "billing_increment_s", "billing_minimum_s", "whole_instance", "kind",
    "price_includes_host", "anomaly", "spot_anomaly", "cpu_usd_per_core_hour", "memory_usd_per_gib_hour",
    "data_date", "source", "notes", "spot_cheapest_usd_per_gpu_hour", "spot_cheapest_zone", "spot_zones",
    "spot_scarce",
]
MODEL_COLUMNS = [
    "name", "hf_id", "aliases", "num_layers", "hidden_size", "intermediate_size", "num_heads", "num_kv_heads",
    "head_dim", "vocab_size", "max_position_embeddings", "tie_word_embeddings", "mlp_type", "num_experts",
    "experts_per_token", "qkv_bias", "qk_norm", "norm_type", "norms_per_layer", "linear_bias",
    "learned_pos_embeddings", "hidden_act", "sliding_window", "total_params", "source", "data_date", "notes",
]
STORAGE_COLUMNS = [
    "platform", "item", "usd_per_gb_month", "free_gb", "default_for_platform", "source", "data_date", "notes", "held",
]


def yes_no(text: str) -> str:
    return "true" if text.strip().lower() in ("yes", "true", "1") else "false"


def join_notes(*parts: str) -> str:
    return "; ".join(p.strip() for p in parts if p and p.strip())


def read_reference(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f))


def gpu_rows(reference: Path) -> list[dict]:
    """One row per GPU (the V100 PCIe row split into 16 GB and 32 GB), then the GPUs the reference lacks
    (extra_gpus.csv next to this script: rows in the catalog's own columns, each with its public sources)."""
    out = []
    for ref in read_reference(reference / "gpus.csv"):
        for name in GPU_NAMES[(ref["gpu"], ref["variant"])]:
            out.append(gpu_row(ref, name))
    return out + read_reference(EXTRA_GPUS)


def gpu_row(ref: dict, name: str) -> dict:
    memory_gb, notes = ref["memory_gb"], ref["notes"]
    if memory_gb == "16 or 32":
        memory_gb = "32" if "32GB" in name else "16"
        notes = join_notes(notes, "reference row 'V100 16/32GB PCIe' split into a 16 GB and a 32 GB row")
    price, price_note = purchase_price(ref["price_usd"], ref["price_source"])
    bf16 = ref["bf16_tensor_dense_tflops"]
    return {
        "name": name, "aliases": "|".join(GPU_ALIASES.get(name, ())),
        "architecture": ref["architecture"], "segment": GPU_SEGMENTS[name], "memory_gb": memory_gb,
        "memory_bandwidth_gb_per_s": ref["memory_bandwidth_gbps"], "bf16_tflops": bf16,
        "fp16_tflops": bf16 or ref["fp16_acc16_tensor_dense_tflops"],
        "fp16_acc16_tflops": ref["fp16_acc16_tensor_dense_tflops"], "fp32_tflops": ref["fp32_tflops"],
        "tf32_tflops": ref["tf32_tensor_dense_tflops"], "fp8_tflops": ref["fp8_tensor_dense_tflops"],
        "bf16_supported": yes_no(ref["bf16_supported"]), "fp8_supported": yes_no(ref["fp8_supported"]),
        "tdp_watts": ref["tdp_watts"], "price_usd": price,
        "source": ref["source"],  # the public origins; the reference file itself is no source to show users
        "data_date": "unknown", "notes": join_notes(f"variant: {ref['variant']}", notes, price_note),
    }


def purchase_price(text: str, source: str) -> tuple[str, str]:
    """A range '25000-30000' -> its midpoint, with the range and its source in a note."""
    if not text:
        return "", ""
    low, _, high = text.partition("-")
    if not high:
        return text, f"purchase price {text} USD from {source}"
    mid = (float(low) + float(high)) / 2
    return f"{mid:g}", f"purchase price given as {text} USD ({source}); midpoint stored"


def iso_date(text: str) -> tuple[str, str]:
    """Reference date text -> (ISO date or 'unknown', note explaining the reading)."""
    text = text.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return text, ""
    m = re.match(r">=\s*(\d{4})-(\d{2})", text)
    if m:
        return f"{m[1]}-{m[2]}-01", f"data_date is a lower bound (reference: '{text}')"
    m = re.match(r"(\d{4}-\d{2}-\d{2}) \(", text)
    if m:
        return m[1], f"reference date: '{text}'"
    m = re.search(r"values equal .* harvested (\d{4}-\d{2}-\d{2})", text)
    if m:
        return m[1], f"date of the matching harvest (reference: '{text}')"
    return "unknown", f"reference date: '{text}'" if text else ""


def offer_rows(reference: Path) -> tuple[list[dict], list[dict]]:
    """(carried offers, skipped reference rows with why). A price without a date is not carried: nobody can tell
    whether anyone still pays it (an undated single marketplace listing used to win rankings)."""
    carried, skipped, seen = [], [], set()
    for ref in read_reference(reference / "cloud_prices.csv"):
        gpu = OFFER_GPU_NAMES.get(ref["gpu"])
        if gpu is None or iso_date(ref["data_date"])[0] == "unknown":
            skipped.append((ref, "no GPU spec row" if gpu is None else "no date"))
            continue
        row = offer_row(ref, gpu)
        key = (row["platform"], row["instance"], row["region"], row["gpu"])
        if key in seen:  # RunPod's v7 and v8 SkyPilot rows share a SKU name
            row["instance"] += " (older snapshot)"
            key = (row["platform"], row["instance"], row["region"], row["gpu"])
        assert key not in seen, key
        seen.add(key)
        carried.append(row)
    return carried, skipped


def offer_row(ref: dict, gpu: str) -> dict:
    platform, instance, gpi = ref["provider"], ref["instance_or_sku"], int(ref["gpus_per_instance"])
    increment_s, minimum_s, billing_note = BILLING[platform]
    data_date, date_note = iso_date(ref["data_date"])
    notes = ref["notes"]
    anomaly = "ANOMALY" in notes or "unreliable" in notes.lower()
    spot = ref["spot_usd_per_gpu_hour"]
    whole = gpi > 1 and not (platform == "gcp" and instance == "a2-highgpu GPU part")
    extra_notes = [billing_note, date_note]
    if platform == "gcp" and instance == "a2-highgpu GPU part":
        extra_notes.append("not whole-instance: a2-highgpu comes in 1/2/4/8-GPU shapes, GPU SKU billed per GPU")
    if ref["gpu"] == "H100 80GB":
        extra_notes.append("H100 variant not stated by the source; SXM assumed")
    host_included = not ("GPU part" in instance or "host VM billed separately" in notes)
    if not host_included:
        extra_notes.append("GPU-only SKU price: the host VM (vCPU + RAM) is billed on top")
    if platform in ("runpod", "vast") and not spot:
        extra_notes.append("no spot price: the SkyPilot v8 SpotPrice column is Price or 0, not a real spot price")
    spot_anomaly = platform == "azure" and bool(spot)
    if spot_anomaly:  # reference README, "Anomalies kept but flagged": Azure spot values ~10-25 % of on-demand
        share = float(spot) / float(ref["on_demand_usd_per_gpu_hour"])
        extra_notes.append(f"spot price flagged: {share:.0%} of on-demand in an old, undated snapshot (the reference "
                           "says Azure spot values there are ~10-25 % of on-demand: verify before use)")
    return {
        "platform": platform, "instance": instance, "gpu": gpu, "gpus_per_instance": gpi, "region": ref["region"],
        "on_demand_usd_per_gpu_hour": ref["on_demand_usd_per_gpu_hour"], **spot_columns(ref, spot, gpi),
        "billing_increment_s": increment_s, "billing_minimum_s": minimum_s, "whole_instance": str(whole).lower(),
        "kind": PLATFORM_KINDS[platform], "price_includes_host": str(host_included).lower(),
        "anomaly": str(anomaly).lower(), "spot_anomaly": str(spot_anomaly).lower(),
        "cpu_usd_per_core_hour": HOST_RATES.get(platform, ("", ""))[0],
        "memory_usd_per_gib_hour": HOST_RATES.get(platform, ("", ""))[1], "data_date": data_date, "source": ref["source"],
        "notes": join_notes(notes, f"billing (reference): {ref['billing_increment']}", *extra_notes),
    }


def spot_columns(ref: dict, spot: str, gpus_per_instance: int) -> dict:
    """The spot figure estimates rank on (the median over the region's zones, spot_zones.py) and, beside it, the
    cheapest zone's price and name, how many zones were seen, and why spot looks scarce ("" when it does not)."""
    if not spot:
        return {"spot_usd_per_gpu_hour": ""}
    z = spot_zones(ref["notes"], float(spot), gpus_per_instance)
    return {"spot_usd_per_gpu_hour": f"{z['median']:g}", "spot_cheapest_usd_per_gpu_hour": spot,
            "spot_cheapest_zone": z["zone"], "spot_zones": "" if z["zones"] is None else str(z["zones"]),
            "spot_scarce": z["scarce"]}


def model_rows(reference: Path) -> list[dict]:
    """One row per reference model, then the models the reference lacks (extra_models.csv next to this script:
    rows in the catalog's own columns, each with its public config source)."""
    cites = source_keys(reference / "models_README.md")
    return [model_row(ref, cites) for ref in read_reference(reference / "models.csv")] + read_reference(EXTRA_MODELS)


def model_slug(name: str) -> str:
    """'Gemma 3 4B (text decoder)' -> 'gemma-3-4b'; 'Phi-3 mini 4k' -> 'phi-3-mini-4k'."""
    name = re.sub(r"\(.*?\)", "", name).strip().lower()
    return re.sub(r"[\s_]+", "-", name)


def source_keys(readme: Path) -> dict[str, str]:
    """KEY -> its public citation, from the "Source keys" list of models_README.md (`- **KEY / KEY2**: text`):
    the backticked repository, path and commit where the text has them, else the text's first clause."""
    cites = {}
    for keys, text in re.findall(r"^- \*\*([A-Z0-9_ /]+)\*\*: (.+)$", readme.read_text(encoding="utf-8"), re.M):
        ticks = re.findall(r"`([^`]+)`", text)
        commit = re.search(r"@[0-9a-f]{7,}", text)
        cite = " ".join(ticks[:2]) + (commit.group(0) if commit else "") if ticks else text.split(". ")[0]
        cites.update({k.strip(): cite.strip().rstrip(".") for k in keys.split("/")})
    return cites


def cite_keys(text: str, cites: dict[str, str]) -> str:
    """The reference's source keys in `text` replaced by their public citations (a repeated key: its repository)."""
    seen: set[str] = set()

    def cite(m: re.Match) -> str:
        key = m.group(0)
        if key not in cites:
            return key
        full = cites[key]
        short = full.split()[0] if key in seen else full
        seen.add(key)
        return short

    return re.sub(r"\b[A-Z][A-Z0-9_]+\b", cite, text)


def model_row(ref: dict, cites: dict[str, str]) -> dict:
    name = model_slug(ref["name"])
    mlp = ref["mlp_type"]
    gpt2 = ref["name"].startswith("GPT-2")
    dated = [k for k in re.findall(r"[A-Z][A-Z0-9_]+", ref["config_source"]) if k in MODEL_SOURCE_DATES]
    first_source = dated[0] if dated else ""
    stated = ref["total_params"]
    notes = join_notes(
        f"reference name: {ref['name']}",
        f"total_params = computed count; stated {stated} ({ref['total_params_basis']})" if stated
        != ref["total_params_computed"] else f"params basis: {ref['total_params_basis']}",
        f"data_date = date of config source {first_source}" if first_source in MODEL_SOURCE_DATES else "",
        ref["notes"],
    )
    return {
        "name": name, "hf_id": ref["hf_id"], "aliases": "|".join(MODEL_ALIASES.get(name, ())),
        "num_layers": ref["num_hidden_layers"], "hidden_size": ref["hidden_size"],
        "intermediate_size": ref["intermediate_size"], "num_heads": ref["num_attention_heads"],
        "num_kv_heads": ref["num_key_value_heads"], "head_dim": ref["head_dim"], "vocab_size": ref["vocab_size"],
        "max_position_embeddings": ref["max_position_embeddings"],
        "tie_word_embeddings": yes_no(ref["tie_word_embeddings"]),
        "mlp_type": "gated" if mlp.startswith("gated") else "plain", "num_experts": ref["num_experts"],
        "experts_per_token": ref["experts_per_token"], "qkv_bias": yes_no(ref["qkv_bias"]),
        "qk_norm": yes_no(ref["qk_norm"]), "norm_type": ref["norm_type"].lower(),
        "norms_per_layer": ref["norms_per_layer"], "linear_bias": str(gpt2).lower(),
        "learned_pos_embeddings": "1024" if gpt2 else "0", "hidden_act": ref["hidden_act"],
        "sliding_window": ref["sliding_window"], "total_params": ref["total_params_computed"],
        "source": join_notes(f"config: {cite_keys(ref['config_source'], cites)}",
                             f"params: {cite_keys(ref['params_source'], cites)}"),
        "data_date": MODEL_SOURCE_DATES.get(first_source, "unknown"), "notes": notes,
    }


def storage_rows() -> list[dict]:
    return [dict(zip(STORAGE_COLUMNS, row)) for row in STORAGE_ROWS]


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    gpus = gpu_rows(args.reference)
    offers, skipped = offer_rows(args.reference)
    for extra in read_reference(EXTRA_OFFERS):
        if extra["data_date"] == "unknown":
            skipped.append(({"provider": extra["platform"], "instance_or_sku": extra["instance"], "gpu": extra["gpu"]},
                            "no date"))
        else:
            offers.append(extra)
    keys = [(o["platform"], o["instance"], o["region"], o["gpu"]) for o in offers]
    assert len(keys) == len(set(keys)), "two offers with the same key"
    known = {g["name"] for g in gpus}
    assert all(o["gpu"] in known for o in offers), "offer with an unknown GPU"
    write_csv(args.out / "gpus.csv", GPU_COLUMNS, gpus)
    write_csv(args.out / "offers.csv", OFFER_COLUMNS, offers)
    write_csv(args.out / "models.csv", MODEL_COLUMNS, model_rows(args.reference))
    write_csv(args.out / "storage.csv", STORAGE_COLUMNS, storage_rows())
    (args.out / "SCHEMA_VERSION").write_text(SCHEMA_VERSION + "\n")
    print(f"gpus {len(gpus)}, offers {len(offers)} (skipped {len(skipped)})", file=sys.stderr)
    for ref, why in skipped:
        print(f"  skipped: {ref['provider']} {ref['instance_or_sku']} ({ref['gpu']}): {why}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
