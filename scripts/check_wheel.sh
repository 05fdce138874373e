#!/usr/bin/env bash
# The package as a user installs it: a wheel built from the repo (`pip wheel .`), installed non-editable in a fresh
# venv, run from outside the repo, must train, export, convert and run the demo (card templates, recipes and the
# Fashion-MNIST subset are package data). The fresh venv takes the heavy dependencies (torch, timm, ...) from
# .venv through a path file, so that this check costs seconds, not another torch install; the package itself
# comes from the wheel alone. Run after scripts/setup.sh; CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

.venv/bin/python -m pip wheel -q --no-deps -w "$WORK/dist" . 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m venv "$WORK/venv"
DEPS=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
OWN=$("$WORK/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
echo "$DEPS" > "$OWN/simsiam_zoo_dependencies.pth"
"$WORK/venv/bin/python" -m pip install -q --no-deps "$WORK"/dist/simsiam_zoo-*.whl 2>&1 | grep -v "^WARNING: Location" || true

cd "$WORK"
CLI="$WORK/venv/bin/simsiam-zoo"
"$WORK/venv/bin/python" - <<'EOF'
import simsiam_zoo, simsiam_zoo.hub.cards as cards
assert "/venv/" in simsiam_zoo.__file__ and "/.venv/" not in simsiam_zoo.__file__, simsiam_zoo.__file__
assert cards.TEMPLATE.is_file(), cards.TEMPLATE
print("installed from the wheel:", simsiam_zoo.__file__)
EOF
"$CLI" train tiny_fake --output run --max-steps 2 >/dev/null
"$CLI" export run hub --name resnet18.wheel_check
"$WORK/venv/bin/python" -c "import torch; from safetensors.torch import load_file; torch.save(load_file('hub/model.safetensors'), 'model.pth')"
"$CLI" convert model.pth converted --name resnet18.wheel_check_converted
"$CLI" demo --minutes 0.4 --out demo >/dev/null
test -s demo/report/report.html
echo "wheel check passed (train, export, convert, demo from a non-editable install)"
cd "$ROOT"
