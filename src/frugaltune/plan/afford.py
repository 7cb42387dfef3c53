"""`afford`: the reverse budget. For a budget (per run or per month), what can be fine-tuned: for each model size x
method, how many training tokens the budget buys and on which offer.

Cost grows with tokens as an affine function on one offer, cost(T) ~ fixed + marginal x T (fixed: billing minimum
and increments, storage of the model; marginal: price / throughput), so two estimates per offer give the tokens a
budget buys, T = (budget - fixed) / marginal, checked with a third estimate at T (spot's interruption cost grows
faster than linearly on long jobs: T is then scaled back until the estimate is within budget). The offers tried are
the `compare` ranking's cheapest few for a reference job; per month, a job must also finish within the month.
"""

from __future__ import annotations

import math

from frugaltune.record import field, record

from frugaltune.estimate.cost import HOURS_PER_MONTH
from frugaltune.estimate.records import Estimate, Hardware, Job
from frugaltune.plan.search import (Candidate, Filters, _default_estimator, compare_job, enumerate_candidates,
                                    total_usd, wall_hours)

# One model per size class, 0.5B to 70B (catalog names); `models=` replaces them.
DEFAULT_MODELS = ("qwen2.5-0.5b", "llama-3.2-1b", "qwen2.5-3b", "llama-3.1-8b", "qwen2.5-14b", "qwen2.5-32b",
                  "llama-3.1-70b")
METHODS = ("qlora", "lora", "full")
REFERENCE_TOKENS = 10_000_000  # the job the offers are ranked on (20k samples of 500 tokens, one epoch)
OFFERS_TRIED = 4  # cheapest distinct offers per model x method whose affordable tokens are computed
TOKENS_PER_SAMPLE = 500.0  # how the answer is also told in samples (the estimate's default sample)


@record
class Affordable:
    """One model x method: the most training tokens the budget buys, where, in how long, for how much."""

    model: str
    params: int
    method: str
    tokens: int  # trained tokens (dataset tokens x epochs); 0 when nothing fits the budget
    candidate: Candidate | None
    estimate: Estimate | None  # the job of `tokens` tokens on the candidate
    reason: str | None = None  # why none: does not fit any GPU allowed, or the fixed costs exceed the budget

    def to_json(self) -> dict:
        c, e = self.candidate, self.estimate
        return {"model": self.model, "params": self.params, "method": self.method, "tokens": self.tokens,
                "samples_of_500_tokens": int(self.tokens / TOKENS_PER_SAMPLE),
                "offer": None if c is None else {"gpu": c.offer.gpu, "num_gpus": c.num_gpus,
                                                 "platform": c.offer.platform, "instance": c.offer.instance,
                                                 "region": c.offer.region, "pricing": c.pricing},
                "hours": None if e is None else wall_hours(e), "total_cost": None if e is None else e.cost_breakdown.total_cost,
                "peak_gb_per_gpu": None if e is None else e.memory.peak_gb_per_gpu, "reason": self.reason}


@record
class Affordability:
    budget_usd: float
    per: str  # "run" | "month"
    rows: list[Affordable]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"budget_usd": self.budget_usd, "per": self.per, "rows": [r.to_json() for r in self.rows],
                "notes": self.notes, "schema_version": 1}


def afford(models: list, budget_usd: float, catalog, flt: Filters, *, per: str = "run", base: Job | None = None,
           estimator=None) -> Affordability:
    """Every model (ModelArch) x method in METHODS: the tokens `budget_usd` buys (see the module docstring)."""
    from frugaltune.estimate.measured import frozen

    estimator = estimator or _default_estimator
    offers = enumerate_candidates(list(catalog.offers_of_gpus(flt.gpus)), flt)  # the same for every search
    rows = []
    with frozen():  # the user's measured runs are read once for the 21 searches
        for arch in models:
            for method in METHODS:
                job = (base or Job(model=arch)).with_(model=arch, method=method, tokens_per_sample=TOKENS_PER_SAMPLE,
                                                      dataset_size=int(REFERENCE_TOKENS / TOKENS_PER_SAMPLE), epochs=1)
                rows.append(_best_row(job, budget_usd, per, catalog, flt, estimator, offers))
    notes = [f"tokens are trained tokens (samples x tokens per sample x epochs) at sequence length "
             f"{(base or Job(model=models[0])).seq_len} with packing; one run" if per == "run" else
             f"tokens a month, within the month's {HOURS_PER_MONTH:.0f} hours"]
    return Affordability(budget_usd, per, rows, notes)


def _best_row(job: Job, budget_usd: float, per: str, catalog, flt: Filters, estimator, offers) -> Affordable:
    cmp = compare_job(job, catalog, flt, estimator=estimator, top=OFFERS_TRIED, distinct=_offer_key,
                      lean=True, candidates=offers)  # only the ranked options' dollars, hours and jobs are read
    name, params = job.model.name, _params(job)
    if not cmp.ranked:
        return Affordable(name, params, job.method, 0, None, None, "does not fit any GPU allowed")
    best = None  # (tokens, candidate, job, hardware): the first offer that buys the most tokens
    for cand, est in _distinct(cmp.ranked)[:OFFERS_TRIED]:
        hw = Hardware(gpu=catalog.gpu(cand.offer.gpu), num_gpus=cand.num_gpus, offer=cand.offer, pricing=cand.pricing)
        fitted = job.with_(num_gpus=cand.num_gpus, zero_stage=est.job.zero_stage, precision=est.job.precision)
        tokens = _tokens_for(fitted, hw, budget_usd, per, catalog, estimator, beat=best[0] if best else 0)
        if tokens > 0 and (best is None or tokens > best[0]):
            best = (tokens, cand, fitted, hw)
    if best is None:
        cheapest = min(total_usd(e) for _c, e in cmp.ranked)
        return Affordable(name, params, job.method, 0, None, None,
                          f"even a short run costs more than the budget (the fixed costs alone; {REFERENCE_TOKENS:,} "
                          f"tokens cost ${cheapest:,.2f})")
    tokens, cand, fitted, hw = best
    return Affordable(name, params, job.method, tokens, cand, estimator(_sized(fitted, tokens), hw, catalog))


def _offer_key(cand: Candidate) -> tuple:
    return cand.offer.platform, cand.offer.instance, cand.num_gpus, cand.pricing


def _distinct(ranked: list) -> list:
    seen, out = set(), []
    for cand, est in ranked:
        key = _offer_key(cand)
        if key not in seen:
            seen.add(key)
            out.append((cand, est))
    return out


def _tokens_for(job: Job, hw: Hardware, budget_usd: float, per: str, catalog, estimator, beat: int = 0) -> int:
    """The most tokens `budget_usd` buys on `hw`; 0 when even the smallest job costs more, or when it cannot buy
    more than `beat` tokens (the tokens only shrink from the first guess on: no need to check them)."""
    def cost(tokens: float) -> tuple[float, float]:  # (total dollars, wall hours) of the job of `tokens` tokens
        if estimator is _default_estimator:
            usd, hours = cost_and_hours(_sized(job, tokens), hw, catalog)
            return math.inf if usd is None else float(usd), hours
        est = estimator(_sized(job, tokens), hw, catalog)
        return total_usd(est), wall_hours(est)

    t1, t2 = REFERENCE_TOKENS / 10, REFERENCE_TOKENS * 10
    (usd1, _hours1), (usd2, hours2) = cost(t1), cost(t2)
    marginal = (usd2 - usd1) / (t2 - t1)
    fixed = usd1 - marginal * t1
    if marginal <= 0 or fixed >= budget_usd:
        return 0
    tokens = (budget_usd - fixed) / marginal
    if per == "month":  # one machine, one month of wall time
        tokens = min(tokens, t2 * HOURS_PER_MONTH / max(hours2, 1e-9))
    if _round_down(tokens) <= beat:
        return 0
    for _ in range(4):  # non-linear costs (spot interruptions): scale back until within budget
        usd, hours = cost(tokens)
        if usd <= budget_usd * 1.0001 and (per == "run" or hours <= HOURS_PER_MONTH):
            return _round_down(tokens)
        tokens *= min(budget_usd / usd, HOURS_PER_MONTH / hours if per == "month" else 1) * 0.98
    return 0


def _sized(job: Job, tokens: float) -> Job:
    return job.with_(dataset_size=max(1, int(tokens / TOKENS_PER_SAMPLE)))


def _round_down(tokens: float) -> int:
    """Whole samples, two significant figures, rounded down (so the answer stays within the budget)."""
    samples = int(tokens / TOKENS_PER_SAMPLE)
    if samples >= 100:
        scale = 10 ** (len(str(samples)) - 2)
        samples = samples // scale * scale
    return int(samples * TOKENS_PER_SAMPLE)


def cost_and_hours(job: Job, hw: Hardware, catalog) -> tuple[float | None, float]:
    from frugaltune.estimate.probe import cost_and_hours as priced

    return priced(job, hw, catalog=catalog)


def _params(job: Job) -> int:
    from frugaltune.estimate.shapes import total_params

    return total_params(job.model)
