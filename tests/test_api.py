"""The Python API as the README shows it: `from frugaltune import estimate, compare, recommend, plan, train, report`,
each a callable with a typed result, and the subpackages of the same names still importable."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
import frugaltune.estimate.memory                 # the subpackage first: it must not shadow the function
import frugaltune.plan.search as search
from frugaltune.estimate import memory
from frugaltune import estimate, compare, recommend, plan, train, report
import frugaltune.train.config
out = {
    "estimate": type(estimate(model="llama-2-7b", gpu="a10").to_json()).__name__,
    "memory": frugaltune.estimate.memory.__name__ == memory.__name__ == "frugaltune.estimate.memory",
    "search": search.__name__, "train_config": frugaltune.train.config.__name__,
    "callable": [callable(f) for f in (estimate, compare, recommend, plan, train, report)],
    "doc": "Estimate peak memory" in (estimate.__doc__ or ""),
}
print(json.dumps(out))
"""


def test_api_names_are_functions_even_after_their_subpackages_load():
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out == {"estimate": "dict", "memory": True, "search": "frugaltune.plan.search",
                   "train_config": "frugaltune.train.config", "callable": [True] * 6, "doc": True}


def test_the_readme_one_liner():
    code = 'from frugaltune import estimate; print(estimate(model="llama-2-7b", gpu="a10").to_json())'
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and "'peak_gb_per_gpu'" in proc.stdout, proc.stderr


def test_results_are_typed_not_tuples(tmp_path):
    from frugaltune import compare, plan, recommend
    from frugaltune.plan.recommend import Recommendation
    from frugaltune.plan.runconfig import PlannedRun
    from frugaltune.plan.search import Comparison

    rec = recommend(model="qwen2.5-0.5b", dataset_size=200, epochs=1)
    assert isinstance(rec, Recommendation) and rec.to_json()["settings"]["method"] == rec.job.method
    planned = plan(model="qwen2.5-0.5b", dataset_size=200, epochs=1, output=tmp_path / "run.yaml")
    assert isinstance(planned, PlannedRun) and planned.path.read_text() == planned.yaml
    assert planned.to_json()["config"]["training"]["micro_batch"] == planned.config.training.micro_batch
    assert isinstance(compare(model="qwen2.5-0.5b", gpu="a10", dataset_size=200), Comparison)


def test_report_is_typed(tmp_path):
    from frugaltune import report
    from frugaltune.errors import FrugalError

    with pytest.raises(FrugalError, match="not a frugaltune run directory"):
        report(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"status": "finished", "tokens_per_sec": 12.5}))
    r = report(tmp_path)
    assert r.status == "finished" and r.measured("tokens_per_sec") == 12.5 and r.to_json()["status"] == "finished"
