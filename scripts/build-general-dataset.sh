#!/usr/bin/env bash
# Builds hierglow's general-distribution dataset (a substitute for 80 Million Tiny Images, see
# packages/datasets/README.md) from the Debian photo packages of data-sources.md §2, with the
# CLI of this checkout: a thin wrapper around `hierglow data build-general` (which see, --help).
#
#   scripts/build-general-dataset.sh [--out DIR] [--train-count N] [--validation-count N]
#                                    [--channels 1|3] [--seed S] [--cache DIR]
#
# Defaults as the CLI's, except --out (runs/general of the checkout). The packages are unpacked
# into $HIERGLOW_DEBDATA (default ~/.cache/hierglow/debdata). Needs `npm run build`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/packages/cli/dist/bin.js"
if [[ ! -f "$BIN" ]]; then
  echo "$BIN is missing: build the packages first (npm run build)" >&2
  exit 1
fi
ARGS=("$@")
[[ " $* " == *" --out "* || " $* " == *" --out="* || " $* " == *" -h "* || " $* " == *" --help "* ]] \
  || ARGS=(--out "$ROOT/runs/general" "${ARGS[@]}")
exec node "$BIN" data build-general "${ARGS[@]}"
