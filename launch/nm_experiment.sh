#!/usr/bin/env bash
# One-shot N:M vs SR-STE at equal training budgets, from the published RFDN x4
# (../shared/weights/rfdn_x4.pth), fine-tuned on ../shared/data/train, evaluated on
# Set5/Set14/B100. Also evaluates the one-shot N:M model before any fine-tuning. Usage:
#   launch/nm_experiment.sh [OUT=workdirs/nm_rfdn] [N=2] [M=4] [STEPS=1500] [MODEL=rfdn]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-workdirs/nm_rfdn}; N=${2:-2}; M=${3:-4}; STEPS=${4:-1500}; MODEL=${5:-rfdn}
SHARED=${JAXSR_SHARED:-../shared}
case "$MODEL" in rfdn|carn_m) ;; *) echo "error: MODEL=$MODEL: rfdn or carn_m (published checkpoints)" >&2; exit 2;; esac
mkdir -p "$OUT"
python - "$OUT/oneshot_0_steps" "$MODEL" "$N" "$M" <<'PY'
import sys

import jax

from jaxsr import model_dir, train
from jaxsr.configs_lib import load_sibling
from jaxsr.methods import nm_common
from jaxsr.methods.nm_oneshot import NMOneShot

out, model, n, m = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
cfg = load_sibling("configs/nm_oneshot.py", "nm_oneshot.py").get_config(
    f"model={model},n={n},m={m}"
)
module = nm_common.build_model(cfg)
method = NMOneShot(layers=nm_common.layers(cfg))
trainable, state = method.init(train.initial_params(cfg, module), jax.random.PRNGKey(0))
e = method.export(trainable, state)
model_dir.save_model(out, e.params, cfg.model.name, 4, masks=e.masks, overwrite=True,
                     source=f"{cfg.init_from}, one-shot {n}:{m}, no fine-tuning")
PY
for method in nm_oneshot sr_ste; do
  python -m jaxsr.train --config="configs/$method.py:model=$MODEL,n=$N,m=$M,steps=$STEPS" \
    --workdir="$OUT/$method" --config.eval.every="$STEPS" --config.eval.sets='("Set5",)'
done
for run in "oneshot_0_steps:$OUT/oneshot_0_steps" "nm_oneshot:$OUT/nm_oneshot/final_model" \
           "sr_ste:$OUT/sr_ste/final_model"; do
  name=${run%%:*}; model=${run#*:}
  python -m jaxsr.evaluate --weights="$model" --data="$SHARED/data/benchmark" \
    --sets=Set5,Set14,B100 --json="$OUT/$name.json" > "$OUT/$name.txt"
  python -m jaxsr.complexity --weights="$model" > "$OUT/$name.complexity.txt"
done
python -m jaxsr.summarize "$OUT/oneshot_0_steps.json" "$OUT/nm_oneshot.json" "$OUT/sr_ste.json"
