#!/usr/bin/env bash
# SLS adaptive inference (§3.6) on RFDN x4: the candidates are the SLS models at 1/4, 1/8 and
# 1/16 of the pruned convs' MACs (trained here if $CANDS lacks them, with the settings of
# launch/sls_experiment.sh) plus bicubic; MSE estimators are trained for them
# (configs/adaptive.py, STEPS steps) and the ensemble is evaluated on Set14 and B100 for every
# beta in BETAS, with every candidate alone on the same tiles (jaxsr.evaluate --alone).
# Rerunning skips finished parts and resumes a killed training. Usage:
#   launch/adaptive_experiment.sh [OUT=workdirs/adaptive] [STEPS=1500] [BETAS=0,0.05,...]
#                                 [CANDS=workdirs/sls_exp]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-workdirs/adaptive}; STEPS=${2:-1500}; BETAS=${3:-0,0.02,0.05,0.1,0.2,0.5,1}
CANDS=${4:-workdirs/sls_exp}
SHARED=${JAXSR_SHARED:-../shared}
mkdir -p "$OUT"
for budget in 4 8 16; do
  run="$CANDS/sls_1of$budget"
  if [[ ! -f "$run/final_model/jaxsr_model.json" || ! -f "$run/summary.json" ]]; then
    python -m jaxsr.train --config="configs/sls.py:model=rfdn,budget=$budget,steps=1000" \
      --workdir="$run" --config.eval.every=1000 --config.eval.sets='("Set5",)' \
      --config.train.log_every=25
  fi
done
est="$OUT/estimator"
if [[ ! -f "$est/final_model/jaxsr_model.json" || ! -f "$est/summary.json" ]]; then
  python -m jaxsr.train --config="configs/adaptive.py:root=$CANDS,steps=$STEPS" --workdir="$est"
fi
if [[ ! -f "$OUT/eval.json" ]]; then
  python -m jaxsr.evaluate --weights="$est/final_model" --data="$SHARED/data/benchmark" \
    --sets=Set14,B100 --beta="$BETAS" --alone --json="$OUT/eval.json" > "$OUT/eval.txt"
fi
python -m jaxsr.results_table --adaptive "$OUT/eval.json" | tee "$OUT/table.md"
