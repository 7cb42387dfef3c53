"""The feedback loop: measured runs calibrate later estimates.

`frugaltune train` (and `frugaltune report --calibrate RUN_DIR`) append one line per finished GPU run to
`measurements.jsonl` in the user's frugaltune config dir ($FRUGALTUNE_MEASUREMENTS overrides the path). An estimate
for the same GPU x method then scales its tokens/s by the median measured/estimated ratio of those runs (bounded to
[0.25, 4] so one broken run cannot wreck it) and reports `source: calibrated` with the number of runs.
Stdlib only; the file is read once per version of it (its path and mtime), and checked once per planner search
(`frozen`).
"""

from __future__ import annotations

import os
from stat import S_ISREG  # already imported by os: costs no start-up

from frugaltune.numbers import median

RATIO_BOUNDS = (0.25, 4.0)
ENV_FILE = "FRUGALTUNE_MEASUREMENTS"


def measurements_path() -> str:
    env = os.environ
    key = (env.get(ENV_FILE), env.get("XDG_CONFIG_HOME"), env.get("HOME"))
    if key not in _PATHS:  # a planner asks once per estimate: the path is worked out once per environment
        _PATHS[key] = _measurements_path()
    return _PATHS[key]


def _measurements_path() -> str:
    if os.environ.get(ENV_FILE):
        return os.path.expanduser(os.environ[ENV_FILE])
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(xdg, "frugaltune", "measurements.jsonl")


_PATHS: dict[tuple, str] = {}


_READ: dict[tuple[str, int], tuple[dict, ...]] = {}  # (path, mtime) -> rows; a plain dict: functools costs start-up


def _load(path: str, mtime_ns: int) -> tuple[dict, ...]:
    if (path, mtime_ns) not in _READ:
        from frugaltune import datacache  # parsed rows cached per version of the file: no json import at start-up

        _READ.clear()
        rows = datacache.cached("measurements", [path], lambda: list(_read(path)))
        _READ[path, mtime_ns] = tuple(row for row in rows if is_measurement(row))
    return _READ[path, mtime_ns]


def _number(value: object, zero_ok: bool = False) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value and \
        value not in (float("inf"), float("-inf")) and (value > 0 or (zero_ok and value == 0))


def is_measurement(row: object) -> bool:
    """A row later estimates may use: a method, a finite measured tokens/s > 0, and finite (or absent) estimates and
    peaks. Anything else (a hand-edited or damaged row, a team file's nonsense) is left out."""
    if not isinstance(row, dict) or not isinstance(row.get("method"), str):
        return False
    if not _number(row.get("measured_tokens_per_sec_per_gpu")):
        return False
    return all(row.get(k) is None or _number(row.get(k), zero_ok=k.endswith("_gb"))
               for k in ("estimated_tokens_per_sec_per_gpu", "measured_peak_gb", "estimated_peak_gb"))


def _read(path: str) -> tuple[dict, ...]:
    import json  # only when there are measurements: json imports re (start-up time)

    rows = []
    with open(path, encoding="utf-8", errors="replace") as fh:  # a damaged line is skipped, not a crash
        lines = fh.read().splitlines()
    for line in lines:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line from a killed writer; the rest still counts
        if isinstance(row, dict):
            rows.append(row)
    return tuple(rows)


_FROZEN: list = []  # the rows read when a `frozen()` scope began, innermost last


class frozen:
    """`with frozen():` the measurements are read once for everything inside: a planner's thousand estimates see
    the file as it was when its search began (instead of checking it again for each); a run recorded meanwhile
    counts from the next search on."""

    def __enter__(self) -> "frozen":
        _FROZEN.append(load_measurements())
        return self

    def __exit__(self, *exc) -> None:
        _FROZEN.pop()


def load_measurements() -> tuple[dict, ...]:
    if _FROZEN:
        return _FROZEN[-1]
    path = measurements_path()
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return ()
    if not S_ISREG(st.st_mode):
        return ()
    return _load(path, st.st_mtime_ns)


def throughput_correction(gpu: str, method: str) -> tuple[float, int]:
    """(median measured/estimated tokens/s ratio, runs) for a GPU x method; (1.0, 0) without measurements."""
    ratios = []
    for row in load_measurements():
        if row.get("gpu") == gpu and row.get("method") == method:
            measured, estimated = row.get("measured_tokens_per_sec_per_gpu"), row.get("estimated_tokens_per_sec_per_gpu")
            if measured and estimated and measured > 0 and estimated > 0:
                ratios.append(measured / estimated)
    if not ratios:
        return 1.0, 0
    lo, hi = RATIO_BOUNDS
    return min(max(median(ratios), lo), hi), len(ratios)


def record_measurement(*, gpu: str | None, method: str, model: str, measured_tokens_per_sec_per_gpu: float,
                       estimated_tokens_per_sec_per_gpu: float | None, measured_peak_gb: float | None = None,
                       estimated_peak_gb: float | None = None, run_dir: str = "", path: str | None = None,
                       **extra) -> str:
    """Append one measured run (a single line, so concurrent writers never interleave within a record).

    `gpu` is None for a CPU measurement (`extra` says device="cpu"): kept in the store, it never scales a GPU's
    estimate. `extra` adds fields such as source ("run" | "probe"), device, machine, host. Each row gets an `id`
    (random, 16 hex digits) so that a team's shared copies merge without duplicates."""
    import json
    import secrets
    from datetime import date

    path = os.fspath(path) if path else measurements_path()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    row = {"id": secrets.token_hex(8), "date": date.today().isoformat(), "gpu": gpu, "method": method,
           "model": model, "measured_tokens_per_sec_per_gpu": measured_tokens_per_sec_per_gpu,
           "estimated_tokens_per_sec_per_gpu": estimated_tokens_per_sec_per_gpu,
           "measured_peak_gb": measured_peak_gb, "estimated_peak_gb": estimated_peak_gb, "run_dir": run_dir,
           **extra}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
    return path
