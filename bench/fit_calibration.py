"""Fit the estimator's physical coefficients on the published measurements, measure its out-of-sample error, and
write the coefficients and the 80 % bands the product ships.

Data: bench/data/measurements_reference.csv (bench/calibration_rows.py) and bench/data/measurements_fit.csv
(bench/measurement_rows.py). bench/data/measurements_heldout.csv and out_of_sample.csv are never fit on: they are
only scored, with the final coefficients.

Objective, per metric (memory, tokens/s): over (source, method) groups weighted by sqrt(rows), the median
|ln(measured / estimated)| plus half its 80th percentile; OOM rows predicted to fit cost 0.005 each.
Coordinate descent over bounded log-spaced grids. Every coefficient is a property of the method, the GPU class, the
kernel class or the software stack (estimate/calibration.py); none belongs to a source.

Leave-one-source-out (LOSO): for each source, fit on all the others and score that source. Those residuals are the
headline error and the bands (catalog/data/estimator_bands.json; memory per method, tokens/s per method x GPU class,
each project weighing the same). The bands' width factor is set so that bands built without a project cover 80 % of
that project's residuals, averaged over projects (nested leave-one-project-out).
Run: .venv/bin/python bench/fit_calibration.py [--dry-run] [--no-loso] [--sweeps N]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scoring import all_cases, percentile, residuals, table  # noqa: E402

from frugaltune.catalog.load import load_catalog  # noqa: E402
from frugaltune.estimate import memory as mem  # noqa: E402
from frugaltune.estimate import peak  # noqa: E402
from frugaltune.estimate.bands import BANDS_FILE, quantiles  # noqa: E402
from frugaltune.estimate.calibration import CALIBRATION_FILE, Coefficients  # noqa: E402
from frugaltune.estimate.estimator import effective_precision  # noqa: E402
from frugaltune.estimate.gpu_class import gpu_class  # noqa: E402
from frugaltune.estimate.stack import resolve_stack, sharded_precision  # noqa: E402
from frugaltune.estimate.throughput import throughput  # noqa: E402
from frugaltune.record import asdict, replace  # noqa: E402

# (path, low, high): path is "field" or "field.key" for dict fields; low 0 adds 0 to the grid.
MEMORY_PARAMS = [("activation_scale", 0.5, 1.5), ("logits_bytes_per_element", 4.0, 16.0),
                 ("overhead_fixed_bytes", 0.3e9, 0.8e9),
                 ("overhead_fraction", 0.0, 1.0), ("variable_length_fragmentation", 0.0, 3.0),
                 ("recompute_working_layers", 0.5, 4.0)]
SPEED_PARAMS = [("attention_efficiency", 0.2, 1.0), ("staged_link_efficiency", 0.05, 1.0), ("method_mfu.full", 0.2, 0.9), ("method_mfu.lora", 0.2, 0.9), ("method_mfu.qlora", 0.2, 0.9),
                ("step_overhead_s.full", 0.0, 0.4), ("step_overhead_s.lora", 0.0, 0.4),
                ("step_overhead_s.qlora", 0.0, 0.4), ("elementwise_passes.hf", 0.0, 40.0),
                ("elementwise_passes.fused", 0.0, 40.0), ("dequant_bandwidth_efficiency", 0.02, 1.0),
                ("gather_bandwidth_efficiency", 0.02, 1.0), ("scaling_per_doubling", 0.7, 1.0),
                ("fp8_efficiency", 0.2, 1.0), ("power_pj_per_flop", 0.0, 2.0),
                ("launch_s_per_layer_pass", 0.0, 2e-3), ("launch_s_per_adapter", 0.0, 5e-4),
                ("fused_launch_factor", 0.1, 1.0)]
REFERENCE_CLASS = "ampere-datacenter"  # method ceilings are per method on this class; others are relative to it
OOM_PENALTY = 0.005  # per [OOM] row predicted to fit
BORROW_WIDEN = 1.25  # a group without its own residuals borrows its method's (or all) band, this much wider
MIN_BAND_ROWS = 8  # fewer LOSO residuals than this: the group borrows a wider band (estimate/bands.py)
MIN_BAND_SOURCES = 3  # a group's band needs residuals of this many projects (one project's offset is not a spread)


def get(coef: Coefficients, path: str) -> float:
    field, _, key = path.partition(".")
    value = getattr(coef, field)
    return value.get(key, 1.0) if key else value


def put(coef: Coefficients, path: str, value: float) -> Coefficients:
    field, _, key = path.partition(".")
    if key:
        return replace(coef, **{field: {**getattr(coef, field), key: value}})
    return replace(coef, **{field: value})


class FastMemory:
    """One case's peak memory as a closed form of the memory coefficients (estimate/peak.py's formulas with every
    coefficient-free term computed once), so a fit can try thousands of coefficient sets. `check()` proves it
    equals peak.memory_breakdown. With pipeline parallelism, the worse of the first and last stage (as peak.py)."""

    def __init__(self, job, precision: str, stack):
        self.job, self.precision, self.stack = job, precision, stack
        wheres = ("whole",) if stack.pipeline_parallel <= 1 else ("first", "last")
        self.stages = [_FastStage(job, precision, stack, where) for where in wheres]

    def bytes(self, c: Coefficients) -> dict:
        return max((stage.bytes(c) for stage in self.stages), key=lambda b: b["planning"])

    def check(self, c: Coefficients) -> None:
        m = peak.memory_breakdown(self.job, self.precision, c, self.stack)
        got = self.bytes(c)
        for kind, want in (("allocated", m.allocated), ("reserved", m.reserved), ("planning", m.peak)):
            assert abs(got[kind] - want) <= 1e-6 * want, (kind, got[kind], want, self.job)


class _FastStage:
    """FastMemory of one GPU: the whole model's share, or one pipeline stage's (peak._stage_breakdown)."""

    def __init__(self, job, precision: str, stack, where: str):
        from frugaltune.estimate import pipeline

        base = peak._stage_breakdown(job, precision, Coefficients(activation_scale=1.0, recompute_working_layers=0.0,
                                                                  offload_resident_layers=0.0), stack, where)
        self.job, self.precision, self.stack = job, precision, stack
        tp, arch, pp = stack.tensor_parallel, job.model, stack.pipeline_parallel
        seq = peak.peak_seq_len(job)
        self.tokens = seq / stack.context_parallel * job.micro_batch
        unit = peak.layer_bytes_per_token(job, precision, Coefficients(activation_scale=1.0), stack, seq)
        self.layer = unit * self.tokens / tp  # one layer's saved activations at scale 1
        self.layer_input = self.tokens * arch.hidden_size * mem.BYTES_PER_ELEMENT[precision] / tp
        micro_batches = 1 if stack.optimizer_in_backward else job.grad_accum
        self.kept_scale = {"whole": 1.0, "last": 1.0 / pp}.get(where) or pipeline.first_stage_layers_in_flight(
            arch.num_layers, pp, stack.virtual_pipeline, micro_batches) / arch.num_layers
        self.static = base.weights + base.optimizer + base.master + base.quant_workspace
        self.grads, self.coexist, self.step = base.gradients, base.grads_coexist, base.optimizer_step
        self.variable = peak.variable_length(job)
        self.vocab_tokens = self.tokens * arch.vocab_size / tp
        kept = stack.chunked_kept_bytes_per_logit
        self.fixed_logits = mem.logits_bytes(arch, self.tokens, stack.loss_kernel,
                                             Coefficients(logits_bytes_per_element=0.0), tp, kept)
        self.per_lbpe = (mem.logits_bytes(arch, self.tokens, stack.loss_kernel, Coefficients(
            logits_bytes_per_element=1.0), tp, kept) - self.fixed_logits)
        if where == "first":  # the first stage computes no logits
            self.fixed_logits = self.per_lbpe = 0.0

    def activations(self, c: Coefficients) -> tuple[float, float]:
        """(kept, working) as memory.activation_parts."""
        kept, working = self._activations(c)
        return kept * self.kept_scale, working

    def _activations(self, c: Coefficients) -> tuple[float, float]:
        L, layer, s = self.job.model.num_layers, self.layer, c.activation_scale
        if self.stack.activation_offload:
            if self.job.grad_ckpt:
                return c.offload_resident_layers * self.layer_input, c.recompute_working_layers * s * layer
            return c.offload_resident_layers * s * layer, s * layer
        if not self.job.grad_ckpt:
            return L * s * layer, 0.0
        return L * self.layer_input, c.recompute_working_layers * s * layer

    def logits(self, c: Coefficients) -> float:
        return self.fixed_logits + self.per_lbpe * c.logits_bytes_per_element

    def bytes(self, c: Coefficients) -> dict:
        kept, working = self.activations(c)
        logits = self.logits(c)
        dyn, both = kept + max(working, logits), kept + working + logits
        allocated = self.static + (self.grads + max(dyn, self.step) if self.coexist else max(dyn, self.grads + self.step))
        reserved = (allocated + both - dyn + c.overhead_fraction * (allocated - self.static)
                    + (c.variable_length_fragmentation * both if self.variable else 0.0))
        return {"allocated": allocated, "reserved": reserved, "planning": reserved + c.overhead_fixed_bytes}


class Evaluator:
    """Fast per-case memory and speed for many coefficient trials (the stack and precision resolved once)."""

    def __init__(self, cases):
        self.rows = []
        for c in cases:
            if c.skip:
                continue
            job = c.job.with_(num_gpus=c.hw.num_gpus)
            stack = resolve_stack(job)
            precision = sharded_precision(job, effective_precision(c.job.precision, c.hw.gpu, []), stack)
            state = peak.memory_breakdown(job, precision, Coefficients(), stack)
            self.rows.append((c, job, precision, stack, state, FastMemory(job, precision, stack)))
        for trial in (Coefficients(), Coefficients(activation_scale=0.8, recompute_working_layers=1.3,
                                                   logits_bytes_per_element=6.0,
                                                   overhead_fraction=0.1, variable_length_fragmentation=0.5)):
            for row in self.rows:
                row[5].check(trial)  # the closed form is the estimator's formula
        self.work: dict[int, object] = {}

    def memory_errors(self, coef: Coefficients) -> tuple[dict, int]:
        groups, wrong_oom = {}, 0
        for c, _job, _precision, _stack, _state, fast in self.rows:
            got = fast.bytes(coef)
            if c.tag == "OOM":
                wrong_oom += got["planning"] <= c.hw.gpu.memory_gb * 1e9
                continue
            for gb, kind in ((c.mem_gb, c.mem_kind), (c.alt_mem_gb, c.alt_mem_kind)):  # a second peak: the same run
                if gb:
                    kind = kind if kind in got else "planning"
                    groups.setdefault((c.source, c.method), []).append(abs(math.log(gb * 1e9 / got[kind])))
        return groups, wrong_oom

    def prepare_speed(self, coef: Coefficients) -> None:
        """The per-case step work (what a micro-batch asks of the GPU) under the fitted memory coefficients."""
        from frugaltune.estimate.estimator import micro_batch_work

        for i, (c, job, precision, stack, state, _fast) in enumerate(self.rows):
            if c.tag == "OOM" or not c.tokens_per_s:
                continue
            self.work[i] = micro_batch_work(job, precision, stack, state, coef)[1]  # the estimator's own step

    def speed_errors(self, coef: Coefficients) -> dict:
        groups = {}
        for i, work in self.work.items():
            c, job, precision, stack, _state, _fast = self.rows[i]
            tp = throughput(arch=job.model, gpu=c.hw.gpu, method=job.method, precision=precision,
                            grad_ckpt=job.grad_ckpt, work=work, num_gpus=job.num_gpus, coef=coef,
                            zero_stage=job.zero_stage, stack=stack)
            got = tp.tokens_per_sec_per_gpu * c.tokens_ratio
            groups.setdefault((c.source, c.method), []).append(abs(math.log(c.tokens_per_s / got)))
        return groups


def balanced(groups: dict) -> float:
    """Mean over (source, method) groups of median + p80/2 of |ln error|, each group weighted by sqrt(rows): a
    large source counts more than a one-row one, but not in proportion to its size."""
    if not groups:
        return 0.0
    weights = {k: math.sqrt(len(v)) for k, v in groups.items()}
    total = sum(weights.values())
    return sum(weights[k] * (statistics.median(v) + 0.5 * percentile(v, 0.8)) for k, v in groups.items()) / total


def objective(ev: Evaluator, coef: Coefficients, kind: str) -> float:
    if kind == "memory":
        groups, wrong = ev.memory_errors(coef)
        return balanced(groups) + OOM_PENALTY * wrong
    return balanced(ev.speed_errors(coef))


def grid(lo: float, hi: float, steps: int) -> list[float]:
    if lo <= 0:
        return [0.0] + [hi / 64 * 64 ** (i / (steps - 2)) for i in range(steps - 1)]
    return [lo * (hi / lo) ** (i / (steps - 1)) for i in range(steps)]


def coordinate_descent(ev: Evaluator, coef: Coefficients, params, kind: str, sweeps: int, steps: int = 13):
    best = objective(ev, coef, kind)
    for _ in range(sweeps):
        for path, lo, hi in params:
            for value in grid(lo, hi, steps):
                trial = put(coef, path, value)
                val = objective(ev, trial, kind)
                if val < best - 1e-9:
                    best, coef = val, trial
    return coef, best


def speed_params(cases) -> list:
    """The speed parameters, plus one MFU factor per GPU class that has tokens/s measurements in `cases`."""
    classes = sorted({gpu_class(c.hw.gpu) for c in cases if not c.skip and c.tokens_per_s} - {REFERENCE_CLASS})
    return SPEED_PARAMS + [(f"class_factor.{cls}", 0.3, 2.0) for cls in classes]


def fit(cases, sweeps: int = 2) -> tuple[Coefficients, float, float]:
    ev = Evaluator(cases)
    # every class with measurements gets its own factor (from 1, the A100 class's); only classes without any borrow
    measured = {path.partition(".")[2]: 1.0 for path, _lo, _hi in speed_params(cases) if path.startswith("class_")}
    start = Coefficients(class_factor={REFERENCE_CLASS: 1.0, **measured})
    coef, mem_obj = coordinate_descent(ev, start, MEMORY_PARAMS, "memory", sweeps)
    ev.prepare_speed(coef)
    coef, speed_obj = coordinate_descent(ev, coef, speed_params(cases), "tokens/s", sweeps)
    return coef, mem_obj, speed_obj


def leave_one_source_out(cases, sweeps: int) -> list[dict]:
    """Residuals of every source, each scored with coefficients fit without it."""
    sources = sorted({c.source for c in cases if not c.skip})
    out = []
    for source in sources:
        train = [c for c in cases if c.source != source]
        coef, _, _ = fit(train, sweeps)
        held = residuals([c for c in cases if c.source == source], coef)
        out += held
        print(f"  LOSO {source[:48]:48} rows {len(held):4d}", flush=True)
    return out


def weighted_quantile(pairs: list[tuple[float, float]], q: float) -> float:
    """Quantile of values with weights: the value where the cumulative weight first reaches q of the total."""
    ordered = sorted(pairs)
    total, seen = sum(w for _, w in ordered), 0.0
    for value, weight in ordered:
        seen += weight
        if seen >= q * total:
            return value
    return ordered[-1][0]


def family(source: str) -> str:
    """The project a source belongs to (its name's first word: 'torchtune README' and 'torchtune LoRA tutorial' are
    one project's measurements, made with one stack by one team): the unit whose quirks a new source does not share."""
    return source.split()[0].lower()


def band_groups(x: dict) -> tuple[str, ...]:
    """The band groups a residual belongs to: memory by method (its misses come from the stack, not the GPU class),
    tokens/s by method x GPU class; both also to all methods."""
    by_class = (f"{x['method']}|{x['cls']}",) if x["metric"] == "tokens/s" else ()
    return ("*|*", f"{x['method']}|*") + by_class


def bands_from(loso: list[dict]) -> dict:
    """Per metric and group: 10th/90th percentiles of LOSO residuals, each project (family) weighing the same (its
    rows share a weight of 1): a random-effects predictive distribution, what a source from a new project sees. A
    group needs MIN_BAND_ROWS rows from MIN_BAND_SOURCES projects to stand on its own."""
    out = {"borrow_widen": BORROW_WIDEN, "min_rows": MIN_BAND_ROWS, "min_sources": MIN_BAND_SOURCES,
           "group_by": {"memory": "method", "tokens_per_s": "method x class"}, "weighting": "each project weighs 1"}
    for metric, name in (("memory", "memory"), ("tokens/s", "tokens_per_s")):
        rows = [x for x in loso if x["metric"] == metric]
        per_family: dict[str, int] = {}
        for x in rows:
            per_family[family(x["source"])] = per_family.get(family(x["source"]), 0) + 1
        groups: dict[str, list[dict]] = {}
        for x in rows:
            for key in band_groups(x):
                groups.setdefault(key, []).append(x)
        out[name] = {}
        for key, members in sorted(groups.items()):
            if len(members) < MIN_BAND_ROWS or len({family(x["source"]) for x in members}) < MIN_BAND_SOURCES:
                continue
            pairs = [(x["r"], 1.0 / per_family[family(x["source"])]) for x in members]
            out[name][key] = [round(weighted_quantile(pairs, 0.1), 4), round(weighted_quantile(pairs, 0.9), 4),
                              len(members)]
    return out


def nested_coverage(loso: list[dict], factor: float, metric: str, widen: float = BORROW_WIDEN,
                    borrowed: bool = False) -> float:
    """Mean over projects (each weighs the same) of the share of that project's LOSO residuals inside bands built
    from the OTHER projects' residuals, widened by `factor`: what the measurements of a new project would see. A
    memory band's low end stops at the exact static states, as in the product (estimate/bands.py). `borrowed`: each
    row's own group is taken out of the table, so it borrows the wider group's band widened by `widen`, as a job of
    a group without residuals does."""
    name = "memory" if metric == "memory" else "tokens_per_s"
    shares = []
    for fam in sorted({family(x["source"]) for x in loso}):
        rows = [x for x in loso if family(x["source"]) == fam and x["metric"] == metric]
        if not rows:
            continue
        bands = {**bands_from([x for x in loso if family(x["source"]) != fam]), "width_factor": {name: factor},
                 "borrow_widen": {name: widen}}
        inside = 0
        for x in rows:
            table = {**bands, name: {k: v for k, v in bands[name].items() if k != own_group(x)}} if borrowed else bands
            q = quantiles(table, name, x["method"], x["cls"])
            inside += q is not None and max(q[0], x["r_floor"]) <= x["r"] <= q[1]
        shares.append(inside / len(rows))
    return sum(shares) / len(shares) if shares else 0.0


def own_group(x: dict) -> str:
    """The most specific band group of a residual (band_groups)."""
    return f"{x['method']}|{x['cls']}" if x["metric"] == "tokens/s" else f"{x['method']}|*"


def borrow_widen(loso: list[dict], metric: str, factor: float) -> float:
    """The widening (1.0 .. 3.0) a borrowed band needs: the smallest at which bands that must borrow (each row's own
    group left out) cover a new project's measurements as well as the own groups' bands do (nested
    leave-one-project-out), instead of a picked constant."""
    own = nested_coverage(loso, factor, metric)
    for widen in [1.0 + 0.1 * i for i in range(21)]:
        if nested_coverage(loso, factor, metric, widen, borrowed=True) >= own:
            return round(widen, 2)
    return 3.0


def width_factor(loso: list[dict], metric: str, target: float = 0.8, widen: float = BORROW_WIDEN) -> float:
    """The smallest widening (1.0 .. 3.0) of the bands that covers `target` of a new project's measurements, with
    borrowed bands widened by `widen`."""
    for factor in [1.0 + 0.1 * i for i in range(21)]:
        if nested_coverage(loso, factor, metric, widen) >= target:
            return round(factor, 2)
    return 3.0


def band_widths(loso: list[dict], metric: str, target: float = 0.8) -> tuple[float, float]:
    """(width factor, borrow widening) that hold together: each band is widened by the smallest factor at which bands
    built without a project cover `target` of it, given the borrowed bands' widening the file ships, and that
    widening is the one borrow_widen derives for this factor. The two depend on each other, so they are found
    together (a fixed point, at most 5 rounds, from BORROW_WIDEN); choosing the factor under one widening and then
    shipping another left the shipped bands below their own target."""
    widen = BORROW_WIDEN
    factor = width_factor(loso, metric, target, widen)
    for _ in range(5):
        widen = borrow_widen(loso, metric, factor)
        new_factor = width_factor(loso, metric, target, widen)
        if new_factor == factor:
            break
        factor = new_factor
    return factor, widen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="fit and print, write nothing")
    parser.add_argument("--no-loso", action="store_true", help="skip leave-one-source-out (and the bands)")
    parser.add_argument("--sweeps", type=int, default=3)
    args = parser.parse_args()
    catalog = load_catalog()
    sets = all_cases(catalog)
    fit_cases = [c for c in sets["fit"] if not c.skip]
    coef, mem_obj, speed_obj = fit(fit_cases, args.sweeps)
    provenance = {"date": date.today().isoformat(), "script": "bench/fit_calibration.py",
                  "data": "bench/data/measurements_reference.csv + measurements_fit.csv",
                  "rows_used": len(fit_cases), "objective_memory": round(mem_obj, 4),
                  "objective_tokens_per_s": round(speed_obj, 4)}
    out = asdict(replace(coef, fit=provenance))
    print(json.dumps(out, indent=2))
    if not args.dry_run:
        Path(CALIBRATION_FILE).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {CALIBRATION_FILE}")
    print("\n".join(table(residuals(fit_cases, coef), "IN-SAMPLE (fit rows, final coefficients)")))
    if args.no_loso:
        return
    loso = leave_one_source_out(fit_cases, args.sweeps)
    bands = bands_from(loso)
    widths = {name: band_widths(loso, metric) for metric, name in (("memory", "memory"), ("tokens/s", "tokens_per_s"))}
    bands["width_factor"] = {name: factor for name, (factor, _) in widths.items()}
    bands["borrow_widen"] = {name: widen for name, (_, widen) in widths.items()}
    for metric, name in (("memory", "memory"), ("tokens/s", "tokens_per_s")):
        share = nested_coverage(loso, bands["width_factor"][name], metric, bands["borrow_widen"][name])
        print(f"{metric}: width factor {bands['width_factor'][name]}, nested leave-one-project-out coverage {share:.0%}"
              f", borrowed bands widened {bands['borrow_widen'][name]}")
    bands["fit"] = {"date": date.today().isoformat(), "script": "bench/fit_calibration.py",
                    "residuals": "ln(measured / estimated), leave-one-source-out", "rows": len(loso)}
    if not args.dry_run:
        Path(BANDS_FILE).write_text(json.dumps(bands, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {BANDS_FILE}")
    for x in loso:  # bands scored on the residuals they are built from say nothing: the nested figure above does
        x["band"] = None
    print("\n".join(table(loso, "LEAVE-ONE-SOURCE-OUT (each source scored by a fit without it)")))


if __name__ == "__main__":
    main()
