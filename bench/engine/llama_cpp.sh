#!/usr/bin/env bash
# llama.cpp beside the embedded engine, on this machine:
#
#   bench/engine/llama_cpp.sh setup   build llama.cpp (llama-bench and bench/engine/llama_ref)
#   bench/engine/llama_cpp.sh bench   llama-bench and engine_bench on the same files, 1 and 2 threads
#   bench/engine/llama_cpp.sh refs    rewrite src/engine/testdata/llama_cpp/*.json
#
# llama.cpp's source comes from the npm package node-llama-cpp, which ships it as a git bundle
# (no other network access is needed); it is built with -march=native (GGML_NATIVE) under
# bench/engine/.llama-cpp/, which git ignores. `bench` and `refs` run `setup` when needed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="$ROOT/bench/engine/.llama-cpp"
NODE_LLAMA_CPP_VERSION=3.22.1
SRC="$WORK/src"
BIN="$WORK/bin"

setup() {
  if [[ -x "$BIN/llama-bench" && -x "$BIN/llama_ref" ]]; then return; fi
  mkdir -p "$WORK/npm" "$BIN"
  if [[ ! -f "$WORK/npm/node_modules/node-llama-cpp/llama/gitRelease.bundle" ]]; then
    npm install --prefix "$WORK/npm" --no-save --ignore-scripts --omit=optional --no-audit \
      --no-fund "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >&2
  fi
  if [[ ! -d "$SRC" ]]; then
    git clone -q "$WORK/npm/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$SRC" 2>/dev/null
  fi
  cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF >&2
  cmake --build "$WORK/build" -j2 --target llama-bench llama >&2
  cp "$WORK/build/bin/llama-bench" "$BIN/"
  local b="$WORK/build"
  g++ -O2 -std=c++17 -I "$SRC/include" -I "$SRC/ggml/include" \
    "$ROOT/bench/engine/llama_ref/llama_ref.cc" "$b/src/libllama.a" "$b/ggml/src/libggml.a" \
    "$b/ggml/src/libggml-cpu.a" "$b/ggml/src/libggml-base.a" -fopenmp -lpthread -ldl \
    -o "$BIN/llama_ref"
  echo "llama.cpp $(git -C "$SRC" log -1 --format='%h %ad') built in $WORK" >&2
}

ours() {
  cmake --preset release >/dev/null
  cmake --build --preset release --target engine_bench synth_model >&2
}

bench() {
  setup
  ours
  local models="$ROOT/build/bench-models"
  "$ROOT/build/release/bench/engine/engine_bench" --threads 1 --pp 1 --tg 1 --reps 1 \
    --make "$models" Q4_0 Q8_0 Q4_K F16 BF16 >/dev/null
  local big=("$models"/bench-llama-0.5b-{Q4_0,Q8_0,Q4_K,F16,BF16}.gguf)
  local tiny=("$ROOT"/../shared/conformance/models/synth-*.gguf)
  echo "## llama.cpp $(git -C "$SRC" log -1 --format=%h), llama-bench (mean ± sd of -r reps)"
  "$BIN/llama-bench" $(printf -- '-m %s ' "${big[@]}") -t 1,2 -p 128 -n 32 -r 3
  if [[ -f "${tiny[0]}" ]]; then
    "$BIN/llama-bench" $(printf -- '-m %s ' "${tiny[@]}") -t 1,2 -p 128 -n 64 -r 5
  fi
  echo "## naut engine_bench (best (median) of --reps)"
  for t in 1 2; do
    "$ROOT/build/release/bench/engine/engine_bench" --threads $t --pp 128 --tg 32 --reps 3 "${big[@]}"
    if [[ -f "${tiny[0]}" ]]; then
      "$ROOT/build/release/bench/engine/engine_bench" --threads $t --pp 128 --tg 64 --reps 5 "${tiny[@]}"
    fi
  done
}

# name|spec: random-weight models that cover what the shared references do not.
SPECS=(
  'synth-qwen2-f32-tied|{"arch":"qwen2","n_vocab":1024,"n_embd":256,"n_ff":512,"n_layer":2,"n_head":8,"n_head_kv":2,"type":"F32","output_type":"F32","tied_output":true,"seed":11,"norm_std":0.3,"bias_std":0.5}'
  'synth-llama-bf16|{"arch":"llama","n_vocab":1024,"n_embd":256,"n_ff":768,"n_layer":2,"n_head":4,"n_head_kv":4,"type":"BF16","output_type":"BF16","seed":12,"norm_std":0.3}'
  'synth-qwen3-q5k|{"arch":"qwen3","n_vocab":1024,"n_embd":256,"n_ff":512,"n_layer":2,"n_head":8,"n_head_kv":4,"type":"Q5_K","output_type":"Q6_K","seed":13,"norm_std":0.3}'
  'synth-qwen2-q8_0|{"arch":"qwen2","n_vocab":1024,"n_embd":256,"n_ff":512,"n_layer":3,"n_head":8,"n_head_kv":2,"type":"Q8_0","output_type":"Q8_0","seed":14,"norm_std":0.3,"bias_std":0.5}'
  'synth-llama-q4k-mqa-tied|{"arch":"llama","n_vocab":1024,"n_embd":256,"n_ff":512,"n_layer":2,"n_head":8,"n_head_kv":1,"type":"Q4_K","output_type":"Q4_K","tied_output":true,"seed":15,"norm_std":0.3}'
  'synth-llama-q4_0-hd64|{"arch":"llama","n_vocab":1024,"n_embd":256,"n_ff":512,"n_layer":2,"n_head":4,"n_head_kv":2,"type":"Q4_0","output_type":"Q6_K","seed":16,"norm_std":0.3}'
  'synth-llama-q5_0|{"arch":"llama","n_vocab":1024,"n_embd":256,"n_ff":512,"n_layer":2,"n_head":8,"n_head_kv":4,"type":"Q5_0","output_type":"Q8_0","seed":17,"norm_std":0.3}'
  'synth-qwen2-q4_1-q5_1|{"arch":"qwen2","n_vocab":1024,"n_embd":256,"n_ff":512,"n_layer":2,"n_head":8,"n_head_kv":2,"type":"Q4_1","output_type":"Q5_1","seed":18,"norm_std":0.3,"bias_std":0.5}'
)
PROMPTS=("Once upon a time" "The little dog"
  "Once upon a time, in a small village near the forest, there lived a girl named Mia. She had a red ball and a little brown dog called Max.")

refs() {
  setup
  ours
  local out="$ROOT/src/engine/testdata/llama_cpp" tmp
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$out"
  local commit
  commit="$(git -C "$SRC" log -1 --format=%h)"
  for entry in "${SPECS[@]}"; do
    local name="${entry%%|*}" spec="${entry#*|}" fp
    fp="$("$ROOT/build/release/bench/engine/synth_model" "$tmp/$name.gguf" "$spec")"
    "$BIN/llama_ref" "$tmp/$name.gguf" 24 off f32 "${PROMPTS[@]}" >"$tmp/$name.json"
    python3 - "$tmp/$name.json" "$spec" "$fp" "$commit" >"$out/$name.json" <<'EOF'
import json, sys
ref = json.load(open(sys.argv[1]))
print(json.dumps({"model": ref["model"], "spec": json.loads(sys.argv[2]),
                  "model_fnv1a64": sys.argv[3],
                  "llama_cpp": "node-llama-cpp bundle " + sys.argv[4] + ", " + ref["llama_cpp"],
                  "results": ref["results"]}, indent=1))
EOF
    echo "wrote $out/$name.json" >&2
  done
}

case "${1:-}" in
  setup) setup ;;
  bench) bench ;;
  refs) refs ;;
  *)
    echo "usage: $0 setup|bench|refs" >&2
    exit 2
    ;;
esac
