#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtualenv in .venv with torch, the package and its test tools,
# and the Fashion-MNIST data (Debian package dataset-fashion-mnist). Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# These two builds import together on CPU machines (x86_64); a plain PyPI torchvision beside another torch does not.
case "$(uname -m)" in
  aarch64) .venv/bin/python -m pip install -q "torch==2.9.1" "torchvision==0.24.1" ;;
  *) .venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1" ;;
esac
.venv/bin/python -m pip install -q -e ".[test]"

FMNIST=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [ ! -f "$FMNIST" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; }
  else
    echo "note: Fashion-MNIST is not installed; run 'sudo apt-get install dataset-fashion-mnist'" >&2
    echo "      (the demo then falls back to the subset shipped in the package)" >&2
  fi
fi
