#!/usr/bin/env bash
# Builds hierglow's general-distribution dataset (a substitute for 80 Million Tiny Images,
# see packages/datasets/README.md) from the Debian photo packages of data-sources.md §2.
#
#   scripts/build-general-dataset.sh [--out DIR] [--train-count N] [--validation-count N]
#                                    [--channels 1|3] [--seed S] [--cache DIR]
#
# The packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x` into the cache
# folder (default ~/.cache/hierglow/debdata); an unpacked package is not fetched again. Nothing is
# installed. Needs apt lists (`apt-get update`, run here automatically when root) and the built
# @hierglow/datasets package (`npm run build`).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${HIERGLOW_DEBDATA:-${XDG_CACHE_HOME:-$HOME/.cache}/hierglow/debdata}"
OUT="$ROOT/runs/general"
TRAIN_COUNT=20000
VALIDATION_COUNT=""
CHANNELS=3
SEED=0

while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --train-count) TRAIN_COUNT="$2"; shift 2 ;;
    --validation-count) VALIDATION_COUNT="$2"; shift 2 ;;
    --channels) CHANNELS="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --cache) CACHE="$2"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

MAIN="$ROOT/packages/datasets/dist/builder/build-general-main.js"
if [[ ! -f "$MAIN" ]]; then
  echo "$MAIN is missing: build the package first (npm run build -w @hierglow/datasets)" >&2
  exit 1
fi

# The photo packages of data-sources.md §2 (tuxpaint stamps, the optional extra, are left out).
PACKAGES=(plasma-workspace-wallpapers kphotoalbum python3-skimage labelme-examples libdlib19.1
  mate-screensaver-common budgie-core)

mkdir -p "$CACHE"
fetch() {
  local pkg="$1"
  [[ -f "$CACHE/$pkg/.unpacked" ]] && return 0
  local tmp
  tmp="$(mktemp -d "$CACHE/.fetch-$pkg.XXXXXX")"
  if ! (cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1); then
    if [[ $(id -u) -eq 0 && -z "${APT_UPDATED:-}" ]]; then
      echo "apt-get download $pkg failed; running apt-get update once" >&2
      apt-get update >/dev/null
      APT_UPDATED=1
    fi
    (cd "$tmp" && apt-get download "$pkg") || { echo "cannot download $pkg (is apt configured?)" >&2; exit 1; }
  fi
  # Unpack beside the final folder, then rename: an interrupted unpack leaves no half folder.
  dpkg-deb -x "$tmp"/*.deb "$tmp/root"
  touch "$tmp/root/.unpacked"
  rm -rf "$CACHE/$pkg"
  mv "$tmp/root" "$CACHE/$pkg"
  rm -rf "$tmp"
  echo "fetched $pkg" >&2
}
for p in "${PACKAGES[@]}"; do fetch "$p"; done

# The manifest: `group<TAB>path` per photo. Photos of one group are held out together.
MANIFEST="$(mktemp "${TMPDIR:-/tmp}/hierglow-photos.XXXXXX.tsv")"
trap 'rm -f "$MANIFEST"' EXIT
add() { [[ -f "$2" ]] && printf '%s\t%s\n' "$1" "$2" >> "$MANIFEST"; return 0; }

# Plasma: the 11 photographs, largest resolution of each (names are WIDTHxHEIGHT.ext).
WP="$CACHE/plasma-workspace-wallpapers/usr/share/wallpapers"
for w in BytheWater ColdRipple ColorfulCups DarkestHour EveningGlow FallenLeaf Grey Kite OneStandsOut Path summer_1am; do
  best="$(ls "$WP/$w/contents/images" | sort -t x -k1,1n -k2,2n | tail -n 1)"
  add "plasma:$w" "$WP/$w/contents/images/$best"
done
# KPhotoAlbum demo snapshots (not the logo, not the category thumbnails).
for f in "$CACHE/kphotoalbum/usr/share/kphotoalbum/demo"/*.jpg; do
  [[ "$(basename "$f")" == qt-logo.jpg ]] || add "kphotoalbum:$(basename "$f")" "$f"
done
# scikit-image photographs and textures (not the drawings, text or synthetic images).
SK="$CACHE/python3-skimage/usr/lib/python3/dist-packages/skimage/data"
for f in astronaut.png camera.png chelsea.png coffee.png coins.png rocket.jpg motorcycle_left.png \
  motorcycle_right.png hubble_deep_field.jpg moon.png brick.png grass.png gravel.png; do
  add "skimage:$f" "$SK/$f"
done
# labelme examples: three VOC photos, the cat and the dog, the shelf, one street clip (one group).
LM="$CACHE/labelme-examples/usr/share/doc/labelme-examples/examples"
for f in 2011_000003 2011_000006 2011_000025; do
  add "labelme:$f" "$LM/semantic_segmentation/data_dataset_voc/JPEGImages/$f.jpg"
done
add labelme:cat "$LM/classification/data_annotated/0001.jpg"
add labelme:dog "$LM/classification/data_annotated/0002.jpg"
add labelme:apc2016 "$LM/tutorial/apc2016_obj3.jpg"
for f in "$LM"/video_annotation/data_dataset_voc/JPEGImages/*.jpg; do add labelme:street-clip "$f"; done
# dlib: group photos and street scenes; face crops grouped by person; the video clip as one group
# (every 10th frame: neighbours are near-duplicates).
DL="$CACHE/libdlib19.1/usr/share/doc/libdlib19.1/examples"
for f in "$DL"/faces/*.jpg "$DL"/mmod_cars_test_image*.jpg; do add "dlib:$(basename "$f")" "$f"; done
for d in "$DL"/johns/*/; do for f in "$d"*.jpg; do add "dlib:johns:$(basename "$d")" "$f"; done; done
i=0
for f in "$DL"/video_frames/*.jpg; do
  if (( i % 10 == 0 )); then add dlib:video "$f"; fi
  i=$((i + 1))
done
# Astronomy photographs and the Colosseum.
for f in "$CACHE/mate-screensaver-common/usr/share/backgrounds/cosmos"/*.jpg; do add "cosmos:$(basename "$f")" "$f"; done
add budgie:colosseum "$CACHE/budgie-core/usr/share/backgrounds/budgie/default.jpg"

echo "$(wc -l < "$MANIFEST") photos in $(cut -f1 "$MANIFEST" | sort -u | wc -l) groups" >&2
ARGS=(--manifest "$MANIFEST" --out "$OUT" --train-count "$TRAIN_COUNT" --channels "$CHANNELS" --seed "$SEED")
[[ -n "$VALIDATION_COUNT" ]] && ARGS+=(--validation-count "$VALIDATION_COUNT")
node "$MAIN" "${ARGS[@]}"
