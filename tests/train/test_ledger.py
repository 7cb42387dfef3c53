"""The ledger's summary from hand-made events: billed time of every attempt, tokens/s across resumes, dollars,
interruptions (SIGTERM and vanished attempts), and the estimate ratios."""

from __future__ import annotations

import json

import pytest

from frugaltune.report import compare, ledger


def ev(event, attempt, time, **kw):
    return {"event": event, "attempt": attempt, "time": time, **kw}


def step(attempt, time, step, tokens, attempt_tokens, train_s, loss=1.0, peak=2.0):
    return ev("step", attempt, time, step=step, loss=loss, tokens_processed=tokens, trainable_tokens=tokens // 10,
              attempt_tokens=attempt_tokens, attempt_train_seconds=train_s, peak_memory_gb=peak,
              peak_memory_source="process_rss_peak")


# attempt 1: 0..100 s, SIGTERM at step 20 (saved); attempt 2 starts 400 s later (no machine meanwhile), is
# SIGKILLed after step 35 with its last checkpoint at 30; attempt 3 resumes at 30 and finishes at step 50.
EVENTS = [
    ev("attempt_start", 1, 1000.0),
    step(1, 1050.0, 10, 1000, 1000, 40.0), step(1, 1090.0, 20, 2000, 2000, 80.0, peak=3.0),
    ev("checkpoint", 1, 1095.0, step=20, seconds=2.0), ev("interrupted", 1, 1100.0, step=20, signal="SIGTERM"),
    ev("attempt_start", 2, 1500.0), ev("resume", 2, 1510.0, from_step=20, seconds=1.0),
    step(2, 1550.0, 30, 3000, 1000, 30.0), ev("checkpoint", 2, 1552.0, step=30, seconds=4.0),
    step(2, 1570.0, 35, 3500, 1500, 45.0),
    ev("attempt_start", 3, 2000.0), ev("resume", 3, 2005.0, from_step=30, seconds=3.0),
    step(3, 2060.0, 40, 4000, 1000, 50.0), step(3, 2110.0, 50, 5000, 2000, 100.0, loss=0.5),
    ev("eval", 3, 2120.0, step=50, eval_loss=0.7, eval_accuracy=0.9), ev("finished", 3, 2125.0, step=50),
]


def test_summary_by_hand():
    s = ledger.summarize(EVENTS, usd_per_hour=3.6)
    assert s["status"] == "finished" and s["steps"] == 50 and s["attempts"] == 3
    assert s["interruptions"] == 2  # the SIGTERM and the SIGKILL (attempt 2 vanished, attempt 3 followed)
    assert s["billed_hours"] == pytest.approx((100 + 70 + 125) / 3600)  # each attempt: start to its last event
    assert s["cost_usd"] == pytest.approx(295 / 3600 * 3.6)  # = billed hours x price
    assert s["wall_hours"] == pytest.approx(1125 / 3600)  # includes the 400 s and 430 s without a machine
    assert s["tokens_processed"] == 5000  # the trajectory of the final model
    assert s["tokens_processed_all_attempts"] == 2000 + 1500 + 2000  # incl. steps 31-35 done twice
    assert s["tokens_per_sec"] == pytest.approx(5500 / (80 + 45 + 100))
    assert s["steps_redone"] == 5
    assert s["peak_memory_gb"] == 3.0 and s["peak_memory_source"] == "process_rss_peak"
    assert (s["final_train_loss"], s["final_eval_loss"], s["eval_accuracy"]) == (0.5, 0.7, 0.9)
    assert s["checkpoint_save_seconds_mean"] == 3.0 and s["resume_seconds_mean"] == 2.0


def test_status_of_unfinished_runs_and_no_price():
    s = ledger.summarize(EVENTS[:5])
    assert s["status"] == "interrupted" and s["interruptions"] == 1 and s["cost_usd"] is None
    assert ledger.summarize(EVENTS[:9])["status"] == "incomplete"


def test_ledger_appends_attempts_and_skips_a_torn_last_line(tmp_path):
    first = ledger.Ledger(tmp_path)
    first.write("attempt_start")
    first.close()
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"event": "step", "attem')  # killed mid-write
    second = ledger.Ledger(tmp_path)
    assert second.attempt == 2
    second.write("attempt_start", durable=True)
    second.close()
    assert [e["attempt"] for e in ledger.read_events(tmp_path / "metrics.jsonl")] == [1, 2]


def test_a_damaged_log_line_is_skipped_not_a_crash(tmp_path):
    first = ledger.Ledger(tmp_path)
    first.write("attempt_start")
    first.close()
    with (tmp_path / "metrics.jsonl").open("ab") as f:
        f.write(b"\xff\xfe garbage\n5\n[1, 2]\n")  # a damaged disk: bytes that are not UTF-8, bare JSON values
    second = ledger.Ledger(tmp_path)  # what a resumed run and `report --html` read
    assert second.attempt == 2
    second.write("attempt_start", durable=True)
    second.close()
    assert [e["attempt"] for e in ledger.read_events(tmp_path / "metrics.jsonl")] == [1, 2]


def test_vs_estimate_ratios():
    estimate = {"throughput": {"tokens_per_sec": 100.0}, "memory": {"peak_gb_per_gpu": 4.0},
                "time": {"hours": 2.0, "billed_hours": 2.0}, "cost_breakdown": {"compute_cost": 10.0}}
    summary = {"tokens_per_sec": 50.0, "peak_memory_gb": 5.0, "train_hours": 1.0, "billed_hours": 3.0,
               "cost_usd": None}
    vs = compare.vs_estimate(summary, estimate)
    assert vs["tokens_per_sec"] == {"measured": 50.0, "estimated": 100.0, "ratio": 0.5}
    assert vs["peak_memory_gb"]["ratio"] == 1.25 and vs["billed_hours"]["ratio"] == 1.5
    assert vs["cost_usd"]["ratio"] is None
    assert compare.vs_estimate(summary, None)["tokens_per_sec"]["ratio"] is None


def test_summary_file_is_written_atomically(tmp_path):
    path = ledger.write_summary(tmp_path, {"steps": 3})
    assert json.loads(path.read_text()) == {"steps": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
