#!/usr/bin/env bash
# Every script README cites, run once in a quick form, so that a documented command cannot rot (CI runs this
# after the test suite; the test suite itself checks zoo_table.py, and .ci/run runs reliability_report.py and
# gpu_check.sh). The figures these print at these sizes mean nothing; that each script runs to its end does.
# bench_train.py's baseline is lightly's heads, bench_augment_ops.py's kornia's ops: lightly 1.6.0 and kornia 0.9.0
# (with kornia_rs, which it imports) are installed without their other dependencies, which the venv already has,
# into temporary folders for those commands.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
step() { echo "== $*"; "$@" > "$WORK/last.log" 2>&1 || { cat "$WORK/last.log"; echo "FAILED: $*"; exit 1; }; tail -3 "$WORK/last.log"; }

$PY -m pip install -q --no-deps --target "$WORK/lightly" "lightly==1.6.0" 2>&1 | grep -v "^WARNING: Location" || true
step env PYTHONPATH="$WORK/lightly" $PY scripts/bench_train.py --steps 1 --rounds 1 --batch-size 8 --image-size 32
$PY -m pip install -q --no-deps --target "$WORK/kornia" "kornia==0.9.0" "kornia_rs==0.2.0" 2>&1 | grep -v "^WARNING: Location" || true
step env PYTHONPATH="$WORK/kornia" $PY scripts/bench_augment_ops.py --quick
step $PY scripts/bench_eval.py --n-train 2000 --n-test 200 --dim 64 --repeats 1
step $PY scripts/bench_extract.py --num-images 32 --model resnet18 --image-size 64 --jpeg-size 64 --batch-size 16 \
  --repeats 1
step $PY scripts/bench_pipeline.py --quick
step $PY scripts/bench_input_size.py --quick
step $PY scripts/diff_timm_export.py resnet18 --image-size 64
step .venv/bin/simsiam-zoo train tiny_fake --output "$WORK/run" --max-steps 2
step $PY scripts/collapse_knn.py "$WORK/run"
step env QUICK=1 bash scripts/fashion_mnist_results.sh "$WORK/run" "$WORK/results"
step $PY scripts/demo_options.py --minutes 0.05 --only batch_64
echo "every README script ran"
