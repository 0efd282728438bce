#!/usr/bin/env bash
# Builds the GGUF reader fuzzer (clang 14, libFuzzer + ASan/UBSan) in build/fuzz and runs it
# for FUZZ_SECONDS (default 60) on the hand-made seed corpus. Exits non-zero on a crash.
set -euo pipefail
cd "$(dirname "$0")/.."
CXX=${FUZZ_CXX:-$(command -v clang++-14 || command -v clang++)}
SECONDS_TO_RUN=${FUZZ_SECONDS:-60}
out=build/fuzz
mkdir -p "$out/corpus" "$out/crashes"
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc)
sources=(fuzz/gguf_fuzzer.cc src/engine/gguf.cc src/engine/gguf_writer.cc src/engine/gguf_corpus.cc
         src/engine/tokenizer.cc src/core/status.cc)
echo "fuzz: building $out/gguf_fuzzer with $CXX"
"$CXX" "${flags[@]}" "${sources[@]}" $(pkg-config --cflags --libs re2 icu-uc) -o "$out/gguf_fuzzer"
# Seeds: the hand-made valid and broken files (rewritten each run; libFuzzer adds its own).
NAUT_FUZZ_WRITE_SEEDS="$out/corpus" "$out/gguf_fuzzer" -runs=0 "$out/corpus" >/dev/null 2>&1
echo "fuzz: running for ${SECONDS_TO_RUN}s on $(ls "$out/corpus" | wc -l) corpus files"
"$out/gguf_fuzzer" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$out/crashes/" -print_final_stats=1 "$out/corpus" 2>&1 | tail -n 15
status=${PIPESTATUS[0]}
if [[ $status -ne 0 ]]; then
  echo "fuzz: the fuzzer found a crash (exit $status); reproducer in $out/crashes/" >&2
  exit 1
fi
echo "fuzz: no crash"
