"""The cost/time Pareto front: options no other option beats on both dollars and hours."""

from __future__ import annotations

from collections.abc import Sequence


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """For each (usd, hours) point, whether it is Pareto-optimal (both minimised).

    A point is dominated when another is no worse on both axes and strictly better on one; equal points do not
    dominate each other, so duplicates of a front point are on the front too. O(n log n): sort by (usd, hours) and
    sweep, keeping the best hours seen among strictly cheaper points.
    """
    from itertools import groupby

    order = sorted(range(len(points)), key=lambda i: points[i])
    on_front = [False] * len(points)
    best_hours_cheaper = float("inf")  # best hours among points with strictly lower cost
    for _usd, grp in groupby(order, key=lambda i: points[i][0]):
        group = list(grp)  # same cost: only the fastest of them can survive
        group_best = points[group[0]][1]  # sorted by (usd, hours)
        for k in group:
            on_front[k] = points[k][1] == group_best and group_best < best_hours_cheaper
        best_hours_cheaper = min(best_hours_cheaper, group_best)
    return on_front
