#!/usr/bin/env bash
# make demo: estimate -> plan -> a tiny CPU fine-tune that is interrupted (SIGTERM, as a spot reclaim notice) and
# resumed automatically by a supervisor loop -> the report (table, and an HTML page with charts). A few minutes on
# 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
FT="${FRUGALTUNE:-.venv/bin/frugaltune}"
[ -x "$FT" ] || FT="frugaltune"
RUN=runs/trade-classifier-tiny
CONFIG=examples/trade-classifier/tiny.yaml
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. Estimate: Llama-2-7B LoRA, 10k samples x 500 tokens x 3 epochs, Lambda A10"
"$FT" estimate --model llama-2-7b --method lora --gpu a10 --platform lambda \
    --dataset-size 10000 --tokens-per-sample 500 --epochs 3

step "2. Plan: the cheapest way under \$20, written as a config, checked by dry run"
mkdir -p runs
"$FT" plan --model llama-2-7b --dataset examples/trade-classifier/data/train.jsonl --data-format classification \
    --budget-usd 20 --epochs 3 -o runs/llama2-7b-plan.yaml
# the dry run estimates the written config as the runner will run it: the same memory, steps and epochs
"$FT" train runs/llama2-7b-plan.yaml --dry-run
echo "(on a GPU with the weights: $FT train runs/llama2-7b-plan.yaml)"

step "3. Fine-tune the tiny model on CPU, and pull the plug half way"
rm -rf "$RUN"
"$FT" train "$CONFIG" &
PID=$!
# wait for step 60 in the ledger, then send what a spot reclaim sends: SIGTERM
until grep -q '"event": "step", "attempt": 1, "time": [0-9.]*, "step": 60,' "$RUN/metrics.jsonl" 2>/dev/null; do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.2
done
echo ">>> kill -TERM $PID   (a spot instance being reclaimed)"
kill -TERM "$PID" 2>/dev/null || true
set +e
wait "$PID"
CODE=$?
set -e
echo ">>> training exited with code $CODE (75 = interrupted, checkpoint saved: restart to resume)"
ls "$RUN/checkpoints"

step "4. A supervisor restarts it (exit code 75); it resumes exactly"
until "$FT" train "$CONFIG"; do
    code=$?
    [ "$code" -eq 75 ] || { echo "training failed with exit code $code"; exit "$code"; }
    echo "interrupted again; restarting"
done

step "5. Report: what the run really did and cost, interruption included"
"$FT" report "$RUN"
"$FT" report "$RUN" --html "$RUN/report.html"
echo "(charts: open $RUN/report.html in a browser)"
echo "(live metrics: tensorboard --logdir $RUN)"
