#!/usr/bin/env bash
# Dense vs UPru vs DUPru at equal training budgets, from the imported RFDN x4
# (../shared/weights/rfdn_x4.pth), fine-tuned on ../shared/data/train, evaluated on
# Set5/Set14/B100 (RGB and Y, PSNR/SSIM). Usage:
#   launch/prune_experiment.sh [OUT=workdirs/prune_rfdn] [ROUNDS=3] [STEPS=400] [PERCENT=10]
# Budget: every method trains ROUNDS x STEPS steps (dense: one run of that length).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-workdirs/prune_rfdn}; ROUNDS=${2:-3}; STEPS=${3:-400}; PERCENT=${4:-10}
SHARED=${JAXSR_SHARED:-../shared}
common=(--config.train.log_every=50 --config.ckpt.every="$STEPS")
python -m jaxsr.train --config=configs/upru.py:rfdn --workdir="$OUT/dense" "${common[@]}" \
  --config.method=dense --config.train.steps=$((ROUNDS * STEPS)) \
  --config.eval.every=$((ROUNDS * STEPS))
for m in upru dupru; do
  python -m jaxsr.train --config=configs/$m.py:rfdn --workdir="$OUT/$m" "${common[@]}" \
    --config.pruning.rounds="$ROUNDS" --config.pruning.percent="$PERCENT" \
    --config.train.steps="$STEPS" --config.eval.every="$STEPS"
done
last=$(printf "round_%02d" "$ROUNDS")
for run in "dense:$OUT/dense/final_model" "upru:$OUT/upru/$last/final_model" \
           "dupru:$OUT/dupru/$last/final_model"; do
  name=${run%%:*}; model=${run#*:}
  python -m jaxsr.evaluate --weights="$model" --data="$SHARED/data/benchmark" \
    --sets=Set5,Set14,B100 --json="$OUT/$name.json" > "$OUT/$name.txt"
done
python -m jaxsr.summarize "$OUT/dense.json" "$OUT/upru.json" "$OUT/dupru.json"
