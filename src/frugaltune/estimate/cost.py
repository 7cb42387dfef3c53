"""Billed time and dollars under a platform's billing rules.

Billing rules come from the catalog's offers (their billing columns, from each provider's rules): a billing increment
(per second, per minute for Lambda, hourly list rates), a minimum billed duration per launch, and whole-instance
rental (an 8-GPU node is bought whole even when the job uses fewer GPUs).
"""

from __future__ import annotations

import math

from frugaltune.catalog.types import Offer
from frugaltune.record import record

HOURS_PER_MONTH = 730.0  # 8760 h / 12: the convention cloud providers use for monthly storage prices
CHARS_PER_TOKEN = 4.0  # English text averages ~4 characters per BPE token (OpenAI tokenizer documentation)


@record(frozen=True)
class Billing:
    instances: int
    billed_gpus: int
    billed_hours: float  # wall time billed per instance
    billed_gpu_hours: float


def instances_needed(num_gpus: int, offer: Offer) -> int:
    return math.ceil(num_gpus / offer.gpus_per_instance)


def billed_gpus(num_gpus: int, offer: Offer) -> int:
    """GPUs paid for: whole instances when the offer is rented whole, else exactly the GPUs used."""
    if offer.whole_instance:
        return instances_needed(num_gpus, offer) * offer.gpus_per_instance
    return num_gpus


def billed_seconds(seconds: float, increment_s: int, minimum_s: int) -> float:
    """Round a run's duration up to the billing increment, and to at least the minimum."""
    increment = max(int(increment_s), 1)
    rounded = math.ceil(seconds / increment - 1e-9) * increment
    return float(max(rounded, minimum_s))


def billed_hours(hours: float, offer: Offer, num_gpus: int) -> Billing:
    """Billed wall hours and GPU-hours for a run of `hours` on `num_gpus` GPUs of `offer`."""
    wall_s = billed_seconds(hours * 3600.0, offer.billing_increment_s, offer.billing_minimum_s)
    gpus = billed_gpus(num_gpus, offer)
    return Billing(instances_needed(num_gpus, offer), gpus, wall_s / 3600.0, wall_s / 3600.0 * gpus)


def compute_usd(billing: Billing, usd_per_gpu_hour: float) -> float:
    return billing.billed_gpu_hours * usd_per_gpu_hour


def dataset_bytes(tokens_per_epoch: float) -> float:
    """Raw text size of a dataset from its token count (CHARS_PER_TOKEN bytes per token, UTF-8 English)."""
    return tokens_per_epoch * CHARS_PER_TOKEN


def storage_usd(stored_bytes: float, hours: float, usd_per_gb_month: float) -> float:
    """Persistent storage for the run's duration: GB x $/GB-month x months."""
    return stored_bytes / 1e9 * usd_per_gb_month * hours / HOURS_PER_MONTH
