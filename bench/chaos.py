"""Chaos series against `frugaltune train`: real processes killed, checkpoints corrupted, the disk filled, the mirror
taken away, each series checked against an uninterrupted run of the same config.

    python bench/chaos.py [--kills 12] [--mid-save 4] [--steps 40] [--series kill,corrupt,disk,mirror]

Series (tiny preset LoRA on the trade-classifier data, CPU, a checkpoint every 4 steps, a metric line every step):
  kill     SIGKILL at random moments: while loading (before it resumes), at a random step, and timed mid-save (the
           instant a staging directory appears); the same command is restarted until it finishes.
  corrupt  the newest checkpoint damaged in one of 8 ways after each SIGTERM stop; the next start must fall back
           to the previous one.
  disk     the run directory on a small tmpfs (root) that the bench fills after the first checkpoint: the save hits a
           real ENOSPC; the space is then freed and the same command resumes. Without root: ENOSPC injected at the
           checkpoint write layer.
  mirror   a local mirror that disappears mid-run (its directory becomes a file): the outage must be reported at
           once, the end must not stall, exit 69; the mirror returns, a rerun uploads the newest checkpoint, and a
           new machine (empty run directory) restores from the mirror.
Columns: faults injected; checkpoints lost (one that was complete before a fault and is unusable after it); starts
that crashed (an exit other than the expected codes); final weights identical to the uninterrupted run; exit codes
as expected; the ledger's steps_redone against the truth the bench computes from the checkpoints on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "examples" / "trade-classifier" / "data" / "train.jsonl"
ENOSPC_PRELUDE = """
import errno
from frugaltune.train.recipe import Recipe
_real = Recipe._write_checkpoint_files
def _full(self, out, rng):
    if self.progress.step > {after}:
        raise OSError(errno.ENOSPC, "No space left on device")
    return _real(self, out, rng)
Recipe._write_checkpoint_files = _full
"""


def write_config(path: Path, out_dir: Path, steps: int, **checkpoints) -> Path:
    cfg = {"model": {"source": "preset:tiny-llama", "vocab_size": 256},
           "method": {"kind": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.05, "targets": ["q_proj", "v_proj"]}},
           "data": {"path": str(DATA), "format": "classification", "max_seq_len": 96, "eval_fraction": 0.0},
           "training": {"max_steps": steps, "lr": 0.01, "micro_batch": 4, "log_every": 1, "seed": 7, "cpu_threads": 1},
           "checkpoints": {"every_steps": 4, "every_minutes": None, "keep_last": 3, **checkpoints},
           "output": {"dir": str(out_dir)}}
    path.write_text(yaml.safe_dump(cfg))
    return path


def start(config: Path, prelude: str = "") -> subprocess.Popen:
    code = prelude + "\nfrom frugaltune.cli import main; main()"
    return subprocess.Popen([sys.executable, "-c", code, "train", str(config), "--quiet"], cwd=REPO,
                            start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, err.decode(errors="replace")


def kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def events(run_dir: Path) -> list[dict]:
    from frugaltune.report.ledger import read_events

    return read_events(run_dir / "metrics.jsonl")


def last_step(run_dir: Path) -> int:
    steps = [e["step"] for e in events(run_dir) if e["event"] == "step"]
    return steps[-1] if steps else 0


def newest_complete(run_dir: Path) -> Path | None:
    from frugaltune.train import checkpoint as ckpt

    return ckpt.newest_valid(run_dir / "checkpoints", warn=lambda m: None)


def step_of(path: Path | None) -> int:
    return int(path.name.split("-")[1]) if path is not None else 0


def weights(run_dir: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(run_dir / "final" / "adapter_model.safetensors")


def same(a: dict, b: dict) -> bool:
    import torch

    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def wait(predicate, proc: subprocess.Popen, timeout: float = 300, poll: float = 0.0005) -> bool:
    """True once predicate() holds; False if the process ended first (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


def staging_exists(run_dir: Path) -> bool:
    """A save is under way: its staging directory exists (a killed save's is removed when the next run starts)."""
    root = run_dir / "checkpoints"
    try:
        return any(n.startswith(".staging-") for n in os.listdir(root))
    except FileNotFoundError:
        return False


def training(run_dir: Path, attempts_before: int) -> bool:
    """The attempt started after `attempts_before` reached its training loop (past its start-up clean-up)."""
    starts = [e for e in events(run_dir) if e["event"] == "train_start"]
    return bool(starts) and starts[-1]["attempt"] > attempts_before


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def row(name, faults, lost, crashed, identical, exits_ok, redone, truth, note="") -> dict:
    return {"series": name, "faults": faults, "lost": lost, "crashed": crashed, "identical": identical,
            "exits": exits_ok, "redone": f"{redone} / {truth}", "note": note}


# ---- series ---------------------------------------------------------------------------------------------------

def reference(work: Path, steps: int) -> dict:
    """The final weights of an uninterrupted run of `steps` steps."""
    config = write_config(work / f"ref-{steps}.yaml", work / f"ref-{steps}", steps)
    code, err = finish(start(config))
    assert code == 0, err[-2000:]
    return weights(work / f"ref-{steps}")


def series_kill(work: Path, ref: dict, steps: int, kills: int, mid_save: int, rng: random.Random) -> dict:
    run_dir = work / "kill"
    config = write_config(work / "kill.yaml", run_dir, steps)
    modes = ["mid-save"] * mid_save + ["loading"] * max(1, kills // 6)
    modes += ["step"] * (kills - len(modes))
    rng.shuffle(modes)
    lost = crashed = truth = 0
    counted: set[int] = set()
    for mode in modes:
        proc = start(config)
        before = last_step(run_dir)
        if mode == "loading":
            hit = wait(lambda: (run_dir / "metrics.jsonl").exists(), proc) and (time.sleep(rng.uniform(0, 1.5)) or True)
        elif mode == "mid-save":
            attempts = max((e["attempt"] for e in events(run_dir)), default=0)
            hit = wait(lambda: training(run_dir, attempts), proc, poll=0.01) and wait(
                lambda: staging_exists(run_dir), proc)
        else:
            target = before + rng.randint(1, 6)
            hit = wait(lambda: last_step(run_dir) >= target, proc, poll=0.005)
        seen = newest_complete(run_dir)
        kill(proc)
        code, err = finish(proc)
        if os.environ.get("CHAOS_VERBOSE") and not hit:
            print(f"  {mode:8} not hit: exit {code}; {err[-300:]}", file=sys.stderr)
        if not hit:  # it finished (or failed) before the kill landed
            crashed += code not in (0, -9)
            if code == 0:
                break
            continue
        after = newest_complete(run_dir)
        lost += seen is not None and (after is None or step_of(after) < step_of(seen))
        attempt = max((e["attempt"] for e in events(run_dir)), default=0)
        reached = [e["step"] for e in events(run_dir) if e["attempt"] == attempt and e["event"] in ("step", "checkpoint")]
        if attempt not in counted and reached:  # the truth: steps past the checkpoint the next start resumes from
            counted.add(attempt)
            truth += max(0, max(reached) - step_of(after))
        if os.environ.get("CHAOS_VERBOSE"):
            print(f"  {mode:8} attempt {attempt}: reached {max(reached, default=None)}, newest checkpoint "
                  f"{step_of(after)} (before the kill: {step_of(seen)})", file=sys.stderr)
    code, err = finish(start(config))
    crashed += code != 0
    s = summary(run_dir)
    return row("SIGKILL", len(modes), lost, crashed, same(weights(run_dir), ref), code == 0, s["steps_redone"],
               truth, f"{mid_save} mid-save, {modes.count('loading')} while loading")


CORRUPTIONS = {
    "manifest deleted": lambda d: (d / "manifest.json").unlink(),
    "manifest garbage": lambda d: (d / "manifest.json").write_text("{not json"),
    "adapter truncated": lambda d: _truncate(d / "adapter_model.safetensors"),
    "optimizer byte flipped": lambda d: _flip(d / "optimizer.pt"),
    "trainer_state deleted": lambda d: (d / "trainer_state.json").unlink(),
    "rng emptied": lambda d: (d / "rng.pt").write_bytes(b""),
    "scheduler byte flipped": lambda d: _flip(d / "scheduler.pt"),
    "history replaced": lambda d: (d / "ledger-history.json").write_text("[]"),
}


def _truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))


def series_corrupt(work: Path, steps: int) -> dict:
    ref = reference(work, steps)
    run_dir = work / "corrupt"
    config = write_config(work / "corrupt.yaml", run_dir, steps)
    lost = crashed = truth = 0
    exits_ok = True
    for damage in CORRUPTIONS.values():
        proc = start(config)
        target = last_step(run_dir) + 9  # at least two checkpoints past the last resume point
        if not wait(lambda: last_step(run_dir) >= target, proc, poll=0.005):
            break
        kill(proc, signal.SIGTERM)
        code, _ = finish(proc)
        exits_ok &= code == 75
        from frugaltune.train import checkpoint as ckpt

        complete = ckpt.complete_checkpoints(run_dir / "checkpoints")
        newest, previous = complete[-1], complete[-2]
        damage(newest)
        truth += step_of(newest) - step_of(previous)  # the steps after `previous` are done again
        proc = start(config)
        wait(lambda: any(e["event"] == "resume" for e in events(run_dir)[-3:]), proc, poll=0.01)
        resumed = [e for e in events(run_dir) if e["event"] == "resume"]
        kill(proc, signal.SIGTERM)
        code, err = finish(proc)
        crashed += code not in (75, 0)
        lost += not resumed or resumed[-1]["from_step"] < step_of(previous)
    code, err = finish(start(config))
    crashed += code != 0
    return row("corrupt newest", len(CORRUPTIONS), lost, crashed, same(weights(run_dir), ref), exits_ok and code == 0,
               summary(run_dir)["steps_redone"], truth, f"{', '.join(CORRUPTIONS)}: "
               + ("each fell back to the previous checkpoint" if not lost else "some fell back further"))


def _mount_tmpfs(path: Path, megabytes: int) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)],
                          capture_output=True, check=False).returncode == 0


def series_disk(work: Path, ref: dict, steps: int) -> dict:
    mount = work / "small-disk"
    real = _mount_tmpfs(mount, 64)
    run_dir = mount / "run"
    config = write_config(work / "disk.yaml", run_dir, steps)
    try:
        proc = start(config, "" if real else ENOSPC_PRELUDE.format(after=8))
        wait(lambda: (run_dir / "checkpoints" / "step-000008").is_dir(), proc, poll=0.005)
        ballast = mount / "ballast"
        if real:  # fill what is left, so the next save meets a real ENOSPC
            with ballast.open("wb") as f:
                try:
                    while True:
                        f.write(b"\0" * (1 << 20))
                        f.flush()
                except OSError:
                    pass
        kept = newest_complete(run_dir)
        code, err = finish(proc)
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        after = newest_complete(run_dir)
        lost = kept is not None and (after is None or step_of(after) < step_of(kept))
        truth = max(0, last_step(run_dir) - step_of(after))  # the steps after the intact checkpoint, done again
        ballast.unlink(missing_ok=True)  # the user frees space; the same command resumes
        code2, err2 = finish(start(config))
        identical = code2 == 0 and same(weights(run_dir), ref)
        redone = summary(run_dir)["steps_redone"] if code2 == 0 else None
        how = "real ENOSPC on a 64 MB tmpfs" if real else "ENOSPC injected at the checkpoint write layer"
        return row("disk full", 1, int(lost), int("Traceback" in err or code2 != 0), identical,
                   code == 74 and len(lines) == 1 and code2 == 0, redone, truth,
                   f"{how}; exit {code}: {lines[0][7:80] if lines else err[-200:]}")
    finally:
        if real:
            subprocess.run(["umount", str(mount)], check=False)


def series_mirror(work: Path, ref: dict, steps: int) -> dict:
    mirror, run_dir = work / "mirror", work / "mirrored"
    config = write_config(work / "mirror.yaml", run_dir, steps, mirror=str(mirror))
    proc = start(config)
    wait(lambda: (mirror / "step-000008").is_dir(), proc, poll=0.005)
    shutil.move(mirror, work / "mirror-away")
    mirror.write_text("the storage is gone")  # every write under it now fails
    outage_at = last_step(run_dir)
    code, err = finish(proc)
    exited = time.time()
    reported = [e for e in events(run_dir) if e["event"] == "mirror" and not e.get("ok")]
    end_stall = exited - max(e["time"] for e in events(run_dir) if e["event"] == "step")  # last step to exit
    mirror.unlink()
    shutil.move(work / "mirror-away", mirror)
    code2, _ = finish(start(config))  # the store is back: the rerun uploads the newest checkpoint
    from frugaltune.train.mirror import CheckpointMirror

    newest_mirrored = CheckpointMirror(str(mirror)).list_complete()[-1]
    shutil.rmtree(run_dir)  # a new machine: nothing local, restore from the mirror
    code3, _ = finish(start(config))
    ok = code == 69 and code2 == 0 and code3 == 0 and newest_mirrored == f"step-{steps:06d}"
    first_report = reported[0]["step"] if reported else None
    return row("mirror outage", 1, 0, int(code3 != 0), same(weights(run_dir), ref), ok, "-", "-",
               f"down at step {outage_at}, reported at step {first_report}, last step to exit {end_stall:.1f} s, "
               f"exit {code}; rerun uploaded {newest_mirrored}; restored on a new machine")


def print_table(rows: list[dict]) -> None:
    print(f"{'series':<16}{'faults':>7}{'lost ckpts':>11}{'crashes':>9}{'same weights':>14}{'exits ok':>10}"
          f"{'redone (ledger / truth)':>25}")
    for r in rows:
        print(f"{r['series']:<16}{r['faults']:>7}{r['lost']:>11}{r['crashed']:>9}{'yes' if r['identical'] else 'NO':>14}"
              f"{'yes' if r['exits'] else 'NO':>10}{r['redone']:>25}")
        if r["note"]:
            print(f"  {r['note']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--mid-save", type=int, default=4)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--series", default="kill,corrupt,disk,mirror")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="frugaltune-chaos-"))
    rng = random.Random(args.seed)
    try:
        ref = reference(work, args.steps)
        runs = {"kill": lambda: series_kill(work, ref, args.steps, args.kills, args.mid_save, rng),
                "corrupt": lambda: series_corrupt(work, max(args.steps, 9 * len(CORRUPTIONS) + 8)),
                "disk": lambda: series_disk(work, ref, args.steps),
                "mirror": lambda: series_mirror(work, ref, args.steps)}
        rows = []
        for name in args.series.split(","):
            t0 = time.monotonic()
            rows.append(runs[name]())
            print(f"[{name}: {time.monotonic() - t0:.0f} s]", file=sys.stderr)
        print_table(rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
