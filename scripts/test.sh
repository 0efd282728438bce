#!/usr/bin/env bash
# Runs every test from a fresh Debian 12 machine: set-up, formatting and clang-tidy, the
# sanitizer build of the unit tests, the whole suite (unit, integration, slow) on the release build, then the `model`
# label: real models through a real llama-server and the embedded engine. For that it fetches
# SmolLM2-135M and the default model first (scripts/models.sh, about 30 s; the engine's parity
# tests in the suite use them too) and builds llama.cpp's llama-server from
# node-llama-cpp's source (bench/engine/llama_cpp.sh setup, about 10 min on 2 cores, cached in
# an ignored folder afterwards). NAUT_TEST_MODEL=0 leaves the `model` label out.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

status=0
# A failed stage is remembered and named again at the very end, with the tests that failed,
# so that the last lines of a long log say what went wrong.
failed=()
fail() {
  status=1
  local what="$1"
  if [[ -n "${2:-}" && -s "$2/Testing/Temporary/LastTestsFailed.log" ]]; then
    what+=": $(cut -d: -f2- "$2/Testing/Temporary/LastTestsFailed.log" | tr '\n' ' ')"
  fi
  failed+=("$what")
}
echo "== formatting (scripts/format.sh --check)"
bash scripts/format.sh --check || fail "formatting"

# clang-tidy with the repo's .clang-tidy, the lock rules (-Wthread-safety) included; about
# 7 minutes on 2 cores.
echo "== clang-tidy (scripts/tidy.sh)"
bash scripts/tidy.sh || fail "clang-tidy"

# The real models the suite checks the engine against (tokenizer, greedy continuations, top-5
# probabilities) and the `model` tests run on; fetched once, verified every time.
echo "== real models: fetch and verify"
bash scripts/models.sh smollm2-135m qwen2.5-coder-0.5b || fail "model fetch"

echo "== AddressSanitizer + UBSan build: unit tests"
if cmake --preset asan >/dev/null && cmake --build --preset asan; then
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --preset asan -j2 --timeout 600 || fail "ASan unit tests" build/asan
else
  fail "ASan build"
fi

if [[ -x scripts/fuzz.sh ]]; then
  echo "== fuzzing (short run)"
  scripts/fuzz.sh || fail "fuzzing"
fi

echo "== release build: every test but the real models"
ctest --preset release -j2 -LE model || fail "release tests" build/release

if [[ "${NAUT_TEST_MODEL:-1}" != 0 ]]; then
  echo "== real models (label model): build llama-server, run one at a time"
  # One test at a time: each loads the model on both cores, and two would share them badly.
  # NAUT_TEST_MODEL=1 makes a test that finds no model or server fail instead of skip.
  if bash bench/engine/llama_cpp.sh setup; then
    NAUT_TEST_MODEL=1 ctest --preset release -j1 -L model || fail "model tests" build/release
  else
    fail "llama.cpp build"
  fi
  # Paddler's cluster (a balancer and two agents) under `neuronaut run`, where Paddler is built:
  # its cargo build (llama.cpp inside) takes 30-40 min on 2 cores, too long to add to every run.
  if [[ -x bench/paddler/.paddler/bin/paddler ]]; then
    echo "== Paddler cluster (bench/paddler/paddler.sh test)"
    bash bench/paddler/paddler.sh test || fail "Paddler cluster test"
  else
    echo "== Paddler cluster test skipped: Paddler is not built here (bench/paddler/paddler.sh setup builds it, 30-40 min once)"
  fi
fi
if ((${#failed[@]})); then
  echo "== FAILED:"
  printf '   %s\n' "${failed[@]}"
else
  echo "== every stage passed"
fi
exit $status
