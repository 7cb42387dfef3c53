"""Branch and bound for planners that need only the top of a cost ranking (recommend, budget, afford).

`compare` estimates every candidate because it shows them all. A planner that reads only the cheapest option, or the
first few distinct ones, need not price an offer whose dollars cannot come near them. A lower bound on a candidate's
expected dollars costs one multiplication once its (GPU, count) has been probed:

    total_usd >= hours x num_gpus x usd_per_gpu_hour

because every term the estimator adds is non-negative: the billed time rounds hours + setup up to the billing
increment and minimum (estimate/cost.py), whole-instance offers bill at least the GPUs used, spot's expected hours
add interruptions and restarts to the fault-free hours (estimate/spot.py: rate >= 0), and storage dollars are
>= 0. Candidates are estimated in the order of their bound; the search stops when the next bound exceeds the
`top`-th distinct cheapest dollars found (and the near-tie threshold of `search.as_cheap`, so every option about as
cheap as the cheapest is still ranked by simplicity). The options it returns, their order and their numbers are
those of the exhaustive search (tests/plan/test_plan_prune.py compares both).
"""

from __future__ import annotations

import math

from frugaltune.plan.search import NEAR_TIE, NEAR_TIE_USD, total_usd, wall_hours

ROUNDING_USD = 1e-4  # the estimate rounds dollars to 4 decimals: a bound this far below is still a bound


def cost_floor(cand, hours: float) -> float:
    """A lower bound on the candidate's expected total dollars (module docstring)."""
    usd = cand.offer.usd_per_gpu_hour(cand.pricing) or 0.0
    return hours * cand.num_gpus * usd * (1.0 - 1e-9) - ROUNDING_USD


class Cutoff:
    """The dollars above which an option cannot be among the first `top` distinct options of the cost ranking
    (search.prefer_simple), given the options estimated so far; it only decreases as more are estimated."""

    def __init__(self, top: int, distinct, flt) -> None:
        self.top, self.distinct, self.flt = top, distinct, flt
        self.best: dict = {}  # distinct key -> its cheapest dollars so far (options within the user's limits)

    def add(self, cand, est) -> None:
        usd, hours = total_usd(est), wall_hours(est)
        if self.flt.budget_usd is not None and usd > self.flt.budget_usd:
            return  # apply_limits rejects it: it never enters the ranking
        if self.flt.max_hours is not None and hours > self.flt.max_hours:
            return
        key = self.distinct(cand) if self.distinct else id(cand)
        self.best[key] = min(usd, self.best.get(key, math.inf))

    def usd(self) -> float:
        if len(self.best) < self.top:
            return math.inf
        costs = sorted(self.best.values())
        near = costs[0] * (1.0 + NEAR_TIE) + NEAR_TIE_USD
        return max(costs[self.top - 1], near)


def score_top(cands: list, fits: dict, score_one, top: int, distinct, flt) -> tuple[list, list]:
    """Estimate candidates cheapest bound first, until no unestimated one can reach the top (module docstring).
    `fits` maps (GPU, count) to search._Fit (with its probed hours); `score_one` is search._score_one."""
    ok, rejected, bounded = [], [], []
    for cand in cands:
        fit = fits[cand.offer.gpu, cand.num_gpus]
        if fit.job is None:
            score_one(cand, fit, ok, rejected)
        else:
            bounded.append((cost_floor(cand, fit.hours), cand))
    bounded.sort(key=lambda fc: fc[0])
    cutoff = Cutoff(top, distinct, flt)
    for floor, cand in bounded:
        if floor > cutoff.usd():
            break
        before = len(ok)
        score_one(cand, fits[cand.offer.gpu, cand.num_gpus], ok, rejected)
        if len(ok) > before:
            cutoff.add(*ok[-1])
    return _in_order(ok, cands), rejected


def _in_order(scored: list, cands: list) -> list:
    """The estimated options in the candidates' order (as the exhaustive search lists them before ranking)."""
    position = {id(c): i for i, c in enumerate(cands)}
    return sorted(scored, key=lambda ce: position[id(ce[0])])
