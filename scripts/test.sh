#!/usr/bin/env bash
# Runs every test from a fresh Debian 12 machine: set-up, the sanitizer build of the unit
# tests, then the whole suite (unit, integration, slow) on the release build.
# Tests labelled `model` need a real llama-server and are off unless NAUT_TEST_MODEL=1.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

status=0
echo "== AddressSanitizer + UBSan build: unit tests"
if cmake --preset asan >/dev/null && cmake --build --preset asan; then
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --preset asan -j2 --timeout 600 || status=1
else
  status=1
fi

if [[ -x scripts/fuzz.sh ]]; then
  echo "== fuzzing (short run)"
  scripts/fuzz.sh || status=1
fi

echo "== release build: every test"
exclude=(-LE model)
[[ "${NAUT_TEST_MODEL:-0}" == 1 ]] && exclude=()
ctest --preset release -j2 "${exclude[@]}" || status=1
exit $status
