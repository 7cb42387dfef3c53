"""Measured runs feed back into later estimates (estimate/measured.py)."""

from frugaltune import api
from frugaltune.estimate import measured


def _tps(**kw):
    return api.estimate(model="llama-2-7b", gpu="a10", platform="lambda", method="lora", **kw).to_json()


def test_measured_runs_scale_tokens_per_s(tmp_path, monkeypatch):
    store = tmp_path / "measurements.jsonl"
    monkeypatch.setenv(measured.ENV_FILE, str(store))
    before = _tps()["throughput"]
    assert before["calibration_runs"] == 0
    # Two runs measured 20 % and 30 % slower than estimated: the median ratio 0.75 scales later estimates.
    for ratio in (0.8, 0.7):
        measured.record_measurement(gpu="A10", method="lora", model="llama-2-7b",
                                    measured_tokens_per_sec_per_gpu=1000 * ratio,
                                    estimated_tokens_per_sec_per_gpu=1000)
    after = _tps()["throughput"]
    assert after["calibration_runs"] == 2
    assert after["source"] == "calibrated"
    assert abs(after["tokens_per_sec"] / before["tokens_per_sec"] - 0.75) < 1e-9
    # Another method on the same GPU is untouched.
    assert _tps(micro_batch=1)["throughput"]["calibration_runs"] == 2
    qlora = api.estimate(model="llama-2-7b", gpu="a10", platform="lambda", method="qlora").to_json()["throughput"]
    assert qlora["calibration_runs"] == 0


def test_torn_line_is_ignored_and_ratio_bounded(tmp_path, monkeypatch):
    store = tmp_path / "m.jsonl"
    monkeypatch.setenv(measured.ENV_FILE, str(store))
    measured.record_measurement(gpu="A10", method="lora", model="x", measured_tokens_per_sec_per_gpu=100_000,
                                estimated_tokens_per_sec_per_gpu=1)
    with store.open("a") as fh:
        fh.write('{"gpu": "A10", "method": "lo')  # a writer killed mid-line
    ratio, runs = measured.throughput_correction("A10", "lora")
    assert runs == 1
    assert ratio == measured.RATIO_BOUNDS[1]  # one absurd run cannot scale an estimate by 1e5
