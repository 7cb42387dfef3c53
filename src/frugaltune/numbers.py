"""Tiny numeric helpers for the fast estimate path (the `statistics` module costs ~10 ms to import)."""

from __future__ import annotations


def median(values) -> float:
    """Median of a non-empty sequence of numbers."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of an empty sequence")
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0
