"""Spot prices per zone, read from the notes of the reference price rows (an offline helper of
build_from_reference.py, never imported at runtime).

The reference gives one spot figure per row, the cheapest availability zone of the region, and writes what it saw
across zones in the row's notes ("spot 0.1901-0.1915 across 3 AZs", "instance spot 2.4655 (use1-az1) else
7.8799-8.1915", "only use1-az6 spot row read"). One zone can be far below the rest (the p4d row: $0.31 per GPU-hour in
one zone, about $1 in the others), so ranking on it promises a price most launches will not get. From the notes:

- `median`: the median of the zone prices the notes list (a range lo-hi counts as its two ends, so its median is
  the midpoint: the source gives only the range); the row's own figure when the notes list none;
- `cheapest` and its `zone` (when named): the row's figure, the cheapest zone seen;
- `zones`: how many zones the figures cover, when the notes say;
- `scarce`: why spot looks hard to get (seen in one zone only, or some zones of the region offer none), or "".
Per-instance figures ("instance spot") are divided by the GPUs per instance.
"""

from __future__ import annotations

import re
from statistics import median

NUM = r"(\d+(?:\.\d+)?)"


def spot_zones(notes: str, cheapest: float, gpus_per_instance: int) -> dict:
    """{median, cheapest, zone, zones, scarce} per GPU-hour for one reference row (see the module docstring)."""
    own = _own_region(notes)
    per = gpus_per_instance if "instance spot" in own else 1
    values, zone, zones = _zone_values(own)
    scarce = _scarcity(notes)
    if values:
        values = [v / per for v in values]
    mid = median(values) if values else cheapest
    return {"median": round(max(mid, cheapest), 6), "cheapest": cheapest, "zone": zone, "zones": zones,
            "scarce": scarce}


def _own_region(notes: str) -> str:
    """The notes without the clauses about another region's spot prices ("us-east-2 spot 0.5261-0.5461")."""
    parts = [p for p in notes.split(";") if not re.match(r"\s*[a-z]+-[a-z]+-\d spot\b", p)]
    return ";".join(parts)


def _zone_values(clause: str) -> tuple[list[float], str, int | None]:
    """(zone prices listed, the cheapest zone's name, the number of zones) from one note clause."""
    m = re.search(rf"spot {NUM} \(([\w-]+)\) else {NUM}-{NUM}", clause)
    if m:
        return [float(m.group(1)), float(m.group(3)), float(m.group(4))], m.group(2), None
    m = re.search(rf"only ([\w/-]+) rows read \({NUM}-{NUM}\)", clause)
    if m:
        return [float(m.group(2)), float(m.group(3))], "", len(m.group(1).split("/"))
    m = re.search(rf"spot {NUM}-{NUM}", clause)
    if m:
        n = re.search(r"(\d+) AZs(?! show)", clause)
        return [float(m.group(1)), float(m.group(2))], "", int(n.group(1)) if n else None
    m = re.search(r"only ([\w-]+) spot row read|spot from ([\w-]+)", clause)
    if m:
        return [], m.group(1) or m.group(2), 1
    return [], "", None


def _scarcity(notes: str) -> str:
    if re.search(r"only [\w-]+ spot row read|spot from [\w-]+;", notes):
        return "spot seen in one zone only (the others unknown or without spot)"
    if re.search(r"AZs show spot=on-demand", notes):
        return "some zones of the region offer no spot"
    return ""
