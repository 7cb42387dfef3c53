"""Run by test_fsdp_qlora.py in a fresh process (it needs a process group): QLoRA under the FSDP engine on one rank.

Prints one JSON line: how the 4-bit weights were packed and sharded, whether the sharded model computes what the
unsharded one does (train and eval passes, twice: bitsandbytes' CPU repacking must not corrupt the next pass),
what an adapter checkpoint and the final state dict hold, and the error a uint8-packed model gets.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from frugaltune.errors import ConfigError
from frugaltune.train import model as M
from frugaltune.train.config import RunConfig
from frugaltune.train.engines import make_engine
from frugaltune.train.presets import build_preset


def build(cfg, preset: Path, options: dict):
    src = M.resolve_source(cfg, preset_dir=preset)
    return M.apply_method(M.load_base_model(cfg, src, "fp32", **options), cfg)


def logits(model, x, train: bool):
    model.train(train)
    with torch.no_grad():
        return model(input_ids=x).logits


def main(tmp: Path) -> None:
    cfg = RunConfig.from_dict({"model": {"source": "preset:tiny-llama"}, "training": {"precision": "fp32"},
                               "method": {"kind": "qlora", "lora": {"r": 4, "dropout": 0.0}},
                               "distributed": {"engine": "fsdp"}, "output": {"dir": str(tmp / "run")}})
    preset = build_preset("tiny-llama", tmp / "preset", seed=0)
    engine = make_engine(cfg, "fp32")
    options = engine.load_options()
    torch.manual_seed(0)
    model = build(cfg, preset, options)
    x = torch.randint(0, 400, (2, 16), generator=torch.Generator().manual_seed(1))
    want = logits(model, x, train=True)
    model, optimizer = engine.prepare(model, lambda m: torch.optim.AdamW(p for p in m.parameters() if p.requires_grad))
    from frugaltune.train.engines.fsdp_load import linear_4bit_modules

    four_bit = [m.weight for m in linear_4bit_modules(model)]
    passes = [logits(model, x, train) for train in (True, False, False, True)]
    out = tmp / "ckpt"
    out.mkdir()
    engine.save_state(out, model, optimizer, trainable_only=True)
    import torch.distributed.checkpoint as dcp

    saved = list(dcp.FileSystemReader(str(out / "dcp")).read_metadata().state_dict_metadata)
    engine.load_state(out, model, optimizer, trainable_only=True)
    final = engine.full_state_dict(model, trainable_only=True)
    torch.manual_seed(0)
    try:
        engine.prepare(build(cfg, preset, {}), lambda m: None)  # bitsandbytes' default uint8 packing
        uint8_error = None
    except ConfigError as err:
        uint8_error = err.message
    print(json.dumps({
        "options": options, "n_4bit": len(four_bit),
        "types": sorted({type(w).__name__ for w in four_bit}), "dtypes": sorted({str(w.dtype) for w in four_bit}),
        "placements": sorted({str(w.placements) for w in four_bit}),
        "max_diff": [float((p - want).abs().max()) for p in passes],
        "saved_model_keys": [k for k in saved if k.startswith("model.")],
        "final_keys": sorted(final), "uint8_error": uint8_error}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
