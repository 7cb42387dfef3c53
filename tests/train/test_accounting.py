"""Honest accounting under any sequence of kills: a replay writes the ledger events a run writes (through the real
Ledger) for random sequences of attempts killed at random moments (before resuming, mid-training, mid-save), stopped
by SIGTERM, or finishing, and checks steps_redone, attempts, interruptions and billed time against the truth of the
replay. Also: the running tally equals a summary recomputed from the whole log, and survives a checkpoint."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frugaltune.report import ledger
from frugaltune.report.tally import RunTally


class Clock:
    def __init__(self):
        self.now = 1000.0

    def tick(self, seconds=1.0):
        self.now += seconds
        return self.now


class Recorder(ledger.Ledger):
    """The real Ledger, noting when it last wrote (an attempt's billed time ends at its last event)."""

    def __init__(self, run_dir, clock):
        super().__init__(run_dir)
        self.clock, self.last_write = clock, None

    def write(self, event, durable=False, **fields):
        self.last_write = self.clock.now
        return super().write(event, durable, **fields)


def replay(tmp_path, monkeypatch, plan, total=60, log_every=5, save_every=10):
    """Write the ledger of `plan`: one (how, at_step) per attempt, how in before_resume | kill | kill_mid_save |
    sigterm | finish. Returns the truth: steps redone, interruptions, billed seconds, attempts."""
    clock = Clock()
    monkeypatch.setattr(ledger.time, "time", lambda: clock.now)
    checkpoint, truth = 0, {"redone": 0, "interruptions": 0, "billed": 0.0, "attempts": 0}
    pending_seen = None  # the last step the ledger saw of an attempt that was killed, not yet resumed past
    for i, (how, at) in enumerate(plan):
        led, last = Recorder(tmp_path, clock), i == len(plan) - 1
        truth["attempts"] += 1
        start = clock.tick(5)
        led.write("attempt_start", started=start)
        if how == "before_resume":  # killed while loading: nothing more is written
            truth["interruptions"] += 0 if last else 1
            led.close()
            continue
        if checkpoint:
            led.write("resume", from_step=checkpoint, seconds=1.0)
        led.write("train_start", step=checkpoint, total_steps=total)
        if pending_seen is not None:
            truth["redone"] += max(0, pending_seen - checkpoint)
            pending_seen = None
        step, seen, done = checkpoint, None, how == "finish"
        stop = total if done else max(checkpoint + 1, min(at, total))
        tokens = 0
        while step < stop:
            step += 1
            tokens += 100
            clock.tick(2)
            if step % log_every == 0 or step == total:
                led.write("step", step=step, loss=1.0, tokens_processed=step * 100, trainable_tokens=step * 10,
                          attempt_tokens=tokens, attempt_train_seconds=2.0 * (step - checkpoint))
                seen = step
            if step % save_every == 0 and not (how == "kill_mid_save" and step == stop):
                led.write("checkpoint", step=step, seconds=1.0)
                checkpoint, seen = step, step
        done = done or step >= total
        if how == "sigterm" or done:
            if step > checkpoint:
                led.write("checkpoint", step=step, seconds=1.0)
                checkpoint = step
            led.write("finished" if done else "interrupted", step=step, signal="SIGTERM")
            truth["interruptions"] += 0 if done else 1
        else:  # SIGKILL: the attempt stops writing
            pending_seen = seen
            truth["interruptions"] += 0 if last else 1
        truth["billed"] += led.last_write - start
        led.close()
        if done:
            break
    return truth


KILLS = st.sampled_from(["before_resume", "kill", "kill_mid_save", "sigterm"])
PLANS = st.lists(st.tuples(KILLS, st.integers(1, 70)), min_size=0, max_size=6).map(
    lambda kills: kills + [("finish", 0)])


@settings(max_examples=150, deadline=None)
@given(plan=PLANS, log_every=st.sampled_from([1, 3, 5]), save_every=st.sampled_from([4, 10, 25]))
def test_replayed_kill_sequences_are_accounted_honestly(tmp_path_factory, plan, log_every, save_every):
    tmp = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        truth = replay(tmp, mp, plan, log_every=log_every, save_every=save_every)
    events = ledger.read_events(tmp / "metrics.jsonl")
    s = ledger.summarize(events, usd_per_hour=3.6)
    assert s["status"] == "finished" and s["steps"] == 60
    assert s["attempts"] == truth["attempts"]
    assert s["steps_redone"] == truth["redone"], plan
    assert s["interruptions"] == truth["interruptions"]
    assert s["billed_hours"] * 3600 == pytest.approx(truth["billed"])
    assert s["cost_usd"] == pytest.approx(truth["billed"] / 3600 * 3.6)
    running = ledger.Ledger(tmp)  # a new attempt's running tally, built once from the log, agrees
    assert running.summary(usd_per_hour=3.6) == s
    running.close()


def test_a_restart_killed_before_it_resumes_does_not_count_the_run_as_redone(tmp_path, monkeypatch):
    # 380 steps, checkpoint at 370, SIGKILL; a restart dies while loading (no resume); the next resumes at 370.
    truth = replay(tmp_path, monkeypatch, [("kill", 380), ("before_resume", 0), ("finish", 0)], total=400,
                   log_every=10, save_every=10)
    s = ledger.summarize(ledger.read_events(tmp_path / "metrics.jsonl"))
    assert truth["redone"] == 0 and s["steps_redone"] == 0  # killed at a checkpoint: nothing redone
    replay(tmp_path / "b", monkeypatch, [("kill", 385), ("before_resume", 0), ("finish", 0)], total=400,
           log_every=5, save_every=10)
    s = ledger.summarize(ledger.read_events(tmp_path / "b" / "metrics.jsonl"))
    assert s["steps_redone"] == 5 and s["attempts"] == 3 and s["interruptions"] == 2


def test_running_tally_matches_the_log_at_every_event(tmp_path, monkeypatch):
    replay(tmp_path, monkeypatch, [("kill", 23), ("sigterm", 41), ("kill_mid_save", 50), ("finish", 0)])
    events = ledger.read_events(tmp_path / "metrics.jsonl")
    tally = RunTally()
    for i, e in enumerate(events):
        tally.add(e)
        assert tally.summary() == ledger.summarize(events[: i + 1])


def test_tally_travels_in_a_checkpoint(tmp_path, monkeypatch):
    replay(tmp_path, monkeypatch, [("kill", 23), ("sigterm", 41), ("finish", 0)])
    events = ledger.read_events(tmp_path / "metrics.jsonl")
    whole = ledger.summarize(events)
    carried = json.loads(json.dumps(_tally(events).to_json()))
    assert RunTally.from_json(carried).summary() == whole
    # a new machine adopts the totals: its own attempt comes after them
    new = tmp_path / "new"
    led = ledger.Ledger(new)
    led.write("attempt_start")
    led.adopt_history(carried)
    assert led.attempt == whole["attempts"] + 1
    led.write("finished", step=60)
    s = led.summary()
    assert s["attempts"] == whole["attempts"] + 1 and s["billed_hours"] >= whole["billed_hours"]
    assert ledger.summarize(ledger.read_events(new / "metrics.jsonl")) == s
    led.close()


def _tally(events):
    t = RunTally()
    for e in events:
        t.add(e)
    return t


def test_a_failed_or_diverged_attempt_says_why():
    events = [{"event": "attempt_start", "attempt": 1, "time": 1.0},
              {"event": "train_start", "attempt": 1, "time": 2.0, "step": 0},
              {"event": "diverged", "attempt": 1, "time": 3.0, "step": 7, "error": "loss is nan at step 8"}]
    s = ledger.summarize(events)
    assert s["status"] == "diverged" and s["failures"] == 1 and s["stop_reason"] == "loss is nan at step 8"


def test_a_run_that_stops_between_two_log_lines_counts_every_step(tmp_path, monkeypatch):
    """log_every 100, 12 steps: a SIGTERM after step 5, then a loss that turns nan at step 9 of the resumed run.
    The summary's steps, tokens and training seconds come from the events that end each stretch, not the last log
    line (there is none)."""
    import math

    from ft_runner_util import config_dict
    from test_guards import poison_loss_at

    from frugaltune.train.config import RunConfig
    from frugaltune.train.recipe import Recipe, train

    real_after = Recipe._after_step

    def stop_after_5(self):
        real_after(self)
        if self.progress.step == 5 and self.attempt.tokens:
            self.signals.request()

    monkeypatch.setattr(Recipe, "_after_step", stop_after_5)
    cfg = RunConfig.from_dict(config_dict(tmp_path, steps=12, training={"log_every": 100, "eval_every": None}))
    first = train(cfg, quiet=True)
    assert first.exit_code == 75
    s = first.summary
    assert s["steps"] == 5 and s["tokens_processed"] > 0 and s["trainable_tokens"] > 0
    assert s["tokens_processed_all_attempts"] == s["tokens_processed"] and s["train_seconds"] > 0
    monkeypatch.setattr(Recipe, "_after_step", real_after)
    poison_loss_at(monkeypatch, 9)  # step 9 of the run, the resumed attempt's 4th
    from frugaltune.errors import DivergedError

    with pytest.raises(DivergedError):
        train(cfg, quiet=True)
    s2 = json.loads((first.run_dir / "summary.json").read_text())
    assert s2["status"] == "diverged" and s2["steps"] == 8
    assert s2["tokens_processed"] > s["tokens_processed"]
    assert s2["tokens_processed_all_attempts"] == s2["tokens_processed"]  # nothing redone: a clean SIGTERM stop
    assert s2["train_seconds"] > s["train_seconds"] and math.isfinite(s2["tokens_per_sec"])


def test_a_vanished_attempt_is_billed_to_its_last_heartbeat(tmp_path, monkeypatch):
    """SIGKILL while loading: the log's last word is attempt_start, but the attempt's heartbeat says it was alive
    90 s later; the next attempt bills those 90 s. A heartbeat of another attempt, or of one that ended with a last
    word, changes nothing."""
    from frugaltune.report import heartbeat

    clock = Clock()
    monkeypatch.setattr(ledger.time, "time", lambda: clock.now)
    monkeypatch.setattr(heartbeat.time, "time", lambda: clock.now)
    first = ledger.Ledger(tmp_path)
    first.write("attempt_start", started=clock.now)
    clock.tick(90)
    heartbeat.write(tmp_path, 1)  # alive while loading ... then SIGKILL: no further event
    first.close()
    clock.tick(600)  # the machine came back ten minutes later
    second = ledger.Ledger(tmp_path)
    second.write("attempt_start", started=clock.now)
    second.write("finished", step=0)
    second.close()
    s = ledger.summarize(ledger.read_events(tmp_path / "metrics.jsonl"))
    assert s["billed_hours"] * 3600 == pytest.approx(90.0) and s["interruptions"] == 1
    assert ledger.Ledger(tmp_path).summary()["billed_hours"] * 3600 == pytest.approx(90.0)  # no second last_seen

    heartbeat.write(tmp_path / "missing", 1)  # an unwritable place is not an error
    (tmp_path / heartbeat.HEARTBEAT).write_bytes(b"\xff garbage")
    assert heartbeat.read(tmp_path) is None


def test_a_run_keeps_a_heartbeat_while_it_loads_and_trains(tmp_path, monkeypatch):
    from ft_runner_util import config_dict, events

    from frugaltune.report import heartbeat
    from frugaltune.train.config import RunConfig
    from frugaltune.train.recipe import train

    monkeypatch.setattr(heartbeat, "HEARTBEAT_S", 0.05)
    result = train(RunConfig.from_dict(config_dict(tmp_path, steps=2)), quiet=True)
    beat = heartbeat.read(result.run_dir)
    assert beat["attempt"] == 1 and beat["time"] >= events(result.run_dir, "attempt_start")[0]["time"]
