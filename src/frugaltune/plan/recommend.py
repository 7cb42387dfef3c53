"""`recommend` and `plan`: method (method.py) -> where to run it (search.py) -> settings that fit (settings.py) ->
a training config (train/config.py's RunConfig, the one schema) whose estimate fits the GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from frugaltune.errors import InfeasiblePlanError
from frugaltune.estimate.records import Estimate, Hardware, Job
from frugaltune.plan.method import MethodChoice, Situation, decide
from frugaltune.plan.search import Candidate, total_usd
from frugaltune.plan.settings import DEFAULT_GLOBAL_BATCH, DEFAULT_SAFETY_MARGIN, Settings, pick_settings

TOP_HARDWARE = 3  # settings are tuned on this many of the cheapest hardware options, then the cheapest result wins
# Peak learning rates by method: QLoRA paper (Dettmers et al. 2023, appendix B) uses 2e-4 for 7B/13B adapters;
# Stanford Alpaca (tatsu-lab/stanford_alpaca README) fully fine-tunes LLaMA-7B at 2e-5.
LEARNING_RATE = {"lora": 2e-4, "qlora": 2e-4, "full": 2e-5}


@dataclass
class Recommendation:
    choice: MethodChoice
    candidate: Candidate | None  # None: the user's own GPU, not a catalog offer
    settings: Settings
    estimate: Estimate  # the final job on the chosen hardware and pricing
    notes: list[str] = field(default_factory=list)

    @property
    def job(self) -> Job:
        return self.settings.job

    def to_json(self) -> dict:
        c = self.candidate
        return {"method": self.choice.method, "why": self.choice.why, "then": self.choice.then,
                "tradeoffs": self.choice.matrix, "settings": self.settings.to_json(),
                "hardware": None if c is None else {"gpu": c.offer.gpu, "num_gpus": c.num_gpus,
                                                     "platform": c.offer.platform, "instance": c.offer.instance,
                                                     "region": c.offer.region, "pricing": c.pricing},
                "estimate": self.estimate.to_json(), "notes": self.notes, "schema_version": 1}


def _hardware_options(choice: MethodChoice, budget_usd: float | None) -> list[Candidate]:
    """Cheapest distinct (GPU, count, platform, pricing) options for the chosen method, within budget first."""
    cmp = choice.options.get(choice.method)
    if cmp is None or not cmp.ranked:
        return []
    ranked = sorted(cmp.ranked, key=lambda ce: total_usd(ce[1]))
    seen, out = set(), []
    for cand, _est in ranked:
        key = (cand.offer.gpu, cand.num_gpus, cand.offer.platform, cand.pricing)
        if key not in seen:
            seen.add(key)
            out.append(cand)
    return out[:TOP_HARDWARE]


def recommend(job: Job, sit: Situation, catalog, *, target_global_batch: int = DEFAULT_GLOBAL_BATCH,
              safety_margin: float = DEFAULT_SAFETY_MARGIN, estimator=None) -> Recommendation:
    """Choose the method, the hardware and the settings for `job` in situation `sit`.

    Raises:
        InfeasiblePlanError: no hardware the user allows can run the chosen method at any setting.
    """
    from frugaltune.plan.search import _default_estimator

    estimator = estimator or _default_estimator
    choice = decide(job, sit, catalog, estimator=estimator, margin=safety_margin)
    job = job.with_(method=choice.method, zero_stage=choice.zero_stage)
    results = []
    for cand in _hardware_options(choice, sit.budget_usd):
        hw = Hardware(gpu=catalog.gpu(cand.offer.gpu), num_gpus=cand.num_gpus, offer=cand.offer, pricing=cand.pricing)
        try:
            st = pick_settings(job, hw, catalog, target_global_batch=target_global_batch,
                               safety_margin=safety_margin, estimator=estimator)
        except InfeasiblePlanError:
            continue
        results.append((cand, st))
    if not results and sit.gpu:  # the user's own GPU with no catalog offer, or nothing priced fits
        hw = Hardware(gpu=catalog.gpu(sit.gpu), num_gpus=sit.num_gpus)
        st = pick_settings(job, hw, catalog, target_global_batch=target_global_batch, safety_margin=safety_margin,
                           estimator=estimator)
        return Recommendation(choice, None, st, st.estimate, ["no priced offer: settings for your own GPU"])
    if not results:
        raise InfeasiblePlanError(f"no hardware option runs {choice.method} fine-tuning of {job.model.name} "
                                  f"within a {safety_margin:.0%} memory margin.",
                                  fix="try --method qlora, a shorter --seq-len, or allow more GPUs (--max-gpus 8).")
    cand, st = min(results, key=lambda cs: total_usd(cs[1].estimate))
    usd = total_usd(st.estimate)
    if sit.budget_usd is not None and usd > sit.budget_usd:
        raise InfeasiblePlanError(
            f"no plan meets the ${sit.budget_usd:,.2f} budget: the cheapest is {choice.method} on "
            f"{cand.num_gpus}x {cand.offer.gpu} ({cand.offer.platform}, {cand.pricing}) at ${usd:,.2f}.",
            fix=f"raise --budget-usd to at least {usd:.2f}, or train on fewer tokens (--epochs, --dataset-size, "
                "--seq-len).")
    return Recommendation(choice, cand, st, st.estimate, [])
