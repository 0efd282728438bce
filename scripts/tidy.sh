#!/usr/bin/env bash
# Runs clang-tidy (Debian 12's clang-tidy 14, installed by scripts/setup.sh) with the repo's
# .clang-tidy over every source file of src/ that the release build compiles, tests aside, and
# fails on any finding. The lock rules (core/thread_annotations.h) are checked here: g++ ignores
# them, clang's -Wthread-safety (in .clang-tidy's ExtraArgs) does not.
#   scripts/tidy.sh [FILE.cc...]   needs build/release/compile_commands.json (cmake --preset release)
# The SIMD kernels are left out: they are compiled with g++'s per-function target attributes,
# which clang's front end reads differently (its consteval and cpu-feature checks refuse them).
set -uo pipefail
cd "$(dirname "$0")/.."
tidy=clang-tidy-14
command -v "$tidy" >/dev/null 2>&1 || { echo "tidy.sh: clang-tidy-14 is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
db=build/release/compile_commands.json
[[ -f $db ]] || { echo "tidy.sh: $db is missing: run cmake --preset release first" >&2; exit 1; }
if (($#)); then
  files=("$@")
else
  mapfile -t files < <(git ls-files 'src/*.cc' | grep -v -e '_test\.cc$' -e '/kernels_avx')
fi
jobs=$(nproc)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%s\n' "${files[@]}" | xargs -P "$jobs" -I{} sh -c \
  "$tidy -p build/release --quiet '{}' > '$out/'\$(echo '{}' | tr / _).log 2>&1 || echo '{}' >> '$out/failed'"
if [[ -s $out/failed ]]; then
  cat "$out"/*.log | grep -E -A3 '(warning|error):' | awk '!seen[$0]++' >&2
  echo "tidy.sh: clang-tidy found problems in $(wc -l < "$out/failed") of ${#files[@]} files (listed above)" >&2
  exit 1
fi
echo "tidy.sh: ${#files[@]} files clean"
