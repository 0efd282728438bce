#!/usr/bin/env bash
# Runs every test from a fresh Debian 12 machine: set-up, formatting and clang-tidy, the
# sanitizer build of the unit tests, the whole suite (unit, integration, slow) on the release build, then the `model`
# label: real models through a real llama-server and the embedded engine. For that it fetches
# SmolLM2-135M and the default model first (scripts/models.sh, about 30 s; the engine's parity
# tests in the suite use them too), makes the embedding model all-MiniLM-L6-v2
# (scripts/embed_model.sh, about 10 s) and builds llama.cpp's llama-server from
# node-llama-cpp's source (bench/engine/llama_cpp.sh setup, about 10 min on 2 cores, cached in
# an ignored folder afterwards). NAUT_TEST_MODEL=0 leaves the `model` label out.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

status=0
# A failed stage is remembered and named again at the very end, with the tests that failed and
# the last lines of each one's output, so that the last lines of a long log say what went wrong.
failed=()
details=()
second_run=()
fail() {
  status=1
  failed+=("$1")
}
# The names of the tests that failed in the last ctest run of build dir $1.
failed_tests() {
  [[ -s "$1/Testing/Temporary/LastTestsFailed.log" ]] && cut -d: -f2- "$1/Testing/Temporary/LastTestsFailed.log"
}
# The last lines of test $2's output in the last ctest run of build dir $1.
test_output_tail() {
  awk -v name="$2" '
    $0 ~ "^[0-9]+/[0-9]+ Testing: " && substr($0, index($0, ": ") + 2) == name { on = 1; next }
    on && /^<end of output>$/ { exit }
    on && out { print }
    on && /^Output:$/ { getline; out = 1 }' "$1/Testing/Temporary/LastTest.log" | tail -n 25
}
# Runs ctest with test preset $1 (build dir build/$1) for the stage named $2, the rest being
# ctest's arguments. A test that fails is run once more, alone, with its output shown: the stage
# passes if every failed test passes then, and the summary at the end names the tests that
# needed the second run; otherwise the stage fails, and the summary shows the end of both runs'
# output of each test that failed twice.
ctest_stage() {
  local preset="$1" dir="build/$1" what="$2"
  shift 2
  ctest --preset "$preset" "$@" && return 0
  local names=()
  mapfile -t names < <(failed_tests "$dir")
  if ((${#names[@]} == 0)); then
    fail "$what (ctest failed before any test did)"
    return 1
  fi
  local name firsts=()
  for name in "${names[@]}"; do
    firsts+=("--- $what: $name, first run:" "$(test_output_tail "$dir" "$name")")
  done
  echo "== $what: ${#names[@]} failed, each run once more alone: ${names[*]}"
  if ctest --preset "$preset" "$@" --rerun-failed -j1 --output-on-failure; then
    printf '%s\n' "${firsts[@]}"
    second_run+=("$what: ${names[*]} (the first run's output is above)")
    return 0
  fi
  mapfile -t names < <(failed_tests "$dir")
  fail "$what: ${names[*]}"
  details+=("${firsts[@]}")
  for name in "${names[@]}"; do
    details+=("--- $what: $name, second run:" "$(test_output_tail "$dir" "$name")")
  done
  return 1
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
bash scripts/embed_model.sh || fail "embedding model"
# Chroma for the memory's optional vector store (PyPI chromadb, the server only, about 3 s once);
# memory_chroma_test starts real `chroma run` servers with it.
bash scripts/chroma.sh || fail "chroma"

echo "== AddressSanitizer + UBSan build: unit tests"
if cmake --preset asan >/dev/null && cmake --build --preset asan; then
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest_stage asan "ASan unit tests" -j2 --timeout 600
else
  fail "ASan build"
fi

if [[ -x scripts/fuzz.sh ]]; then
  echo "== fuzzing (short run)"
  scripts/fuzz.sh || fail "fuzzing"
fi

echo "== release build: every test but the real models"
ctest_stage release "release tests" -j2 -LE model

if [[ "${NAUT_TEST_MODEL:-1}" != 0 ]]; then
  echo "== real models (label model): build llama-server, run one at a time"
  # One test at a time: each loads the model on both cores, and two would share them badly.
  # NAUT_TEST_MODEL=1 makes a test that finds no model or server fail instead of skip.
  if bash bench/engine/llama_cpp.sh setup; then
    NAUT_TEST_MODEL=1 ctest_stage release "model tests" -j1 -L model
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
if ((${#second_run[@]})); then
  echo "== passed only on a second run:"
  printf '   %s\n' "${second_run[@]}"
fi
if ((${#failed[@]})); then
  ((${#details[@]})) && printf '%s\n' "${details[@]}"
  echo "== FAILED:"
  printf '   %s\n' "${failed[@]}"
else
  echo "== every stage passed"
fi
exit $status
