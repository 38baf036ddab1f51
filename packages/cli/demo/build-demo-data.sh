#!/usr/bin/env bash
# Rebuilds the bundled demo images in packages/cli/demo/data from their sources, reproducibly:
# 300 Fashion-MNIST test images, 300 font-rendered digits, 300 photo crops of the general set's
# held-out photos, 100 noise and 100 constant images.
#
#   packages/cli/demo/build-demo-data.sh [WORK_DIR]
#
# WORK_DIR (default /tmp/hierglow-demo-build) receives the general set (the same settings as
# `hierglow reproduce fashion`: 20000 + 2000 grey crops, seed 0) and the full OOD sets.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HG="node $HERE/../dist/bin.js"
WORK="${1:-/tmp/hierglow-demo-build}"
DATA="$HERE/data"
mkdir -p "$WORK" "$DATA"

$HG data build-general --out "$WORK/general" --train-count 20000 --validation-count 2000 --channels 1 --seed 0 >/dev/null
$HG data build-ood --out "$WORK/ood" --photos "$WORK/general" >/dev/null
$HG data subset --data fashion-mnist --split test --count 300 --seed 1 --out "$DATA/fashion-mnist.hgds" >/dev/null
$HG data subset --data "$WORK/ood/digits.hgds" --count 300 --seed 2 --out "$DATA/digits.hgds" >/dev/null
$HG data subset --data "$WORK/general" --split validation --count 300 --seed 3 --out "$DATA/photos.hgds" >/dev/null
$HG data subset --data "$WORK/ood/noise.hgds" --count 100 --seed 4 --out "$DATA/noise.hgds" >/dev/null
$HG data subset --data "$WORK/ood/constant.hgds" --count 100 --seed 5 --out "$DATA/constant.hgds" >/dev/null
ls -l "$DATA"
