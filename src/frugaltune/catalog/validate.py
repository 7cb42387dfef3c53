"""Checks on catalog rows (shipped rows are tested once; user rows are checked as they are read)."""

from __future__ import annotations

from frugaltune.catalog.types import GpuSpec, ModelArch, Offer, StoragePrice
from frugaltune.errors import CatalogError

SEGMENTS = ("datacenter", "workstation", "consumer", "unknown")
KINDS = ("cloud", "serverless", "marketplace", "owned")
MLP_TYPES = ("gated", "plain")
NORM_TYPES = ("rmsnorm", "layernorm")


def _fail(where: str, column: str, message: str, fix: str) -> None:
    raise CatalogError(f"{where}: column '{column}': {message}", fix=fix)


def _choice(where: str, column: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        _fail(where, column, f"{value!r} is not one of {', '.join(choices)}.", f"use one of {', '.join(choices)}.")


# Physical sanity ceilings per column (a value past one is a typo or a unit mix-up: GB for TB, cents for dollars).
CEILINGS = {
    "memory_gb": 10_000, "memory_bandwidth_gb_per_s": 1e6, "bf16_tflops": 1e6, "fp16_tflops": 1e6,
    "fp32_tflops": 1e6, "tf32_tflops": 1e6, "fp8_tflops": 1e6, "fp16_acc16_tflops": 1e6, "tdp_watts": 1e5,
    "price_usd": 1e7, "gpus_per_instance": 1024, "billing_increment_s": 31 * 86400, "billing_minimum_s": 31 * 86400,
    "on_demand_usd_per_gpu_hour": 1000, "spot_usd_per_gpu_hour": 1000, "cpu_usd_per_core_hour": 100,
    "memory_usd_per_gib_hour": 100, "usd_per_gb_month": 1000, "free_gb": 1e9, "num_layers": 10_000,
    "hidden_size": 1_000_000, "intermediate_size": 10_000_000, "num_heads": 100_000, "num_kv_heads": 100_000,
    "head_dim": 100_000, "vocab_size": 100_000_000, "num_experts": 100_000, "experts_per_token": 100_000,
    "norms_per_layer": 100, "max_position_embeddings": 1e9,
}


def _positive(where: str, row: object, columns: tuple[str, ...], allow_zero: bool = False) -> None:
    for column in columns:
        value = getattr(row, column)
        if value is None:
            continue
        if value != value or value < 0 or (value == 0 and not allow_zero):
            bound = ">= 0" if allow_zero else "> 0"
            _fail(where, column, f"{value!r} must be {bound}.",
                  f"put a number {bound} in column '{column}' (or leave the cell empty to keep the shipped value).")
        if value > CEILINGS.get(column, float("inf")):
            _fail(where, column, f"{value!r} is more than {CEILINGS[column]:g}, past any real figure.",
                  "check the number and its unit (the column name says the unit).")


def check_gpu(row: GpuSpec, where: str) -> None:
    _choice(where, "segment", row.segment, SEGMENTS)
    _positive(where, row, ("memory_gb", "memory_bandwidth_gb_per_s", "bf16_tflops", "fp16_tflops", "fp32_tflops",
                           "tf32_tflops", "fp8_tflops", "tdp_watts", "price_usd", "fp16_acc16_tflops"))


def check_offer(row: Offer, where: str) -> None:
    _choice(where, "kind", row.kind, KINDS)
    _positive(where, row, ("gpus_per_instance", "billing_increment_s"))
    _positive(where, row, ("on_demand_usd_per_gpu_hour", "spot_usd_per_gpu_hour", "billing_minimum_s",
                           "cpu_usd_per_core_hour", "memory_usd_per_gib_hour"), allow_zero=True)
    if row.on_demand_usd_per_gpu_hour is None and row.spot_usd_per_gpu_hour is None:
        _fail(where, "on_demand_usd_per_gpu_hour", "an offer needs an on-demand or a spot price.",
              "fill on_demand_usd_per_gpu_hour and/or spot_usd_per_gpu_hour.")


def check_model(row: ModelArch, where: str) -> None:
    _choice(where, "mlp_type", row.mlp_type, MLP_TYPES)
    _choice(where, "norm_type", row.norm_type, NORM_TYPES)
    _positive(where, row, ("num_layers", "hidden_size", "intermediate_size", "num_heads", "num_kv_heads",
                           "head_dim", "vocab_size"))
    _positive(where, row, ("num_experts", "experts_per_token", "norms_per_layer", "max_position_embeddings"),
              allow_zero=True)
    if row.num_heads % row.num_kv_heads:
        _fail(where, "num_kv_heads", f"{row.num_heads} heads are not a multiple of {row.num_kv_heads} KV heads.",
              "check num_heads and num_kv_heads against the model's config.json.")


def check_storage(row: StoragePrice, where: str) -> None:
    _positive(where, row, ("usd_per_gb_month", "free_gb"), allow_zero=True)


CHECKS = {GpuSpec: check_gpu, Offer: check_offer, ModelArch: check_model, StoragePrice: check_storage}
