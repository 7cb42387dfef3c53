"""QLoRA under FSDP (FSDP-QLoRA) on CPU, one rank: the 4-bit base is packed into the compute dtype and sharded as
DTensor parameters, the sharded model computes exactly what the unsharded one does (bitsandbytes re-attaches each
weight's quantisation state after the all-gather), adapter checkpoints and the final state hold the adapter only,
and bitsandbytes' default uint8 packing is refused with a clear error. Two ranks: test_engines.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from ft_runner_util import OFFLINE_ENV, REPO


@pytest.mark.slow
def test_qlora_4bit_weights_are_sharded_by_fsdp_and_compute_the_same(tmp_path):
    script = REPO / "tests" / "train" / "fsdp_qlora_check.py"
    env = {**os.environ, **OFFLINE_ENV, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["options"] == {"quant_storage": "fp32", "device_map": "cpu"}  # packed as the compute dtype
    assert got["n_4bit"] == 2 * 7  # every projection of both blocks
    assert got["types"] == ["DTensor"] and got["dtypes"] == ["torch.float32"]
    assert got["placements"] == ["(Shard(dim=0),)"]  # split along the packed dimension
    assert got["max_diff"] == [0.0, 0.0, 0.0, 0.0]  # train, eval, eval again, train again: bit for bit
    assert got["saved_model_keys"] and all("lora_" in k for k in got["saved_model_keys"])
    assert got["final_keys"] and all("lora_" in k for k in got["final_keys"])
    assert "packed as torch.uint8, which fsdp cannot shard" in got["uint8_error"]
