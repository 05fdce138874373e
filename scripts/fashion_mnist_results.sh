#!/usr/bin/env bash
# Reproduces the README's Fashion-MNIST evaluation table from a pretrained run folder (default runs/fm_sg,
# made by `simsiam-zoo train simsiam_r18_fashion_mnist --output runs/fm_sg --set optim.epochs=2`).
set -euo pipefail
cd "$(dirname "$0")/.."
# QUICK=1 (CI) runs every command on a few hundred images for one epoch: that the table's commands work.
MODEL=${1:-runs/fm_sg}
OUT=${2:-results/fashion_mnist}
Z=${Z:-.venv/bin/simsiam-zoo}
mkdir -p "$OUT"
LIMIT=() FT_LIMIT=() EPOCHS=20
if [ -n "${QUICK:-}" ]; then LIMIT=(--limit 300) FT_LIMIT=(--train-limit 300) EPOCHS=1; fi
$Z extract "$MODEL" fashion_mnist --out "$OUT/feats_train" --num-workers 0 "${LIMIT[@]}"
$Z extract "$MODEL" fashion_mnist:test --out "$OUT/feats_test" --num-workers 0 "${LIMIT[@]}"
$Z eval knn --train "$OUT/feats_train" --test "$OUT/feats_test" --out "$OUT/knn.json"
$Z eval linear --train "$OUT/feats_train" --test "$OUT/feats_test" --out "$OUT/linear.json"
# Small labelled sets need more, smaller steps than the ImageNet-style defaults (lr 0.01, batch 256).
FT=(--epochs "$EPOCHS" --lr 0.1 --batch-size 64)
$Z eval semi "$MODEL" fashion_mnist --fraction 0.01 --fraction 0.1 "${FT[@]}" --test-limit 2000 "${FT_LIMIT[@]}" \
  --out "$OUT/semi.json"
$Z eval transfer "$MODEL" --dataset digits "${FT[@]}" "${FT_LIMIT[@]}" --out "$OUT/transfer_digits.json"
