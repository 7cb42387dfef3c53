"""GPU utilisation, memory and power, sampled through NVML (`nvidia-ml-py`) every few seconds while a run trains.

Each sample becomes a `gpu` event in metrics.jsonl (and a point in TensorBoard / MLflow / W&B) with the mean
utilisation over this machine's visible GPUs, their memory in use and their power draw. When utilisation stays under
`low_pct` for a whole window (a minute by default), one warning says so and names the usual causes, as the
checklist of cheap training asks: "monitor GPU utilization". NVML is what `nvidia-smi` reads; `nvidia-ml-py` is
NVIDIA's own binding (module `pynvml`). The sampler takes the module as an argument, so its logic is tested on a
CPU with a stand-in.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("frugaltune.train")
LOW_WINDOW_S = 60.0


class GpuMonitor:
    """Samples NVML on a daemon thread; `sample()` is one reading, usable without the thread."""

    def __init__(self, sink, nvml, *, every_s: float = 5.0, low_pct: float = 70.0, window_s: float = LOW_WINDOW_S):
        self.sink, self.nvml, self.every_s, self.low_pct = sink, nvml, every_s, low_pct
        self.window = max(2, round(window_s / every_s))  # samples that make "stays under"
        self.recent: list[float] = []
        self.warned = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        nvml.nvmlInit()
        self.handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]

    @classmethod
    def start(cls, sink, *, every_s: float, low_pct: float, nvml=None) -> GpuMonitor | None:
        """A running monitor, or None (with a warning) when NVML is not there."""
        try:
            if nvml is None:
                import pynvml as nvml
            monitor = cls(sink, nvml, every_s=every_s, low_pct=low_pct)
        except Exception as err:  # noqa: BLE001 -- ImportError, or NVMLError without a driver
            log.warning("GPU sampling off (%s: %s); install nvidia-ml-py for utilisation and power in the metrics.",
                        type(err).__name__, err)
            return None
        monitor._thread = threading.Thread(target=monitor._run, name="frugaltune-nvml", daemon=True)
        monitor._thread.start()
        return monitor

    def read(self) -> dict:
        """One reading over all GPUs: mean utilisation %, memory in use (GB), power (W), and each GPU's."""
        nv, per_gpu = self.nvml, []
        for h in self.handles:
            util = float(nv.nvmlDeviceGetUtilizationRates(h).gpu)
            mem_gb = nv.nvmlDeviceGetMemoryInfo(h).used / 1e9
            try:
                power_w = nv.nvmlDeviceGetPowerUsage(h) / 1000.0  # milliwatts
            except Exception:  # noqa: BLE001 -- some boards do not report power
                power_w = None
            per_gpu.append({"utilization_pct": util, "memory_used_gb": mem_gb, "power_w": power_w})
        powers = [g["power_w"] for g in per_gpu if g["power_w"] is not None]
        return {"utilization_pct": sum(g["utilization_pct"] for g in per_gpu) / max(len(per_gpu), 1),
                "memory_used_gb": sum(g["memory_used_gb"] for g in per_gpu),
                "power_w": sum(powers) if powers else None, "gpus": per_gpu}

    def sample(self) -> dict:
        """Read, write a `gpu` event, and warn once when utilisation has stayed low for the whole window."""
        reading = self.read()
        self.sink.write("gpu", **reading)
        self.recent = (self.recent + [reading["utilization_pct"]])[-self.window:]
        low = len(self.recent) == self.window and max(self.recent) < self.low_pct
        if low and not self.warned:
            mean = sum(self.recent) / len(self.recent)
            log.warning("GPU utilisation has stayed under %.0f %% for %.0f s (mean %.0f %%): the GPU waits on "
                        "something: data loading or tokenisation, too small a batch (raise training.micro_batch), "
                        "or checkpoint/evaluation time.", self.low_pct, self.window * self.every_s, mean)
        self.warned = low if low else (self.warned and self.recent[-1] < self.low_pct)
        return reading

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.sample()
            except Exception as err:  # noqa: BLE001 -- a sampler problem never stops training
                log.warning("GPU sampling stopped: %s", err)
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every_s + 1)
        try:
            self.nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass
