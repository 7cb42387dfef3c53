"""Which engine runs a planned job, asked of the runner's own support table (train/engines/support.py), so the
planner never proposes a combination of ZeRO stage, CPU offload, optimizer and method that no engine executes
(8-bit AdamW under ZeRO, offload without sharding, 8-bit QLoRA under FSDP, ...).

A planned job maps to an engine the way `support.plan_section` writes the config's `distributed:` section: ZeRO
stage 0 is plain data parallel (ddp), any sharding or offload runs on DeepSpeed, QLoRA at stage 3 on FSDP.
"""

from __future__ import annotations

from frugaltune.estimate.records import Job


def _support():
    if not _SUPPORT:  # looked up once per process: a planner asks thousands of times
        try:
            from frugaltune.train.engines import support
        except ImportError:  # a build without the engine table: nothing to ask, every combination passes
            support = None
        _SUPPORT.append(support if hasattr(support, "plan_section") else None)
    return _SUPPORT[0]


_SUPPORT: list = []


def engine_problem(job: Job) -> str | None:
    """Why no engine runs `job`'s combination (one sentence), or None when one does."""
    return _section(job)[1]


def as_run(job: Job) -> Job:
    """`job` as the engine runs it: the ZeRO stage of its `distributed:` section (an offload priced at stage 0 runs
    as DeepSpeed ZeRO-Offload at stage 2, for one), so what is estimated is what runs. Unchanged when no engine
    table is there or no engine runs it (`engine_problem` says why)."""
    section = _section(job)[0]
    if section is None:
        return job
    stage = section.get("zero_stage", 0)  # ddp sections carry none: stage 0
    return job if stage == job.zero_stage else job.with_(zero_stage=stage)


def distributed_section(job: Job) -> dict | None:
    """The config's `distributed:` section for `job` (None when the runner has no engine table).

    Raises:
        ValueError: no engine runs the combination (the planner filters these out first).
    """
    support = _support()
    if support is None:
        return None
    return support.plan_section(job.num_gpus, job.zero_stage, job.cpu_offload, job.optimizer, job.method)


def _section(job: Job) -> tuple[dict | None, str | None]:
    """(the `distributed:` section, None) or (None, why no engine runs it), looked up once per combination of the
    table's inputs (a planner asks for every ZeRO stage of every GPU count). Read-only: `distributed_section`
    gives a caller its own copy."""
    key = (job.num_gpus, job.zero_stage, job.cpu_offload, job.optimizer, job.method)  # plan_section's arguments
    hit = _SECTIONS.get(key)
    if hit is None:
        try:
            hit = (distributed_section(job), None)
        except ValueError as err:
            hit = (None, str(err))
        if len(_SECTIONS) >= 1024:
            _SECTIONS.clear()
        _SECTIONS[key] = hit
    return hit


_SECTIONS: dict[tuple, tuple] = {}
