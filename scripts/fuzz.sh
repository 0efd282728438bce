#!/usr/bin/env bash
# Builds the libFuzzer targets (clang 14, libFuzzer + ASan/UBSan) in build/fuzz and runs each
# on its corpus: the GGUF reader for FUZZ_SECONDS (default 60), the JSON entry points, path
# resolution beneath a root and GBNF grammars (with JSON Schemas turned into grammars) for
# FUZZ_SHORT_SECONDS (default 20) each. Exits non-zero on a crash.
#   scripts/fuzz.sh [gguf|json|beneath|grammar ...]   (default: all four)
set -euo pipefail
cd "$(dirname "$0")/.."
CXX=${FUZZ_CXX:-$(command -v clang++-14 || command -v clang++ || true)}
if [[ -z "$CXX" ]]; then
  echo "fuzz: no clang++ (Debian package clang-14; scripts/setup.sh installs it)" >&2
  exit 1
fi
out=build/fuzz
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Isrc)
targets=("$@")
((${#targets[@]})) || targets=(gguf json beneath grammar)

build() {
  local name=$1
  shift
  echo "fuzz: building $out/${name}_fuzzer with $CXX"
  "$CXX" "${flags[@]}" "fuzz/${name}_fuzzer.cc" "$@" -o "$out/${name}_fuzzer"
}

run() {
  local name=$1 seconds=$2
  shift 2
  mkdir -p "$out/$name/corpus" "$out/$name/crashes"
  echo "fuzz: running $name for ${seconds}s on $(ls "$out/$name/corpus" | wc -l) corpus files"
  local status=0
  "$out/${name}_fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 "$@" \
    -artifact_prefix="$out/$name/crashes/" -print_final_stats=1 "$out/$name/corpus" >"$out/$name/log" 2>&1 ||
    status=$?
  tail -n 12 "$out/$name/log"
  if [[ $status -ne 0 ]]; then
    echo "fuzz: $name found a crash (exit $status); reproducer in $out/$name/crashes/" >&2
    return 1
  fi
}

mkdir -p "$out"
failed=0
for t in "${targets[@]}"; do
  case $t in
    gguf)
      build gguf src/engine/gguf.cc src/engine/gguf_writer.cc src/engine/gguf_corpus.cc src/engine/tokenizer.cc \
        src/core/status.cc $(pkg-config --cflags --libs re2 icu-uc)
      mkdir -p "$out/gguf/corpus"
      # Seeds: the hand-made valid and broken files (rewritten each run; libFuzzer adds its own).
      NAUT_FUZZ_WRITE_SEEDS="$out/gguf/corpus" "$out/gguf_fuzzer" -runs=0 "$out/gguf/corpus" >/dev/null 2>&1
      run gguf "${FUZZ_SECONDS:-60}" -max_len=4096 || failed=1
      ;;
    json)
      build json src/core/json.cc src/core/status.cc src/llm/json_repair.cc $(pkg-config --cflags --libs fmt)
      mkdir -p "$out/json/corpus"
      printf '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":[1,2.5,"s"]}}}' \
        >"$out/json/corpus/rpc.json"
      printf '```json\n{"name": "rpg__send_message", "arguments": {"text": "hi",}\n```' >"$out/json/corpus/model.txt"
      run json "${FUZZ_SHORT_SECONDS:-20}" -max_len=8192 || failed=1
      ;;
    beneath)
      build beneath src/core/beneath.cc src/core/status.cc
      mkdir -p "$out/beneath/corpus"
      printf '\001a/b/../../l-chain1/../a/./l-deep-out/x' >"$out/beneath/corpus/walk"
      printf '\000l-up/root/l-abs-in/b//h' >"$out/beneath/corpus/up"
      run beneath "${FUZZ_SHORT_SECONDS:-20}" -max_len=1024 || failed=1
      rm -rf /tmp/naut-fuzz-beneath-*
      ;;
    grammar)
      build grammar src/engine/grammar.cc src/engine/grammar_matcher.cc src/engine/json_grammar.cc \
        src/engine/sampler.cc src/engine/tokenizer.cc src/engine/gguf.cc src/core/json.cc \
        src/core/status.cc $(pkg-config --cflags --libs fmt re2 icu-uc)
      mkdir -p "$out/grammar/corpus"
      printf 'root ::= "{" ws (pair ("," ws pair)*)? "}"\npair ::= [a-z]+ ":" ws [0-9]{1,3}\nws ::= [ \\t\\n]*\n\000{ab: 12,c:3}' \
        >"$out/grammar/corpus/gbnf"
      printf '{"type":"object","properties":{"a":{"type":"integer","minimum":-5,"maximum":300},"b":{"enum":["x",1]}},"required":["a"]}' \
        >"$out/grammar/corpus/schema.json"
      run grammar "${FUZZ_SHORT_SECONDS:-20}" -max_len=2048 || failed=1
      ;;
    *)
      echo "fuzz: unknown target '$t' (gguf, json, beneath, grammar)" >&2
      failed=1
      ;;
  esac
done
((failed == 0)) && echo "fuzz: no crash"
exit $failed
