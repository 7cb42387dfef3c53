#!/usr/bin/env bash
# The original estimate-training-cost.sh interface, served by `frugaltune estimate`:
#   bash scripts/estimate-training-cost.sh --model-size 7B --dataset-size 10000 --epochs 3 \
#       --gpu t4 --platform modal --peft yes --mixed-precision yes
# Prints JSON with the original script's keys (model, gpu, platform, peft_enabled, mixed_precision, throughput_tokens_per_sec,
# estimated_hours, cost_breakdown{compute_cost, storage_cost, total_cost}) and the full estimate contract.
# `--help` lists every flag.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -x "$here/.venv/bin/python" ]; then py="$here/.venv/bin/python"; else py="${PYTHON:-python3}"; fi
PYTHONPATH="$here/src${PYTHONPATH:+:$PYTHONPATH}" exec "$py" -m frugaltune.cli.seed "$@"
