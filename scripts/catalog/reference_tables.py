"""Tables transcribed from the reference data's README.md and models_README.md, and the naming decisions of the
catalog. Used only by build_from_reference.py (offline; never imported at runtime).
"""

from __future__ import annotations

# (reference gpu, variant) -> canonical name(s). The V100 PCIe row ("16 or 32" GB) becomes two rows.
GPU_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("T4", "PCIe 16GB"): ("T4",),
    ("L4", "PCIe 24GB"): ("L4",),
    ("A10", "PCIe 24GB"): ("A10",),
    ("A10G", "AWS g5 only, 24GB"): ("A10G",),
    ("L40S", "PCIe 48GB"): ("L40S",),
    ("A100 40GB", "SXM4"): ("A100-40GB",),
    ("A100 40GB", "PCIe"): ("A100-40GB-PCIe",),
    ("A100 80GB", "SXM4"): ("A100-80GB",),
    ("A100 80GB", "PCIe"): ("A100-80GB-PCIe",),
    ("H100 80GB", "SXM5"): ("H100-SXM",),
    ("H100 80GB", "PCIe"): ("H100-PCIe",),
    ("H100 NVL", "PCIe dual-slot 94GB"): ("H100-NVL",),
    ("H200", "SXM 141GB"): ("H200",),
    ("B200", "HGX/DGX B200 (SXM6)"): ("B200",),
    ("RTX 3090", "GeForce 24GB"): ("RTX-3090",),
    ("RTX 4090", "GeForce 24GB"): ("RTX-4090",),
    ("RTX 5090", "GeForce 32GB"): ("RTX-5090",),
    ("RTX A6000", "Pro 48GB"): ("RTX-A6000",),
    ("RTX 6000 Ada", "Pro 48GB"): ("RTX-6000-Ada",),
    ("V100 16GB", "SXM2"): ("V100-16GB",),
    ("V100 32GB", "SXM2"): ("V100-32GB",),
    ("V100 16/32GB", "PCIe"): ("V100-16GB-PCIe", "V100-32GB-PCIe"),
    ("MI300X", "OAM 192GB"): ("MI300X",),
}

# Forgiving spellings. At runtime every alias is compared after lower-casing, dropping spaces/dashes/underscores
# and leading vendor words (nvidia, tesla, geforce, quadro, amd, instinct), so "A100 80GB" == "a100-80gb".
# Ambiguous bare names (documented defaults): "A100" -> A100-40GB (SkyPilot's convention, the smaller memory),
# "A100 PCIe" -> A100-40GB-PCIe, "H100" -> H100-SXM, "V100" -> V100-16GB (SXM2), "V100 PCIe" -> V100-16GB-PCIe.
GPU_ALIASES: dict[str, tuple[str, ...]] = {
    "T4": ("Tesla T4", "NVIDIA T4", "T4 16GB"),
    "L4": ("NVIDIA L4", "L4 24GB"),
    "A10": ("NVIDIA A10", "A10 24GB", "A10 PCIe"),
    "A10G": ("NVIDIA A10G", "A10G 24GB"),
    "L40S": ("NVIDIA L40S", "L40S 48GB", "L40-S"),
    "A100-40GB": ("A100", "A100 40GB", "A100 40G", "A100-SXM4-40GB", "A100 SXM4 40GB", "A100 40GB SXM",
                  "A100 40GB SXM4", "A100 SXM 40GB", "A100 SXM4", "A100 SXM"),
    "A100-40GB-PCIe": ("A100 PCIe", "A100 40GB PCIe", "A100-PCIE-40GB", "A100 PCIe 40GB"),
    "A100-80GB": ("A100 80GB", "A100 80G", "A100-SXM4-80GB", "A100 SXM4 80GB", "A100 80GB SXM", "A100 80GB SXM4",
                  "A100 SXM 80GB", "A100-80GB-SXM"),
    "A100-80GB-PCIe": ("A100 80GB PCIe", "A100-PCIE-80GB", "A100 PCIe 80GB"),
    "H100-SXM": ("H100", "H100 SXM", "H100 SXM5", "H100 80GB", "H100 80GB SXM", "H100 80GB SXM5", "H100-SXM5-80GB",
                 "H100 80GB HBM3", "H100-80GB"),
    "H100-PCIe": ("H100 PCIe", "H100 80GB PCIe", "H100-PCIE-80GB", "H100 PCIe 80GB"),
    "H100-NVL": ("H100 NVL", "H100 NVL 94GB", "H100 94GB"),
    "H200": ("H200 SXM", "H200 141GB", "H200 SXM 141GB"),
    "B200": ("B200 SXM", "B200 180GB", "HGX B200"),
    "RTX-3090": ("RTX 3090", "3090", "GeForce RTX 3090", "RTX3090"),
    "RTX-4090": ("RTX 4090", "4090", "GeForce RTX 4090", "RTX4090"),
    "RTX-5090": ("RTX 5090", "5090", "GeForce RTX 5090", "RTX5090"),
    "RTX-A6000": ("RTX A6000", "A6000", "NVIDIA RTX A6000"),
    "RTX-6000-Ada": ("RTX 6000 Ada", "RTX 6000 Ada Generation", "6000 Ada", "RTX6000Ada"),
    "V100-16GB": ("V100", "V100 16GB", "V100-SXM2-16GB", "Tesla V100-SXM2-16GB", "V100 SXM2", "V100 SXM2 16GB"),
    "V100-32GB": ("V100 32GB", "V100-SXM2-32GB", "Tesla V100-SXM2-32GB", "V100 SXM2 32GB"),
    "V100-16GB-PCIe": ("V100 PCIe", "V100-PCIE-16GB", "Tesla V100-PCIE-16GB", "V100 16GB PCIe"),
    "V100-32GB-PCIe": ("V100-PCIE-32GB", "Tesla V100-PCIE-32GB", "V100 32GB PCIe"),
    "MI300X": ("AMD Instinct MI300X", "MI300X 192GB", "MI300"),
}

GPU_SEGMENTS: dict[str, str] = {
    **{n: "datacenter" for names in GPU_NAMES.values() for n in names},
    "RTX-A6000": "workstation",
    "RTX-6000-Ada": "workstation",
    "RTX-3090": "consumer",
    "RTX-4090": "consumer",
    "RTX-5090": "consumer",
}

# cloud_prices.csv `gpu` -> canonical name; None = no spec row in gpus.csv, the offer is not carried.
OFFER_GPU_NAMES: dict[str, str | None] = {
    "T4": "T4", "L4": "L4", "A10": "A10", "A10G": "A10G", "L40S": "L40S",
    "A100 40GB": "A100-40GB",  # every such row is an SXM4 part (p4d, a2-highgpu, ND96asr_v4, Lambda sxm4, Vast SXM4)
    "A100 80GB": "A100-80GB", "A100 80GB SXM": "A100-80GB", "A100 80GB PCIe": "A100-80GB-PCIe",
    "H100 80GB SXM": "H100-SXM", "H100 80GB PCIe": "H100-PCIe", "H100 NVL": "H100-NVL",
    "H100 80GB": "H100-SXM",  # Paperspace rows: variant not stated; SXM assumed (said in notes)
    "H200": "H200", "B200": "B200",
    "V100 16GB": "V100-16GB", "V100 32GB": "V100-32GB",
    "RTX 3090": "RTX-3090", "RTX 4090": "RTX-4090", "RTX 5090": "RTX-5090", "RTX A6000": "RTX-A6000",
    "RTX 6000 Ada": "RTX-6000-Ada",
    "GH200": "GH200", "RTX A4000": "RTX-A4000",  # spec rows from extra_gpus.csv
    "B300": None,
}

# provider -> (billing_increment_s, billing_minimum_s, note), from README section 3 "Billing rules".
_UNSTATED = "billing increment not stated in the sources; hourly assumed (conservative: never under-bills)"
BILLING: dict[str, tuple[int, int, str]] = {
    "aws": (1, 60, "per-second, 60 s minimum (README billing table; the minimum is not re-verified)"),
    "gcp": (1, 60, "per-second, 1-minute minimum (README billing table; not re-verified)"),
    "azure": (3600, 3600, "Azure billing not determined in the sources; " + _UNSTATED),
    "lambda": (60, 60, "billed by the minute (api-evangelist/lambda-labs, 2026-09-20)"),
    "modal": (1, 1, "per-second (Modal docs; a third-party claim of 10-second rounding is unconfirmed)"),
    "runpod": (1, 1, "per-second (docs.runpod.io/accounts-billing/billing)"),
    "vast": (1, 1, "per-second (vast.ai/pricing via api-evangelist/vast-ai, read 2026-10-07)"),
    "coreweave": (3600, 3600, "CoreWeave publishes hourly list rates; " + _UNSTATED),
    "nebius": (3600, 3600, _UNSTATED),
    "paperspace": (3600, 3600, _UNSTATED),
}

# README section 3 "Billing rules": platforms that bill CPU and memory per second on top of the GPU price
# -> (USD per core-hour, USD per GiB-hour). Modal: $0.0000131/core-s (min 0.125 core), $0.00000222/GiB-s.
HOST_RATES: dict[str, tuple[float, float]] = {
    "modal": (round(0.0000131 * 3600, 6), round(0.00000222 * 3600, 6)),
}

PLATFORM_KINDS: dict[str, str] = {
    "aws": "cloud", "gcp": "cloud", "azure": "cloud", "lambda": "cloud", "modal": "serverless",
    "runpod": "cloud", "vast": "marketplace", "coreweave": "cloud", "nebius": "cloud", "paperspace": "cloud",
}

# README section 4 "Storage ($ per GB-month)": platform, item, usd_per_gb_month, free_gb, default, source, date, notes
# [, held: "running" = the rate while the machine runs, "stopped" = while the volume waits between runs]
_GIB_PER_GB = 1e9 / 2**30
_RUNPOD = "docs.runpod.io/pods/storage"
# docs.runpod.io states no date; a page dated 2026.06 quotes the same three rates (0.10 running, 0.20 stopped,
# 0.07 network volume): the date is that month's first day, a month-precision observation said in notes.
_RUNPOD_DATE = "2026-06-01"
_RUNPOD_DATE_NOTE = ("date: month of lzwjava.github.io/runpod-storage-tiers-explained-en (2026.06), which quotes "
                     "the same rates; docs.runpod.io states none")
_MODAL = "api-evangelist/modal"
_COREWEAVE = "api-evangelist/coreweave"
STORAGE_ROWS: list[tuple] = [
    ("runpod", "container disk", 0.10, 0, "false", _RUNPOD, _RUNPOD_DATE, _RUNPOD_DATE_NOTE),
    ("runpod", "volume disk (pod running)", 0.10, 0, "true", _RUNPOD, _RUNPOD_DATE,
     "0.20 while the pod is stopped; " + _RUNPOD_DATE_NOTE, "running"),
    ("runpod", "volume disk (pod stopped)", 0.20, 0, "false", _RUNPOD, _RUNPOD_DATE, _RUNPOD_DATE_NOTE, "stopped"),
    ("runpod", "network volume", 0.07, 0, "false", _RUNPOD, _RUNPOD_DATE,
     "0.05 above 1 TB; " + _RUNPOD_DATE_NOTE),
    ("modal", "volume storage above 1 TiB free", round(0.09 * _GIB_PER_GB, 6), round(2**40 / 1e9, 3), "true", _MODAL,
     "2026-05-08", "listed as 0.09 USD per GiB-month, converted to per GB; the first 1 TiB is free"),
    ("coreweave", "AI object storage (hot)", 0.06, 0, "false", _COREWEAVE, "2026-09-20", "egress and IOPS listed as free"),
    ("coreweave", "AI object storage (warm)", 0.03, 0, "false", _COREWEAVE, "2026-09-20", ""),
    ("coreweave", "AI object storage (cold)", 0.015, 0, "false", _COREWEAVE, "2026-09-20", ""),
    ("coreweave", "AI object storage (archive)", 0.0125, 0, "false", _COREWEAVE, "2026-09-20", ""),
    ("coreweave", "distributed file storage", 0.07, 0, "true", _COREWEAVE, "2026-09-20", "egress and IOPS listed as free"),
]

# Extra spellings of model names. At runtime names also match their hf_id, the hf_id without its org, and any
# spelling that differs only in case, spaces/dashes/underscores, or -hf/-instruct/-chat/-base/-it/-pt suffixes.
# Bare "mistral-7b" means v0.1 (the original release); v0.2 has v0.1's shapes.
MODEL_ALIASES: dict[str, tuple[str, ...]] = {
    "llama-2-7b": ("llama-7b-v2",),
    "llama-3-8b": ("meta-llama-3-8b",),
    "llama-3-70b": ("meta-llama-3-70b",),
    "llama-3.1-8b": ("meta-llama-3.1-8b",),
    "llama-3.1-70b": ("meta-llama-3.1-70b", "llama-3.3-70b"),
    "llama-3.1-405b": ("meta-llama-3.1-405b",),
    "mistral-7b-v0.1": ("mistral-7b", "mistral-7b-v0.2"),
    "mixtral-8x7b": ("mixtral-8x7b-v0.1",),
    "phi-3-mini-4k": ("phi-3-mini", "phi3-mini"),
    "phi-3-medium-4k": ("phi-3-medium", "phi3-medium"),
    "tinyllama-1.1b": ("tinyllama", "tinyllama-1.1b-chat-v1.0", "tinyllama-1.1b-chat"),
    "gpt-2-124m": ("gpt2", "gpt-2", "gpt2-small", "gpt2-124m"),
}

# Dated config sources (models_README.md, "Source keys"); a row takes the date of its first dated source.
MODEL_SOURCE_DATES: dict[str, str] = {"LITGPT": "2026-06-29", "MLC": "2026-07-23"}
