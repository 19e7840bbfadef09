#!/usr/bin/env bash
# Evaluate every published checkpoint in ../shared/weights on Set5/Set14/B100 and print a
# markdown table. Usage: launch/eval_shared_checkpoints.sh [OUT_DIR] (default: out/zoo)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${JAXSR_SHARED:-../shared}
OUT=${1:-out/zoo}
mkdir -p "$OUT"
while read -r model scale file; do
  python -m jaxsr.evaluate --model="$model" --scale="$scale" --weights="$SHARED/weights/$file" \
    --data="$SHARED/data/benchmark" --sets=Set5,Set14,B100 --json="$OUT/${model}_x${scale}.json" \
    > "$OUT/${model}_x${scale}.txt"
done <<'LIST'
rfdn 4 rfdn_x4.pth
imdn 2 imdn_x2.pth
imdn 3 imdn_x3.pth
imdn 4 imdn_x4.pth
carn_m 2 carn_m_x234.pth
carn_m 3 carn_m_x234.pth
carn_m 4 carn_m_x234.pth
LIST
python -m jaxsr.report --evals="$OUT"/rfdn_x4.json,"$OUT"/imdn_x2.json,"$OUT"/imdn_x3.json,"$OUT"/imdn_x4.json,"$OUT"/carn_m_x2.json,"$OUT"/carn_m_x3.json,"$OUT"/carn_m_x4.json
