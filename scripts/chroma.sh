#!/usr/bin/env bash
# Chroma, the optional vector store of the memory ([memory] vector_store = "chroma"):
#
#   scripts/chroma.sh                               install PyPI chromadb (pinned) if missing
#   scripts/chroma.sh run --path DIR [--port 8000]  install if missing, then serve DIR on
#                                                   127.0.0.1:PORT until stopped (`chroma run`)
#   scripts/chroma.sh --python-path                 the folder to put on PYTHONPATH, for tests
#
# The package goes into .cache/chroma/pydeps (ignored), nothing outside it, and is installed
# once (a stamp names the pinned version). Only the chromadb wheel itself is installed, not its
# Python dependencies (onnxruntime, tokenizers, grpcio, ... about 430 MB): the server is the Rust
# program inside the wheel's chromadb_rust_bindings module, which the `chroma` command only hands
# its arguments to, and that is what `run` calls. NeuroNaut always sends its own vectors, so no
# embedding model is ever fetched; telemetry is off (ANONYMIZED_TELEMETRY=False).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${NAUT_CHROMA_CACHE:-.cache/chroma}
PACKAGE=chromadb==1.5.9
deps="$CACHE/pydeps"
stamp="$deps/.installed"

say() { echo "chroma: $*" >&2; }
die() {
  say "$*"
  exit 1
}

if [[ "${1:-}" == --python-path ]]; then
  echo "$PWD/$deps"
  exit 0
fi

if [[ "$(cat "$stamp" 2>/dev/null)" != "$PACKAGE" ]]; then
  say "installing $PACKAGE (the server only, without its Python dependencies) into $deps"
  rm -rf "$deps"
  mkdir -p "$deps"
  pip_args=(install --no-deps --only-binary=:all: --disable-pip-version-check --target "$deps")
  [[ -t 2 ]] || pip_args+=(--progress-bar off)
  python3 -m pip "${pip_args[@]}" "$PACKAGE" >&2 || die "pip install $PACKAGE failed"
  PYTHONPATH="$deps" python3 -c 'import chromadb_rust_bindings' ||
    die "$PACKAGE installed, but its server module does not load in this python3"
  echo "$PACKAGE" >"$stamp"
fi

case "${1:-}" in
  "") say "$PACKAGE is installed in $deps" ;;
  run)
    shift
    path="" port=8000
    while (($#)); do
      case "$1" in
        --path) path="$2" ;;
        --port) port="$2" ;;
        *) die "run: unknown option '$1' (expected --path DIR and --port P)" ;;
      esac
      shift 2 || die "run: $1 needs a value"
    done
    [[ -n "$path" ]] || die "run: --path DIR is required (where Chroma keeps its data)"
    mkdir -p "$path"
    export ANONYMIZED_TELEMETRY=False
    # `chroma run` as the chromadb package's own command runs it, without importing the Python
    # client; exec so that a signal to this script reaches the server.
    PYTHONPATH="$deps" exec python3 -c \
      'import sys, chromadb_rust_bindings as c; c.cli(["chroma", *sys.argv[1:]])' \
      run --path "$path" --host 127.0.0.1 --port "$port"
    ;;
  *) die "unknown command '$1' (expected: nothing, run, --python-path)" ;;
esac
