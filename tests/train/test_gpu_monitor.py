"""The NVML sampler's logic on a CPU, with a stand-in for pynvml: readings, `gpu` events, the low-utilisation
warning (once per low stretch, again after a recovery), and a machine without NVML."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from frugaltune.report.ledger import Ledger, read_events
from frugaltune.train.gpu_monitor import GpuMonitor
from frugaltune.train.metric_logging import ObservedLedger


class FakeNvml:
    """Two GPUs; utilisation follows a script; the second board reports no power."""

    def __init__(self, utilisation: list[float]):
        self.script, self.calls, self.shut = list(utilisation), 0, False

    def nvmlInit(self):
        pass

    def nvmlShutdown(self):
        self.shut = True

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetUtilizationRates(self, h):
        value = self.script[min(self.calls // 2, len(self.script) - 1)]
        self.calls += 1
        return SimpleNamespace(gpu=value, memory=10)

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(used=int(20e9) if h == 0 else int(4e9), total=int(24e9))

    def nvmlDeviceGetPowerUsage(self, h):
        if h == 1:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return 150_000  # milliwatts


def test_readings_go_to_the_ledger(tmp_path):
    ledger = Ledger(tmp_path)
    monitor = GpuMonitor(ledger, FakeNvml([90.0]), every_s=5, low_pct=70)
    reading = monitor.sample()
    assert reading["utilization_pct"] == 90.0 and reading["memory_used_gb"] == pytest.approx(24.0)
    assert reading["power_w"] == 150.0 and reading["gpus"][1]["power_w"] is None
    ledger.close()
    (event,) = [e for e in read_events(ledger.path) if e["event"] == "gpu"]
    assert event["utilization_pct"] == 90.0 and len(event["gpus"]) == 2


def test_low_utilisation_warns_once_per_low_stretch(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="frugaltune.train")
    # a 60 s window at 20 s per sample = 3 samples; low, low, low (warn), low (no repeat), high, low x3 (warn again)
    nvml = FakeNvml([40, 50, 60, 30, 95, 20, 20, 20])
    ledger = Ledger(tmp_path)
    monitor = GpuMonitor(ledger, nvml, every_s=20, low_pct=70, window_s=60)
    warned = []
    for _ in range(8):
        monitor.sample()
        warned.append(sum("stayed under 70 %" in r.message for r in caplog.records))
    assert warned == [0, 0, 1, 1, 1, 1, 1, 2]
    assert "micro_batch" in caplog.records[0].message
    monitor.stop()
    assert nvml.shut


def test_busy_gpu_never_warns(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="frugaltune.train")
    monitor = GpuMonitor(Ledger(tmp_path), FakeNvml([85, 99, 72, 100]), every_s=20, low_pct=70, window_s=60)
    for _ in range(6):
        monitor.sample()
    assert not caplog.records


def test_thread_samples_through_the_observed_ledger(tmp_path):
    import time

    class Collect:
        def __init__(self):
            self.points = []

        def log(self, metrics, step):
            self.points.append((step, metrics))

        def params(self, params):
            pass

        def close(self):
            pass

    sink = Collect()
    observed = ObservedLedger(Ledger(tmp_path), [sink], usd_per_hour=None, billed_hours_before=0.0, step_of=lambda: 7)
    monitor = GpuMonitor.start(observed, every_s=0.05, low_pct=70, nvml=FakeNvml([80]))
    deadline = time.time() + 10
    while not sink.points and time.time() < deadline:
        time.sleep(0.02)
    monitor.stop()
    step, metrics = sink.points[0]
    assert step == 7 and metrics == {"gpu/utilization_pct": 80.0, "gpu/memory_used_gb": 24.0, "gpu/power_w": 150.0}


def test_no_nvml_is_a_warning_not_a_failure(tmp_path, caplog):
    class Broken(FakeNvml):
        def nvmlInit(self):
            raise RuntimeError("NVML Shared Library Not Found")

    caplog.set_level(logging.WARNING, logger="frugaltune.train")
    assert GpuMonitor.start(Ledger(tmp_path), every_s=5, low_pct=70, nvml=Broken([0])) is None
    assert "GPU sampling off" in caplog.text and "nvidia-ml-py" in caplog.text
