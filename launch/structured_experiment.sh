#!/usr/bin/env bash
# FMP vs L1 filter pruning vs a dense ESRB at matched FLOPs, trained from scratch at equal step
# budgets (configs/structured_compare.py), SEEDS seeds each; every final model is evaluated on
# Set5/Set14/B100 by jaxsr.evaluate (no method code) and counted by jaxsr.complexity; the table
# pools the seeds. Rerunning skips finished runs and resumes a killed one. Usage:
#   launch/structured_experiment.sh [OUT=workdirs/structured] [SEEDS="0 1 2"] [ARGS=""]
# ARGS: extra config arguments for every run, e.g. "feat=32,blocks=2,steps=600,first=200".
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-workdirs/structured}; SEEDS=${2:-"0 1 2"}; ARGS=${3:-}
SHARED=${JAXSR_SHARED:-../shared}
mkdir -p "$OUT"
runs=()
for seed in $SEEDS; do
  for method in fmp l1 dense; do
    name="${method}_s$seed"; runs+=("$name")
    cfg="configs/structured_compare.py:method=$method,seed=$seed${ARGS:+,$ARGS}"
    if [[ ! -f $OUT/$name/final_model/jaxsr_model.json && \
          ! -f $OUT/$name/finetune/final_model/jaxsr_model.json ]]; then
      python -m jaxsr.train --config="$cfg" --workdir="$OUT/$name" > "$OUT/$name.log" 2>&1
    fi
    model=$OUT/$name/final_model; [[ -d $model ]] || model=$OUT/$name/finetune/final_model
    if [[ ! -f "$OUT/$name.json" ]]; then
      python -m jaxsr.evaluate --weights="$model" --data="$SHARED/data/benchmark" \
        --sets=Set5,Set14,B100 --json="$OUT/$name.json" > "$OUT/$name.txt" 2>&1
      python -m jaxsr.complexity --weights="$model" > "$OUT/$name.complexity.txt"
    fi
    echo "$name: $(grep -h '^done' "$OUT/$name.log" | tr '\n' ' ')"
  done
done
python -m jaxsr.results_table --structured "$OUT" "${runs[@]}" | tee "$OUT/table.md"
