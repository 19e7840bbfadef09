#!/usr/bin/env bash
# L1 filter pruning of the published RFDN x4 (../shared/weights/rfdn_x4.pth) to TARGET of its
# MACs (1280x720 output): every channel group pruned, or all but the residual trunk
# (`skip=fea_conv`), each without and with the upsampler pruned (`upsampler`: RFDN's
# pixel-shuffle conv loses its low-L1 filters, as in the SLS paper's Table 2 collapse); each
# evaluated right after pruning (0 steps) and after STEPS fine-tuning steps on
# ../shared/data/train (the N:M baselines' CPU recipe). Every model is evaluated on
# Set5/Set14/B100 (jaxsr.evaluate) and counted (jaxsr.complexity). Rerunning skips finished
# runs and resumes a killed one. Usage:
#   launch/l1_experiment.sh [OUT=workdirs/l1_exp] [STEPS=1000] [TARGET=0.5]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-workdirs/l1_exp}; STEPS=${2:-1000}; TARGET=${3:-0.5}
SHARED=${JAXSR_SHARED:-../shared}
mkdir -p "$OUT"

evaluate() {  # name model-dir
  if [[ ! -f "$OUT/$1.json" ]]; then
    python -m jaxsr.evaluate --weights="$2" --data="$SHARED/data/benchmark" \
      --sets=Set5,Set14,B100 --json="$OUT/$1.json" > "$OUT/$1.txt"
    python -m jaxsr.complexity --weights="$2" > "$OUT/$1.complexity.txt"
  fi
  echo "$1: $(tail -n 4 "$OUT/$1.txt" | tr '\n' ' ')"
}

for trunk in "" skip=fea_conv; do
  for up in "" upsampler; do
    name="rfdn_l1_t${TARGET}${trunk:+_densetrunk}${up:+_$up}"
    arg="model=rfdn,target=$TARGET,steps=$STEPS${trunk:+,$trunk}${up:+,$up}"
    cfg="configs/l1_filter.py:$arg"
    if [[ ! -f "$OUT/${name}_0steps/jaxsr_model.json" ]]; then  # pruned, not fine-tuned
      python - "$arg" "$OUT/${name}_0steps" <<'PY'
import sys
from jaxsr import model_dir
from jaxsr.configs_lib import load_sibling
from jaxsr.methods import l1_filter
from jaxsr.train import initial_params
cfg = load_sibling("configs/l1_filter.py", "l1_filter.py").get_config(sys.argv[1])
params = initial_params(cfg, l1_filter.build_model(cfg))
plan = l1_filter.plan(cfg, params)
pruned, masks, over = l1_filter.apply_plan(cfg, params, plan)
model_dir.save_model(sys.argv[2], pruned, "rfdn", 4, over, source="l1 plan, 0 steps", masks=masks)
PY
    fi
    evaluate "${name}_0steps" "$OUT/${name}_0steps"
    if [[ ! -f "$OUT/$name/finetune/summary.json" ]]; then
      python -m jaxsr.train --config="$cfg" --workdir="$OUT/$name" \
        --config.eval.every="$STEPS" --config.eval.sets='("Set5",)' --config.train.log_every=25
    fi
    evaluate "$name" "$OUT/$name/finetune/final_model"
  done
done
