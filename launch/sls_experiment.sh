#!/usr/bin/env bash
# SLS vs one-shot N:M vs SR-STE at equal step budgets, from the published RFDN x4
# (../shared/weights/rfdn_x4.pth): targets 1/4, 1/8, 1/16 of the pruned convs' MACs (SLS)
# and uniform 8:32, 4:32, 2:32 (baselines), every conv but the first and last, STEPS
# training steps each on ../shared/data/train; then the POP-off and annealing-off ablations
# at 1/8 (annealing off: lambda fixed at the final lambda of the annealed 1/8 run, as the
# paper's Table 3); then SLS at the MACs the uniform baselines actually keep (MATCH=1:
# `jaxsr.results_table --ratio` of the one-shot model: 8:32 keeps 16 of RFDN's 50 input
# channels, 0.32 of the MACs, not 1/4). Every model is evaluated on Set5/Set14/B100 (jaxsr.evaluate) and counted
# (jaxsr.complexity); the table goes to $OUT/table.md. Rerunning skips finished runs and
# resumes a killed one. Usage:
#   launch/sls_experiment.sh [OUT=workdirs/sls_exp] [STEPS=1000] [ABLATION=1] [MATCH=1]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-workdirs/sls_exp}; STEPS=${2:-1000}; ABLATION=${3:-1}; MATCH=${4:-1}
SHARED=${JAXSR_SHARED:-../shared}
mkdir -p "$OUT"
runs=()

train() {  # name config-with-args
  local name=$1 cfg=$2
  if [[ ! -f "$OUT/$name/final_model/jaxsr_model.json" || ! -f "$OUT/$name/summary.json" ]]; then
    python -m jaxsr.train --config="$cfg" --workdir="$OUT/$name" \
      --config.eval.every="$STEPS" --config.eval.sets='("Set5",)' --config.train.log_every=25
  fi
  if [[ ! -f "$OUT/$name.json" ]]; then
    python -m jaxsr.evaluate --weights="$OUT/$name/final_model" --data="$SHARED/data/benchmark" \
      --sets=Set5,Set14,B100 --json="$OUT/$name.json" > "$OUT/$name.txt"
    python -m jaxsr.complexity --weights="$OUT/$name/final_model" > "$OUT/$name.complexity.txt"
  fi
  runs+=("$name")
  echo "model dir: $OUT/$name/final_model"
}

for budget in 4 8 16; do
  n=$((32 / budget))
  train "oneshot_${n}of32" "configs/nm_oneshot.py:model=rfdn,n=$n,m=32,steps=$STEPS"
  train "sr_ste_${n}of32" "configs/sr_ste.py:model=rfdn,n=$n,m=32,steps=$STEPS"
  train "sls_1of${budget}" "configs/sls.py:model=rfdn,budget=$budget,steps=$STEPS"
done
if [[ "$ABLATION" == 1 ]]; then
  train "sls_1of8_nopop" "configs/sls.py:model=rfdn,budget=8,steps=$STEPS,nopop"
  lam=$(python -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print([x['lam'] for x in r if x['kind']=='train'][-1])" "$OUT/sls_1of8/metrics.jsonl")
  train "sls_1of8_noanneal" "configs/sls.py:model=rfdn,budget=8,steps=$STEPS,noanneal,lam=$lam"
fi
if [[ "$MATCH" == 1 ]]; then
  for n in 8 4 2; do
    target=$(python -m jaxsr.results_table --ratio "$OUT/oneshot_${n}of32/final_model")
    train "sls_match_${n}of32" "configs/sls.py:model=rfdn,target=$target,steps=$STEPS"
  done
fi
python -m jaxsr.results_table "$OUT" "${runs[@]}" | tee "$OUT/table.md"
