"""How close `frugaltune probe` comes to the real run: probe a config, run it in full, print projected / real.

    python bench/probe_accuracy.py [CONFIG] [--steps 20] [--repeat 1]

Both run as a user runs them (separate processes, imports included), side by side: on a quiet 2-core machine each
has a core, and on a shared one whatever else runs slows both alike. Other jobs still take CPU away unevenly (a
process's speed can halve for a while), so each child's CPU time is sampled from /proc/PID/stat as it runs, and the
ratios are given raw and at equal CPU share (the projection at the share the probe's measured steps got, against the
run at the share its training got; billed hours: whole lives). On a quiet machine the shares are ~1 and the two
ratios agree. tests/train/test_probe.py holds the adjusted ratios to 20 %.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "examples" / "trade-classifier" / "tiny.yaml"
PROBE = ("import json, sys, time; from frugaltune.train.probe import probe; "
         "print(json.dumps(probe(sys.argv[1], steps=int(sys.argv[2]), started_at=time.time())))")
TRAIN = ("import sys, time; from frugaltune.train.recipe import train; "
         "sys.exit(train(sys.argv[1], resume='never', quiet=True, started_at=time.time()).exit_code)")


def run_children(*commands: tuple[str, ...]) -> list[tuple[str, list[tuple[float, float]]]]:
    """Run each `python -c code args...` at the same time; per child: (stdout, [(unix time, CPU seconds so far)]
    sampled every 0.1 s)."""
    ticks = os.sysconf("SC_CLK_TCK")
    procs = [subprocess.Popen([sys.executable, "-c", *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=REPO) for cmd in commands]
    samples = [[(time.time(), 0.0)] for _ in procs]
    outs = [None] * len(procs)
    while any(o is None for o in outs):
        for i, proc in enumerate(procs):
            if outs[i] is not None:
                continue
            if proc.poll() is not None:
                outs[i] = proc.communicate(timeout=900)
                if proc.returncode != 0:
                    raise RuntimeError(f"child failed ({proc.returncode}): {outs[i][1][-3000:]}")
                continue
            try:
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
                samples[i].append((time.time(), (int(fields[11]) + int(fields[12])) / ticks))  # utime + stime
            except (OSError, IndexError):
                pass
        time.sleep(0.1)
    return [(out[0], smp) for out, smp in zip(outs, samples)]


def cpu_share(samples: list[tuple[float, float]], t0: float | None = None, t1: float | None = None) -> float:
    """CPU seconds / wall seconds of a child between t0 and t1 (default: all of its life)."""
    inside = [s for s in samples if (t0 is None or s[0] >= t0) and (t1 is None or s[0] <= t1)]
    (a, ca), (b, cb) = inside[0], inside[-1]
    return (cb - ca) / (b - a)


def scratch_config(config: Path, out_dir: Path) -> Path:
    """A copy of `config` whose output.dir is `out_dir` (the real run must not touch the user's run)."""
    import yaml

    raw = yaml.safe_load(config.read_text())
    raw.setdefault("output", {})["dir"] = str(out_dir)
    for key in ("path", "eval_path"):  # data paths relative to the config stay valid from the copy
        value = (raw.get("data") or {}).get(key)
        if value and not Path(value).is_absolute() and not (REPO / value).exists():
            raw["data"][key] = str(config.parent / value)
    path = out_dir.parent / config.name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def measure(config: Path, steps: int, work: Path) -> dict:
    """Probe `config`, run it, and compare: the probe's JSON, the run's summary, CPU shares and ratios."""
    cfg = scratch_config(config, work / "run")
    # side by side, so that whatever else the machine runs slows both alike (2 cores: one each when it is quiet)
    (out, probe_cpu), (_, run_cpu) = run_children((PROBE, str(cfg), str(steps)), (TRAIN, str(cfg)))
    result = json.loads(out.splitlines()[-1])
    run = json.loads((work / "run" / "summary.json").read_text())
    events = [json.loads(x) for x in (work / "run" / "metrics.jsonl").read_text().splitlines()]
    train_from = next(e["time"] for e in events if e["event"] == "train_start")
    m, proj = result["measured"], result["projection"]
    shares = {"probe_steps": cpu_share(probe_cpu, m["measured_from"], m["measured_to"]), "probe": cpu_share(probe_cpu),
              "run_training": cpu_share(run_cpu, train_from, events[-1]["time"]), "run": cpu_share(run_cpu)}
    ratios = {"train_raw": proj["train_hours"] / run["train_hours"],
              "billed_raw": proj["billed_hours"] / run["billed_hours"],
              "train": proj["train_hours"] * shares["probe_steps"] / (run["train_hours"] * shares["run_training"]),
              "billed": proj["billed_hours"] * shares["probe"] / (run["billed_hours"] * shares["run"])}
    return {"probe": result, "run": run, "shares": shares, "ratios": ratios}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", nargs="?", default=str(TINY))
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    print(f"{'':4}{'train h raw':>12}{'train h adj':>12}{'billed raw':>12}{'billed adj':>12}{'CPU share':>18}")
    for i in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="probe-bench-") as tmp:
            r = measure(Path(args.config).resolve(), args.steps, Path(tmp))
        q, s = r["ratios"], r["shares"]
        print(f"{i + 1:<4}{q['train_raw']:>12.3f}{q['train']:>12.3f}{q['billed_raw']:>12.3f}{q['billed']:>12.3f}"
              f"{s['probe_steps']:>9.2f} /{s['run_training']:>5.2f}")
    print("ratios are projected / real (1.0 = exact); CPU share: probe's steps / run's training")


if __name__ == "__main__":
    main()
