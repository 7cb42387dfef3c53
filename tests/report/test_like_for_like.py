"""Like for like: a run is compared only with an estimate for the machine it measured."""

from types import SimpleNamespace

from frugaltune.report import compare, hardware


class _FakeCuda:
    def __init__(self, name):
        self.name = name

    def is_available(self):
        return self.name is not None

    def get_device_name(self, index=0):
        return self.name


def _torch(gpu_name=None, threads=2):
    return SimpleNamespace(cuda=_FakeCuda(gpu_name), get_num_threads=lambda: threads)


def test_device_names_resolve_to_catalog_gpus():
    hw = hardware.detect(_torch("NVIDIA A10G"), SimpleNamespace(type="cuda", index=0))
    assert hw == {"device": "cuda", "name": "NVIDIA A10G", "gpu": "A10G", "count": 1}
    assert hardware.detect(_torch("Tesla T4"))["gpu"] == "T4"
    assert hardware.detect(_torch("NVIDIA Imaginary X9"))["gpu"] is None
    cpu = hardware.detect(_torch(None, threads=1), SimpleNamespace(type="cpu", index=None))
    assert cpu == {"device": "cpu", "name": "CPU (1 thread)", "gpu": None, "count": 1}


def test_the_machine_wins_over_the_configured_gpu():
    # configured as an A10 but it ran on an L4: the estimate is for the L4, and it applies
    assert hardware.estimate_gpu("a10", {"device": "cuda", "name": "NVIDIA L4", "gpu": "L4"}) == ("L4", None)
    gpu, why = hardware.estimate_gpu("a10", {"device": "cpu", "name": "CPU (2 threads)", "gpu": None})
    assert gpu == "a10" and why == "no GPU estimate applies: this run measured a CPU (2 threads)"
    gpu, why = hardware.estimate_gpu(None, {"device": "cuda", "name": "NVIDIA Imaginary X9", "gpu": None})
    assert gpu is None and "not in the GPU catalog" in why


def test_old_and_new_summaries():
    est = {"throughput": {"tokens_per_sec": 1000.0}}
    cpu_old = {"device": "cpu", "estimate": est, "tokens_per_sec": 50.0}
    gpu_old = {"device": "cuda:0", "estimate": est, "tokens_per_sec": 800.0}
    assert hardware.applicable_estimate(cpu_old) is None and hardware.applicable_estimate(gpu_old) is est
    assert hardware.not_applicable_note(cpu_old) == "no GPU estimate applies to cpu: the measurement is shown alone"
    new = {"device": "cpu", "estimate": est, "estimate_applies": False, "hardware": {"name": "CPU (1 thread)"}}
    assert "no GPU estimate applies to CPU (1 thread)" in hardware.not_applicable_note(new)
    ratios = compare.vs_estimate(gpu_old, hardware.applicable_estimate(gpu_old))
    assert ratios["tokens_per_sec"]["ratio"] == 0.8
    assert compare.vs_estimate(cpu_old, hardware.applicable_estimate(cpu_old))["tokens_per_sec"]["ratio"] is None


def test_cpu_report_says_no_gpu_estimate_applies():
    import io

    from frugaltune.console import Console
    from frugaltune.report.render import render

    out = io.StringIO()
    console = Console(file=out, width=80)
    est = {"throughput": {"tokens_per_sec": 1000.0}, "hardware": {"gpu": "A10", "platform": "lambda"}}
    render({"run_name": "r", "device": "cpu", "estimate": est, "tokens_per_sec": 3360.0, "status": "finished",
            "estimate_applies": False, "hardware": {"device": "cpu", "name": "CPU (1 thread)"}}, console)
    text = " ".join(out.getvalue().split())
    assert "no GPU estimate applies" in text and "ratio" not in text and "3.36x" not in text
    out = io.StringIO()
    console = Console(file=out, width=80)
    render({"run_name": "r", "device": "cuda:0", "estimate": est, "tokens_per_sec": 800.0, "status": "finished",
            "estimate_applies": True, "hardware": {"device": "cuda", "name": "NVIDIA A10", "gpu": "A10"}}, console)
    text = " ".join(out.getvalue().split())
    assert "0.80x" in text and "estimated for A10 on lambda" in text and "no GPU estimate" not in text
