"""`frugaltune report RUN --html FILE`: one self-contained page whose charts show the run, with interruptions and
resumes on every chart and the cost against the estimate's band; opened in headless Chromium, it renders its
charts with no console errors. Several runs: side by side."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from frugaltune.report.html import charts, markers, render_html, timeline

T0 = 1_800_000_000.0


def _events() -> list[dict]:
    """Two attempts: 0-6 steps, SIGTERM at step 6; resumed from step 6 and finished at 10, with GPU samples."""
    ev = [{"event": "attempt_start", "attempt": 1, "time": T0 + 5, "started": T0}]
    for s in range(1, 7):
        ev.append({"event": "step", "attempt": 1, "time": T0 + 10 * s, "step": s, "loss": 3.0 - 0.2 * s,
                   "tokens_per_sec": 1000.0 + s, "peak_memory_gb": 10.0})
        ev.append({"event": "gpu", "attempt": 1, "time": T0 + 10 * s + 5, "utilization_pct": 90.0,
                   "memory_used_gb": 12.0})
    ev.append({"event": "eval", "attempt": 1, "time": T0 + 61, "step": 6, "eval_loss": 2.0})
    ev.append({"event": "interrupted", "attempt": 1, "time": T0 + 62, "step": 6})
    ev.append({"event": "attempt_start", "attempt": 2, "time": T0 + 600, "started": T0 + 598})
    ev.append({"event": "resume", "attempt": 2, "time": T0 + 610, "from_step": 6})
    for s in range(7, 11):
        ev.append({"event": "step", "attempt": 2, "time": T0 + 610 + 10 * (s - 6), "step": s, "loss": 3.0 - 0.2 * s,
                   "tokens_per_sec": 1100.0, "peak_memory_gb": 10.5})
    ev.append({"event": "finished", "attempt": 2, "time": T0 + 660, "step": 10})
    return ev


def _summary(applies: bool = True) -> dict:
    est = {"hardware": {"gpu": "A10", "platform": "lambda"}, "throughput": {"tokens_per_sec": 1200.0},
           "cost_breakdown": {"compute_cost": 0.03, "total_cost": 0.031, "total_cost_range": [0.02, 0.045]}}
    return {"run_name": "r8", "method": "lora", "model": "m", "status": "finished", "steps": 10,
            "tokens_per_sec": 1050.0, "usd_per_hour": 1.29, "cost_usd": 0.027, "estimate": est,
            "estimate_applies": applies, "hardware": {"device": "cuda", "name": "NVIDIA A10", "gpu": "A10"},
            "final_eval_loss": 2.0, "billed_hours": 0.0206}


def test_billed_minutes_lay_attempts_end_to_end():
    offsets, starts = timeline(_events())
    assert offsets == {1: 0.0, 2: pytest.approx(65 / 60)}  # attempt 1 billed 65 s; the 9-minute gap is not
    kinds = [(m.kind, m.label) for m in markers(_events())]
    assert kinds == [("interrupted", "interrupted at step 6"), ("resumed", "resumed from step 6")]


def test_every_chart_marks_interruptions_and_the_cost_sits_in_the_band():
    drawn = charts([("r8", _summary(), _events())])
    assert [c.title for c in drawn] == ["loss", "tokens/s (active training)", "memory", "GPU utilisation",
                                        "cost so far"]
    for c in drawn:
        assert [m.kind for m in c.markers] == ["interrupted", "resumed"], c.title
        assert any(s.points for s in c.series), c.title
    cost = drawn[-1]
    assert cost.band.low == 0.02 and cost.band.high == 0.045 and cost.band.mid == 0.03
    assert cost.series[0].points[-1][1] == pytest.approx((65 + 62) / 3600 * 1.29)  # billed time x price
    assert charts([("r8", _summary(applies=False), _events())])[-1].band is None  # a CPU run has no band


def test_page_is_self_contained():
    page = render_html([("r8", _summary(), _events())])
    assert not re.findall(r'(?:src|href)\s*=\s*["\'](?!#)', page)  # nothing to fetch, not even a local file
    assert "<script" not in page and "@import" not in page and "url(" not in page
    assert page.count("<svg") == 5 and page.count('class="marker interrupted"') == 5
    assert "estimate for A10: $0.02-$0.045" in page and "0.88x" in page  # tokens/s measured / estimated
    side = render_html([("r8", _summary(), _events()), ("r16", {**_summary(), "cost_usd": 0.05}, _events())])
    assert "runs compared: r8, r16" in side and "cheapest: r8" in side and side.count("<svg") == 5


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def open_in_chromium(page, tmp_path) -> tuple[str, str]:
    """(DOM after load, Chromium's log) of `page` opened headless, offline, with a fresh profile; a screenshot
    lands beside it."""
    browser = chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (make test installs it)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
             "--enable-logging=stderr", "--log-level=0", "--window-size=800,1700"]
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120)
    shot = subprocess.run([browser, *flags, f"--screenshot={tmp_path / 'shot.png'}", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0 and shot.returncode == 0, dom.stderr[-2000:]
    return dom.stdout, dom.stderr + shot.stderr


def console_errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if "CONSOLE" in line or "Failed to load resource" in line
            or "Uncaught" in line]


def test_the_error_check_catches_a_broken_page(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><script>console.error("boom"); undefinedThing();</script></body></html>')
    _, log = open_in_chromium(bad, tmp_path)
    assert console_errors(log)  # the check below would see a console error


def test_real_run_report_renders_in_chromium(tmp_path, monkeypatch):
    """The README's command on the run the example config really produces (runs/trade-classifier-tiny), cut to
    30 steps; checked in a real browser."""
    from pathlib import Path

    from frugaltune.cli.app import run

    repo = Path(__file__).resolve().parents[2]
    (tmp_path / "examples").symlink_to(repo / "examples")  # the example's paths, from a scratch working directory
    monkeypatch.chdir(tmp_path)
    assert run(["train", "examples/trade-classifier/tiny.yaml", "--max-steps", "30", "--quiet"]) == 0
    assert run(["report", "runs/trade-classifier-tiny", "--html", "report.html"]) == 0
    page = tmp_path / "report.html"
    html = page.read_text()
    assert not re.findall(r'(?:src|href)\s*=\s*["\'](?!#)', html)
    assert "no GPU estimate applies" in html
    dom, log = open_in_chromium(page, tmp_path)
    assert console_errors(log) == []
    svgs = re.findall(r"<svg class=\"chart\".*?</svg>", dom, flags=re.S)
    assert len(svgs) == 4  # loss, tokens/s, memory, cost (a CPU run has no GPU utilisation to draw)
    assert all("<polyline" in s for s in svgs)
    assert (tmp_path / "shot.png").stat().st_size > 10_000  # a real picture, not a blank page


def test_ticks_cover_the_data_and_read_well():
    from frugaltune.report.svg import _label, nice_ticks

    for lo, hi in ((0, 1100), (0.17, 1.95), (3.2, 3.2), (0, 0.0039), (-2.5, 7.0)):
        ticks = nice_ticks(lo, hi)
        assert ticks[0] <= lo and ticks[-1] >= hi and 2 <= len(ticks) <= 12, (lo, hi, ticks)
    assert [_label(t) for t in nice_ticks(0, 10000)] == ["0", "2,000", "4,000", "6,000", "8,000", "10,000"]


def test_a_long_run_is_drawn_in_hours():
    long = [{**e, "time": T0 + (e["time"] - T0) * 300} for e in _events()]  # the same run, 300 times slower
    drawn = charts([("r8", _summary(), long)])
    assert {c.x_label for c in drawn} == {"billed hours"}
    assert {c.x_range for c in drawn} == {(0.0, max(x for c in drawn for s in c.series for x, _ in s.points))}
    assert drawn[0].markers[0].x == pytest.approx(62 * 300 / 3600)  # the SIGTERM, 5.2 billed hours in
