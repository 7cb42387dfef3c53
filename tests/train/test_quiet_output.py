"""Training output a user can act on: no library chatter, numbers formatted, progress for long phases, and timed
checkpoints that count training time only."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
import warnings
from types import SimpleNamespace

import pytest
from ft_runner_util import OFFLINE_ENV, REPO

from frugaltune.train.progress import PhaseProgress

# Every line `frugaltune train examples/trade-classifier/tiny.yaml` may print: ours, each one the user can act on
# or wants to see. Anything else (a library's warning, a progress bar in a log, a deprecation) fails the test.
OUR_LINES = [
    r"data format: \w+.*",  # the detected data format
    r"training [\d,]+ of [\d,]+ parameters \([\d.]+%\)",
    r"warning: \d+ of \d+ examples were longer than max_seq_len=\d+ and were truncated\.",
    r"(tokenising|eval) [\d,]+/[\d,]+ \(\d+%\), eta \d+:\d\d:\d\d",
    r"eval step \d+: loss [\d.]+, accuracy [\d.]+ \([\d.]+s\)",
    r"step \d+/\d+  loss [\d.]+  [\d,]+ tok/s  eta \d+:\d\d:\d\d",
    r"finished \d+ steps in [\d.]+s billed; [\d,]+ tokens/s; final loss [\d.]+(; eval accuracy [\d.]+)?\. "
    r"Report: frugaltune report \S+",
]


@pytest.mark.slow
def test_tiny_example_prints_only_lines_the_user_can_act_on(tmp_path):
    env = {**os.environ, **OFFLINE_ENV, "COLUMNS": "80"}
    env.pop("TRANSFORMERS_NO_ADVISORY_WARNINGS", None)  # the run must be quiet without the Makefile's help
    proc = subprocess.run([sys.executable, "-m", "frugaltune", "train", "examples/trade-classifier/tiny.yaml",
                           "--max-steps", "20", "--output-dir", str(tmp_path / "run")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    strangers = [line for line in lines if not any(re.fullmatch(p, line) for p in OUR_LINES)]
    assert not strangers, strangers
    assert any(line.startswith("finished 20 steps") for line in lines)
    assert not re.search(r"final loss \d\.\d{6}", proc.stdout)  # formatted, not 0.3950608968734741


def test_phase_progress_in_a_log_is_a_line_every_few_seconds():
    # a fake clock: 30 units, 2 s each; the log gets a line every 10 s (not one per unit), none after the end
    now = [0.0]
    out = io.StringIO()
    progress = PhaseProgress("eval", 30, stream=out, every_s=10.0, clock=lambda: now[0])
    for _ in range(30):
        now[0] += 2.0
        progress.advance(1)
    progress.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 5 and lines[0] == "eval 5/30 (17%), eta 0:00:50"
    assert lines[-1].startswith("eval 25/30")
    short = io.StringIO()  # a phase over within 10 s prints nothing
    with PhaseProgress("tokenising", 3, stream=short, every_s=10.0, clock=lambda: 0.0) as p:
        p.advance(3)
    assert short.getvalue() == ""


def test_label_scoring_raises_no_deprecation_of_our_own_call():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from frugaltune.train.data_classify import _score_with_cache

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        with torch.no_grad():
            scores = _score_with_cache(model, [1, 5, 7], [[3], [4, 9, 2]], pad_id=0)
    assert len(scores) == 2 and all(s < 0 for s in scores)


def test_timed_checkpoints_count_training_time_not_evaluation():
    # an hour of evaluation since the last save does not make a save due; a minute of training steps does
    from frugaltune.train.config import RunConfig
    from frugaltune.train.recipe import Recipe, _Attempt
    from frugaltune.train.state import TrainProgress

    recipe = Recipe.__new__(Recipe)
    recipe.cfg = RunConfig.from_dict({"checkpoints": {"every_steps": None, "every_minutes": 1.0}})
    recipe.progress = TrainProgress()
    recipe.progress.step = 1
    recipe.engine = SimpleNamespace(num_processes=1)
    recipe.attempt = _Attempt(last_save_time=time.monotonic() - 3600)
    recipe.attempt.train_seconds = 5.0
    assert recipe._checkpoint_due() is None
    recipe.attempt.train_seconds = 61.0
    assert recipe._checkpoint_due() == "every_minutes"


def test_progress_bars_stay_out_of_log_files():
    # a tqdm bar (GGUF de-quantisation, Hub downloads) created after quiet_libraries writes nothing into a pipe/file
    code = ("import tqdm.auto\nfrom frugaltune.train.quiet import quiet_libraries\nquiet_libraries()\n"
            "for _ in tqdm.auto.tqdm(range(3), desc='Converting and de-quantizing GGUF tensors...'): pass\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                          env={k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"})
    assert proc.stderr == "" and proc.stdout == ""
