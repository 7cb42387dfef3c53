"""The original script's front door: `scripts/estimate-training-cost.sh --model-size 7B --dataset-size 10000 --epochs 3
--gpu t4 --platform modal --peft yes --mixed-precision yes` prints the legacy JSON keys of the original example
(model, gpu, platform, peft_enabled, mixed_precision, throughput_tokens_per_sec, estimated_hours,
cost_breakdown{compute_cost, storage_cost, total_cost}) beside the full `frugaltune estimate --json` contract.
Stdlib only (argparse), like the `estimate --json` fast path.
"""

from __future__ import annotations

import argparse
import json
import sys

YES_NO = ("yes", "no")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="estimate-training-cost.sh",
        description="Estimate the time and cost of fine-tuning a model (frugaltune; the JSON keys of the original estimate-training-cost.sh, then the full estimate).",
        epilog="Exit codes: 0 ok; 2 bad input; 3 the job does not fit the GPU (the JSON is still printed, with "
               "memory.fits=false and a warning naming what would fit).")
    p.add_argument("--model-size", required=True, help="Model size like 7B / 13B / 0.5B (a generic Llama-shaped "
                   "model), or any catalog model name / config.json path (e.g. llama-2-7b).")
    p.add_argument("--dataset-size", type=int, required=True, help="Number of training samples.")
    p.add_argument("--epochs", type=float, default=3.0, help="Epochs (default 3).")
    p.add_argument("--gpu", required=True, help="GPU: t4, a10, a10g, l4, a100-40gb, a100-80gb, h100, rtx-4090, ...")
    p.add_argument("--platform", default=None, help="Platform: modal, lambda, aws, gcp, azure, runpod, vast, "
                   "coreweave, nebius, paperspace (default: the cheapest offer for the GPU).")
    p.add_argument("--peft", choices=YES_NO, default="yes", help="yes = LoRA (PEFT), no = full fine-tuning.")
    p.add_argument("--mixed-precision", choices=YES_NO, default="yes",
                   help="yes = bf16 (fp16 on GPUs without bf16, e.g. T4), no = fp32.")
    p.add_argument("--tokens-per-sample", type=float, default=500.0, help="Mean tokens per sample (default 500).")
    p.add_argument("--seq-len", type=int, default=512, help="Max sequence length (default 512).")
    p.add_argument("--lora-r", type=int, default=16, help="LoRA rank (default 16).")
    p.add_argument("--micro-batch", type=int, default=1, help="Micro-batch per GPU (default 1).")
    p.add_argument("--num-gpus", type=int, default=1, help="GPUs (default 1).")
    p.add_argument("--pricing", choices=("on-demand", "spot"), default="on-demand", help="Pricing (default on-demand).")
    return p


def legacy_json(args: argparse.Namespace, contract: dict) -> dict:
    """The original script's keys first, then the full contract."""
    c = contract["cost_breakdown"]
    return {
        "model": args.model_size,
        "gpu": contract["hardware"]["gpu"],
        "platform": contract["hardware"]["platform"],
        "peft_enabled": args.peft,
        "mixed_precision": args.mixed_precision,
        "throughput_tokens_per_sec": round(contract["throughput"]["tokens_per_sec"], 1),
        "estimated_hours": round(contract["time"]["hours"], 2),
        "cost_breakdown": {"compute_cost": c["compute_cost"], "storage_cost": c["storage_cost"],
                           "total_cost": c["total_cost"], "usd_per_epoch": c["usd_per_epoch"], "spot": c["spot"]},
        **{k: v for k, v in contract.items() if k not in ("model", "cost_breakdown")},
        "model_details": contract["model"],
    }


def main(argv: list[str] | None = None) -> int:
    from frugaltune.errors import FrugalError

    args = build_parser().parse_args(argv)
    try:
        from frugaltune.estimate import build as api

        est = api.estimate(model=args.model_size, gpu=args.gpu, platform=args.platform, pricing=args.pricing,
                           num_gpus=args.num_gpus, method="lora" if args.peft == "yes" else "full",
                           precision="bf16" if args.mixed_precision == "yes" else "fp32", seq_len=args.seq_len,
                           micro_batch=args.micro_batch, lora_r=args.lora_r, dataset_size=args.dataset_size,
                           tokens_per_sample=args.tokens_per_sample, epochs=args.epochs)
    except FrugalError as err:
        print(f"error: {err.message}" + (f"\nTo fix: {err.fix}" if err.fix else ""), file=sys.stderr)
        return err.exit_code
    contract = est.to_json()
    try:
        print(json.dumps(legacy_json(args, contract), indent=2))
    except BrokenPipeError:
        return 0
    if not contract["memory"]["fits"]:
        print("does not fit: " + "; ".join(w for w in contract["warnings"] if "does not fit" in w), file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
