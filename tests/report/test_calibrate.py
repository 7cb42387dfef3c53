"""A finished GPU run feeds the estimator; CPU or unfinished runs never do."""

from frugaltune import api
from frugaltune.estimate import measured
from frugaltune.report.calibrate import measurement_from_summary, record_run


def _summary(device="cuda:0", status="finished", tokens_per_sec=1000.0, processes=1):
    est = api.estimate(model="llama-2-7b", gpu="a10", platform="lambda", method="lora").to_json()
    return {"status": status, "device": device, "num_processes": processes, "tokens_per_sec": tokens_per_sec,
            "peak_memory_gb": 15.0, "estimate": est}


def test_cpu_and_unfinished_runs_are_not_recorded():
    assert measurement_from_summary(_summary(device="cpu")) is None
    assert measurement_from_summary(_summary(status="interrupted")) is None
    assert measurement_from_summary({**_summary(), "estimate": None}) is None


def test_finished_gpu_run_calibrates_the_next_estimate(tmp_path):
    before = api.estimate(model="llama-2-7b", gpu="a10", platform="lambda", method="lora").to_json()["throughput"]
    # Two GPUs measured 2,000 tokens/s in total = 1,000 per GPU.
    summary = _summary(tokens_per_sec=2000.0, processes=2)
    row = measurement_from_summary(summary)
    assert row["gpu"] == "A10" and row["method"] == "lora"
    assert row["measured_tokens_per_sec_per_gpu"] == 1000.0
    assert record_run(summary, tmp_path) == measured.measurements_path()
    after = api.estimate(model="llama-2-7b", gpu="a10", platform="lambda", method="lora").to_json()["throughput"]
    assert after["source"] == "calibrated" and after["calibration_runs"] == 1
    assert abs(after["tokens_per_sec_per_gpu"] - 1000.0) < 1e-6  # the ratio carries the estimate to the measurement
    assert before["calibration_runs"] == 0
