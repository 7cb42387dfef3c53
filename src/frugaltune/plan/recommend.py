"""`recommend` and `plan`: method (method.py) -> where to run it (search.py) -> settings that fit (settings.py) ->
a training config (train/config.py's RunConfig, the one schema) whose estimate fits the GPU.
"""

from __future__ import annotations

from frugaltune.record import field, record

from frugaltune.errors import InfeasiblePlanError
from frugaltune.estimate.records import Estimate, Hardware, Job
from frugaltune.plan.method import TOP_HARDWARE, Best, MethodChoice, Situation, decide, matrix_row, option_label
from frugaltune.plan.search import Candidate, hardware_key, prefer_simple, total_usd
from frugaltune.plan.settings import DEFAULT_GLOBAL_BATCH, DEFAULT_SAFETY_MARGIN, Settings, pick_settings

# Peak learning rates by method: QLoRA paper (Dettmers et al. 2023, appendix B) uses 2e-4 for 7B/13B adapters;
# Stanford Alpaca (tatsu-lab/stanford_alpaca README) fully fine-tunes LLaMA-7B at 2e-5.
LEARNING_RATE = {"lora": 2e-4, "qlora": 2e-4, "full": 2e-5}


@record
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


def _hardware_options(choice: MethodChoice, cmp=None, skip: int = 0) -> list[Candidate]:
    """The TOP_HARDWARE best distinct (GPU, count, platform, pricing) options for the chosen method, in the
    comparison's order (cheapest first, the simplest first among the about-as-cheap), after the first `skip`."""
    cmp = cmp if cmp is not None else choice.options.get(choice.method)
    if cmp is None or not cmp.ranked:
        return []
    seen, out = set(), []
    for cand, _est in cmp.ranked:
        key = hardware_key(cand)
        if key not in seen:
            seen.add(key)
            out.append(cand)
    return out[skip:skip + TOP_HARDWARE]


# When none of the TOP_HARDWARE cheapest options has settings that fit within the margin (the comparison ranks them
# at their lightest settings, without it), recommend tries the next ones, up to this many in all.
MAX_HARDWARE_TRIED = 4 * TOP_HARDWARE


def _tuned(job: Job, options: list[Candidate], catalog, tune: dict) -> list[tuple[Candidate, Settings]]:
    """(option, settings) for each option that has settings that fit within the margin (pick_settings)."""
    out = []
    for cand in options:
        hw = Hardware(gpu=catalog.gpu(cand.offer.gpu), num_gpus=cand.num_gpus, offer=cand.offer, pricing=cand.pricing)
        try:
            out.append((cand, pick_settings(job, hw, catalog, **tune)))
        except InfeasiblePlanError:
            continue
    return out


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
    tune = {"target_global_batch": target_global_batch, "safety_margin": safety_margin, "estimator": estimator}
    if sit.owned:
        return _on_own_machine(job, sit, choice, catalog, tune)
    results = _tuned(job, _hardware_options(choice), catalog, tune)
    tried = TOP_HARDWARE
    while not results and tried < MAX_HARDWARE_TRIED:
        from frugaltune.plan.method import more_options

        wider = more_options(job, sit, catalog, estimator, choice.method, tried + TOP_HARDWARE)
        options = _hardware_options(choice, wider, skip=tried)
        if not options:
            break
        results = _tuned(job, options, catalog, tune)
        tried += TOP_HARDWARE
    if not results:
        raise InfeasiblePlanError(f"no hardware option runs {choice.method} fine-tuning of {job.model.name} "
                                  f"within a {safety_margin:.0%} memory margin.",
                                  fix="try --method qlora, a shorter --seq-len, or allow more GPUs (--max-gpus 8).")
    ranked = prefer_simple([(cand, st.estimate) for cand, st in results])
    cand = ranked[0][0]
    st = next(s for c, s in results if c is cand)
    usd = total_usd(st.estimate)
    if sit.budget_usd is not None and usd > sit.budget_usd:
        raise InfeasiblePlanError(
            f"no plan meets the ${sit.budget_usd:,.2f} budget: the cheapest is {choice.method} on "
            f"{cand.num_gpus}x {cand.offer.gpu} ({cand.offer.platform}, {cand.pricing}) at ${usd:,.2f}.",
            fix=f"raise --budget-usd to at least {usd:.2f}, or train on fewer tokens (--epochs, --dataset-size, "
                "--seq-len).")
    _show_final_pick(choice, Best(option_label(cand), st.estimate, usd))
    return Recommendation(choice, cand, st, st.estimate, [])


def _on_own_machine(job: Job, sit: Situation, choice: MethodChoice, catalog, tune: dict) -> Recommendation:
    """Settings for the user's own `num_gpus` x `gpu`: estimated, not priced."""
    hw = Hardware(gpu=catalog.gpu(sit.gpu), num_gpus=sit.num_gpus)
    st = pick_settings(job, hw, catalog, **tune)
    _show_final_pick(choice, Best(f"{sit.num_gpus}x {hw.gpu.name} (yours)", st.estimate, None))
    return Recommendation(choice, None, st, st.estimate, [
        f"on your own {sit.num_gpus}x {hw.gpu.name}: not priced (pass --rent to compare rented offers)"])


def _show_final_pick(choice: MethodChoice, best: Best) -> None:
    """The trade-off matrix's row of the chosen method names the machine and settings of the recommendation."""
    choice.matrix = [matrix_row(choice.method, best) if row["method"] == choice.method else row
                     for row in choice.matrix]
