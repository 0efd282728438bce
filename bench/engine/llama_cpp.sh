#!/usr/bin/env bash
# llama.cpp beside the embedded engine, on this machine:
#
#   bench/engine/llama_cpp.sh setup   build llama.cpp (llama-server, llama-bench, llama-tokenize,
#                                     llama-embedding and bench/engine/llama_ref) into
#                                     bench/engine/.llama-cpp/bin
#   bench/engine/llama_cpp.sh bench   llama-bench and engine_bench on the same files, 1 and 2 threads
#   bench/engine/llama_cpp.sh refs    rewrite src/engine/testdata/llama_cpp/*.json
#   bench/engine/llama_cpp.sh refs-real   rewrite src/engine/testdata/llama_cpp_real/*.json from the
#                                     real models in ./models (scripts/models.sh fetches them):
#                                     the ids of src/engine/testdata/real_text/*.txt (llama-tokenize)
#                                     and greedy continuations with top-5 probabilities (llama_ref),
#                                     with an F32 KV cache and (greedy-kv_q8_0.json) a Q8_0 one
#   bench/engine/llama_cpp.sh refs-embed  rewrite src/engine/testdata/llama_cpp_embed/*.json: llama.cpp's
#                                     pooled embeddings (mean, cls, last) of random-weight models
#                                     built from SPECS and of the real models in ./models
#   bench/engine/llama_cpp.sh refs-bert   rewrite src/engine/testdata/llama_cpp_embed/bert-*.json:
#                                     llama-embedding's vectors (and llama-tokenize's ids) of
#                                     BERT_PROMPTS with the embedding model scripts/embed_model.sh makes
#   bench/engine/llama_cpp.sh bench-bert  texts/s of llama-embedding and embed_bench on that
#                                     model, 1 and 2 threads
#   bench/engine/llama_cpp.sh bench-real  llama-bench and engine_bench alternating on the real models,
#                                     pp512 and tg128 at 1 and 2 threads (run it under
#                                     `flock /tmp/naut-build.lock` so that no build shares the CPU)
#
# refs-real and bench-real take every real model in ./models, or those MODELS names (names of
# scripts/models.tsv, space-separated), e.g. MODELS="smollm2-135m qwen2.5-coder-0.5b".
#
# llama.cpp's source comes from the npm package node-llama-cpp, which ships it as a git bundle
# (no other network access is needed); it is built for this CPU's instruction sets except AMX
# (see cpu_flags) under bench/engine/.llama-cpp/, which git ignores. `bench` and `refs` run `setup` when needed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WORK="$ROOT/bench/engine/.llama-cpp"
NODE_LLAMA_CPP_VERSION=3.22.1
SRC="$WORK/src"
BIN="$WORK/bin"

# ggml's CPU options for this machine's instruction sets: what -march=native would give, except
# AMX. On the 2-vCPU VMs the project runs on, the CPU reports AMX and the kernel grants it, but the
# AMX matrix kernels (ggml's amx/mmq.cpp) die with SIGILL at their first tile instruction, so
# llama-bench, llama-server and llama_ref crashed on any prompt of a Q4_0/Q4_1/Q8_0/K-quant model.
cpu_flags() {
  local have
  have=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  local opts="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
  local pair
  for pair in avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx_vnni:AVX_VNNI avx512f:AVX512 \
    avx512vbmi:AVX512_VBMI avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16; do
    local on=OFF
    [[ "$have" == *" ${pair%%:*} "* ]] && on=ON
    opts+=" -DGGML_${pair#*:}=$on"
  done
  echo "$opts"
}

# One build at a time: benches, tests and scripts may ask for it together (the lock is the
# kernel's, dropped when a holder dies).
setup() {
  mkdir -p "$WORK"
  exec 9>"$WORK/.setup.lock"
  flock 9
  build_llama_cpp
  exec 9>&-
}

build_llama_cpp() {
  local config
  config="$(cpu_flags)"
  if [[ -x "$BIN/llama-bench" && -x "$BIN/llama-server" && -x "$BIN/llama-tokenize" &&
    -x "$BIN/llama-embedding" && "$(cat "$BIN/.cpu-flags" 2>/dev/null)" == "$config" ]]; then
    return
  fi
  mkdir -p "$WORK/npm" "$BIN"
  if [[ ! -f "$WORK/npm/node_modules/node-llama-cpp/llama/gitRelease.bundle" ]]; then
    npm install --prefix "$WORK/npm" --no-save --ignore-scripts --omit=optional --no-audit \
      --no-fund "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >&2
  fi
  if [[ ! -d "$SRC" ]]; then
    git clone -q "$WORK/npm/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$SRC" 2>/dev/null
  fi
  # shellcheck disable=SC2086 # one word per option
  cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release $config \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON >&2
  cmake --build "$WORK/build" -j2 --target llama-bench llama-server llama-tokenize llama-embedding \
    llama >&2
  # Renamed into place, so that a llama-server still running from the old binary keeps it.
  for tool in llama-bench llama-server llama-tokenize llama-embedding; do
    cp "$WORK/build/bin/$tool" "$BIN/.$tool.new" && mv -f "$BIN/.$tool.new" "$BIN/$tool"
  done
  echo "$config" >"$BIN/.cpu-flags"
  rm -f "$BIN/llama_ref"
  echo "llama.cpp $(git -C "$SRC" log -1 --format='%h %ad') built in $WORK" >&2
  llama_ref
}

# (Re)builds llama_ref against the static libraries when its source is newer than the binary.
llama_ref() {
  local src="$ROOT/bench/engine/llama_ref/llama_ref.cc" b="$WORK/build"
  if [[ -x "$BIN/llama_ref" && "$BIN/llama_ref" -nt "$src" ]]; then return; fi
  g++ -O2 -std=c++17 -I "$SRC/include" -I "$SRC/ggml/include" \
    "$ROOT/bench/engine/llama_ref/llama_ref.cc" "$b/src/libllama.a" "$b/ggml/src/libggml.a" \
    "$b/ggml/src/libggml-cpu.a" "$b/ggml/src/libggml-base.a" -fopenmp -lpthread -ldl \
    -o "$BIN/llama_ref"
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
  'synth-qwen2-yarn|{"arch":"qwen2","n_vocab":1024,"n_embd":256,"n_ff":512,"n_layer":2,"n_head":8,"n_head_kv":2,"type":"F32","output_type":"F32","seed":19,"norm_std":0.3,"bias_std":0.5,"rope_scaling":"yarn","rope_factor":4,"rope_orig_ctx":64}'
  'synth-llama-yarn-q8_0|{"arch":"llama","n_vocab":1024,"n_embd":256,"n_ff":512,"n_layer":2,"n_head":4,"n_head_kv":2,"type":"Q8_0","output_type":"Q8_0","seed":20,"norm_std":0.3,"rope_scaling":"yarn","rope_factor":8,"rope_orig_ctx":128,"rope_attn_factor":1.2}'
  'synth-llama-linear|{"arch":"llama","n_vocab":1024,"n_embd":256,"n_ff":512,"n_layer":2,"n_head":8,"n_head_kv":4,"type":"F32","output_type":"F32","seed":21,"norm_std":0.3,"rope_scaling":"linear","rope_factor":2}'
  'synth-qwen3moe-q8_0|{"arch":"qwen3moe","n_vocab":1024,"n_embd":256,"n_ff":512,"n_layer":2,"n_head":8,"n_head_kv":4,"type":"Q8_0","output_type":"Q8_0","seed":22,"norm_std":0.3,"n_expert":8,"n_expert_used":2,"n_ff_exp":128}'
  'synth-qwen2moe-f32|{"arch":"qwen2moe","n_vocab":1024,"n_embd":256,"n_ff":512,"n_layer":2,"n_head":8,"n_head_kv":2,"type":"F32","output_type":"F32","seed":23,"norm_std":0.3,"bias_std":0.5,"n_expert":4,"n_expert_used":2,"n_ff_exp":128,"n_ff_shexp":256}'
  'synth-mixtral-q4k|{"arch":"llama","n_vocab":1024,"n_embd":256,"n_ff":256,"n_layer":2,"n_head":8,"n_head_kv":2,"type":"Q4_K","output_type":"Q6_K","seed":24,"norm_std":0.3,"n_expert":4,"n_expert_used":2}'
)
PROMPTS=("Once upon a time" "The little dog"
  "Once upon a time, in a small village near the forest, there lived a girl named Mia. She had a red ball and a little brown dog called Max.")

refs() {
  setup
  llama_ref
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

# The real models of scripts/models.tsv that are in ./models (only those named in MODELS when it
# is set), as "name file sha256 size" lines.
real_models() {
  local name file sha size
  while IFS=$'\t' read -r name file sha size _; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    [[ -n "${MODELS:-}" && " $MODELS " != *" $name "* ]] && continue
    if [[ -f "$ROOT/models/$file" ]]; then
      echo "$name $file $sha $size"
    else
      echo "skipping $name: models/$file is absent (scripts/models.sh $name fetches it)" >&2
    fi
  done <"$ROOT/scripts/models.tsv"
}

# A greedy reference as the tests read it: llama_ref's REF.json with the spread of its top
# probabilities against OTHER.json (up to where their continuations part), the KV cache type
# the engine is to use for it, and the model file it was made with.
greedy_json() {
  python3 - "$@" <<'EOF'
import json, sys
path, other_path, kv_cache, name, file, sha, size, commit = sys.argv[1:]
ref, other = json.load(open(path)), json.load(open(other_path))
spread = 0.0
for a, b in zip(ref["results"], other["results"]):
    for i, (ta, tb) in enumerate(zip(a["top"], b["top"])):
        if a["completion_tokens"][:i] != b["completion_tokens"][:i]:
            break
        pa = dict((t, p) for t, p in ta)
        spread = max([spread] + [abs(pa[t] - p) for t, p in tb if t in pa])
out = {"model": name, "file": file, "sha256": sha, "size": int(size),
       "llama_cpp": "node-llama-cpp bundle " + commit + ", " + ref["llama_cpp"]}
if kv_cache != "f32":
    out["kv_cache"] = kv_cache
out.update({"parse_special": ref["parse_special"],
            "llama_cpp_spread": {"against": other["llama_cpp"], "max_abs_dp": spread},
            "results": ref["results"]})
print(json.dumps(out, indent=1))
EOF
}

refs_real() {
  setup
  llama_ref
  local out="$ROOT/src/engine/testdata/llama_cpp_real" corpus="$ROOT/src/engine/testdata/real_text"
  local commit tmp
  commit="$(git -C "$SRC" log -1 --format=%h)"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  local prompts=() n_predict
  mapfile -d '' prompts < <(python3 -c 'import json,sys; sys.stdout.write("".join(p + "\0" for p in json.load(open(sys.argv[1]))["prompts"]))' "$out/prompts.json")
  n_predict="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["n_predict"])' "$out/prompts.json")"
  local name file sha size
  while read -r name file sha size; do
    local model="$ROOT/models/$file"
    # Each corpus file with chat markup read as special tokens (llama-tokenize's default, as a
    # chat prompt is) and as plain text; BOS as the vocabulary asks.
    for f in "$corpus"/*.txt; do
      for special in 1 0; do
        local flags=(--ids --no-escape --log-disable)
        [[ $special == 0 ]] && flags+=(--no-parse-special)
        "$BIN/llama-tokenize" -m "$model" -f "$f" "${flags[@]}" 2>/dev/null \
          >"$tmp/$(basename "$f" .txt).$special.ids"
      done
    done
    python3 - "$tmp" "$corpus" "$name" "$file" "$sha" "$size" "$commit" >"$out/$name.tokens.json" <<'EOF'
import ast, glob, json, os, sys
tmp, corpus, name, file, sha, size, commit = sys.argv[1:]
texts = []
for path in sorted(glob.glob(os.path.join(corpus, "*.txt"))):
    stem = os.path.basename(path)[:-4]
    for special in (True, False):
        ids = ast.literal_eval(open(os.path.join(tmp, f"{stem}.{int(special)}.ids")).read().strip())
        texts.append({"file": os.path.basename(path), "parse_special": special, "ids": ids})
print(json.dumps({"model": name, "file": file, "sha256": sha, "size": int(size),
                  "llama_cpp": f"node-llama-cpp bundle {commit}, llama-tokenize (add BOS as the vocabulary asks)",
                  "texts": texts}, indent=0))
EOF
    echo "wrote $out/$name.tokens.json" >&2
    "$BIN/llama_ref" --special "$model" "$n_predict" off f32 "${prompts[@]}" >"$tmp/$name.json"
    # llama.cpp's own default (flash attention, F16 KV cache) on the same prompts: how far its
    # probabilities move with its own attention settings, the model's numeric noise.
    "$BIN/llama_ref" --special "$model" "$n_predict" on f16 "${prompts[@]}" >"$tmp/$name.default.json"
    # And with a Q8_0 KV cache (flash attention on, as llama.cpp needs for it), for the engine's.
    "$BIN/llama_ref" --special "$model" "$n_predict" on q8_0 "${prompts[@]}" >"$tmp/$name.q8_0.json"
    greedy_json "$tmp/$name.json" "$tmp/$name.default.json" f32 "$name" "$file" "$sha" "$size" \
      "$commit" >"$out/$name.greedy.json"
    greedy_json "$tmp/$name.q8_0.json" "$tmp/$name.default.json" q8_0 "$name" "$file" "$sha" \
      "$size" "$commit" >"$out/$name.greedy-kv_q8_0.json"
    echo "wrote $out/$name.greedy.json and $name.greedy-kv_q8_0.json" >&2
  done < <(real_models)
}

# The embeddings llama.cpp pools for a causal model (what llama-server's /v1/embeddings answers),
# for three of the SPECS models with every pooling and for the real models with mean pooling.
EMBED_SPECS=(synth-qwen2-f32-tied synth-llama-q4_0-hd64 synth-qwen3-q5k)
EMBED_PROMPTS=("Once upon a time" "The little dog ran after the red ball."
  "def add(a, b): return a + b" "Fight the goblin, then rest at the inn.")

refs_embed() {
  setup
  llama_ref
  ours
  local out="$ROOT/src/engine/testdata/llama_cpp_embed" tmp commit
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  mkdir -p "$out"
  commit="$(git -C "$SRC" log -1 --format=%h)"
  local entry want
  for want in "${EMBED_SPECS[@]}"; do
    for entry in "${SPECS[@]}"; do
      [[ "${entry%%|*}" == "$want" ]] || continue
      local name="${entry%%|*}" spec="${entry#*|}" fp pooling
      fp="$("$ROOT/build/release/bench/engine/synth_model" "$tmp/$name.gguf" "$spec")"
      for pooling in mean cls last; do
        "$BIN/llama_ref" --embed "$pooling" "$tmp/$name.gguf" "${EMBED_PROMPTS[@]}" \
          >"$tmp/$name.$pooling.json"
      done
      python3 - "$tmp/$name" "$spec" "$fp" "$commit" >"$out/$name.json" <<'EOF'
import json, sys
stem, spec, fp, commit = sys.argv[1:]
results = []
for pooling in ("mean", "cls", "last"):
    ref = json.load(open(f"{stem}.{pooling}.json"))
    results += [dict(r, pooling=pooling) for r in ref["results"]]
print(json.dumps({"model": ref["model"], "spec": json.loads(spec), "model_fnv1a64": fp,
                  "llama_cpp": f"node-llama-cpp bundle {commit}, embeddings, KV cache F32, 1 thread",
                  "results": results}, indent=0))
EOF
      echo "wrote $out/$name.json" >&2
    done
  done
  local name file sha size
  while read -r name file sha size; do
    "$BIN/llama_ref" --embed mean "$ROOT/models/$file" "${EMBED_PROMPTS[@]}" >"$tmp/$name.json"
    python3 - "$tmp/$name.json" "$name" "$file" "$sha" "$commit" >"$out/real-$name.json" <<'EOF'
import json, sys
path, name, file, sha, commit = sys.argv[1:]
ref = json.load(open(path))
print(json.dumps({"model": name, "file": file, "sha256": sha,
                  "llama_cpp": "node-llama-cpp bundle " + commit + ", " + ref["llama_cpp"],
                  "results": [dict(r, pooling="mean") for r in ref["results"]]}, indent=0))
EOF
    echo "wrote $out/real-$name.json" >&2
  done < <(real_models)
}

# The BERT embedding model (scripts/embed_model.sh) through llama-embedding: each prompt's ids
# (llama-tokenize, specials parsed as llama-embedding does) and its mean-pooled unit vector.
BERT_PROMPTS=("The little dog ran after the red ball." "How do I reset my password?"
  "Café owners in Zürich serve crème brûlée, don't they?" "def add(a, b): return a + b"
  "東京は日本の首都です 🙂"
  "Once upon a time, in a small village near the forest, there lived a girl named Mia. She had a red ball and a little brown dog called Max. Every morning they walked to the river to watch the boats go by.")

refs_bert() {
  setup
  local model out tmp commit i
  model="$ROOT/$(bash "$ROOT/scripts/embed_model.sh" --path)"
  [[ -f "$model" ]] || { echo "$model is absent: scripts/embed_model.sh makes it" >&2; exit 1; }
  out="$ROOT/src/engine/testdata/llama_cpp_embed/bert-all-minilm-l6-v2.json"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' RETURN
  commit="$(git -C "$SRC" log -1 --format=%h)"
  for i in "${!BERT_PROMPTS[@]}"; do
    printf '%s' "${BERT_PROMPTS[$i]}" >"$tmp/$i.txt"
    "$BIN/llama-tokenize" -m "$model" -f "$tmp/$i.txt" --ids --log-disable 2>/dev/null >"$tmp/$i.ids"
    "$BIN/llama-embedding" -m "$model" -f "$tmp/$i.txt" -t 1 -c 512 -b 512 -ub 512 \
      --pooling mean --embd-normalize 2 --embd-output-format json 2>/dev/null >"$tmp/$i.json"
  done
  python3 - "$tmp" "$model" "$commit" "${BERT_PROMPTS[@]}" >"$out" <<'EOF2'
import ast, hashlib, json, os, sys
tmp, model, commit, prompts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
results = []
for i, prompt in enumerate(prompts):
    ids = ast.literal_eval(open(os.path.join(tmp, f"{i}.ids")).read().strip())
    data = json.load(open(os.path.join(tmp, f"{i}.json")))["data"]
    assert len(data) == 1, f"prompt {i}: {len(data)} embeddings"
    results.append({"prompt": prompt, "prompt_tokens": ids, "pooling": "mean",
                    "embedding": data[0]["embedding"]})
sha = hashlib.sha256(open(model, "rb").read()).hexdigest()
print(json.dumps({"model": "all-minilm-l6-v2", "file": os.path.basename(model), "sha256": sha,
                  "llama_cpp": f"node-llama-cpp bundle {commit}, llama-embedding --pooling mean "
                               "--embd-normalize 2, 1 thread",
                  "results": results}, indent=0))
EOF2
  echo "wrote $out" >&2
}

# Texts per second of the BERT embedding model: llama-embedding (the texts of
# bench/engine/embed_texts.txt, 4 times over, in one run: it packs them into 512-token batches;
# its rate is (N - 1) texts over its wall time for N texts less its wall time for one, so that
# loading is left out) and embed_bench (the same texts one Embed call each, as the memory's
# embedder runs them), alternating, REPS rounds (default 5) at 1 and 2 threads.
bench_bert() {
  setup
  cmake --preset release >/dev/null
  cmake --build --preset release --target embed_bench >&2
  local model texts one reps="${REPS:-5}" raw
  model="$ROOT/$(bash "$ROOT/scripts/embed_model.sh" --path)"
  [[ -f "$model" ]] || { echo "$model is absent: scripts/embed_model.sh makes it" >&2; exit 1; }
  texts="$(mktemp)" one="$(mktemp)" raw="$(mktemp)"
  for _ in 1 2 3 4; do cat "$ROOT/bench/engine/embed_texts.txt" >>"$texts"; done
  head -n 1 "$texts" >"$one"
  local n
  n="$(wc -l <"$texts")"
  echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)," \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs," \
    "llama.cpp $(git -C "$SRC" log -1 --format=%h), $n texts, $reps rounds"
  run_llama() {  # wall seconds of llama-embedding on file $1 with $2 threads
    local t0 t1
    t0="$(date +%s.%N)"
    "$BIN/llama-embedding" -m "$model" -f "$1" -t "$2" -c 512 -b 512 -ub 512 --pooling mean \
      --embd-output-format array >/dev/null 2>&1
    t1="$(date +%s.%N)"
    echo "$t1 - $t0" | bc -l
  }
  local round t
  for ((round = 1; round <= reps; round++)); do
    for t in 1 2; do
      local t_one t_all
      t_one="$(run_llama "$one" "$t")"
      t_all="$(run_llama "$texts" "$t")"
      echo "llama $t $(echo "($n - 1) / ($t_all - $t_one)" | bc -l)" >>"$raw"
      "$ROOT/build/release/bench/engine/embed_bench" --threads "$t" --reps 1 "$texts" "$model" |
        awk -F'|' -v t="$t" '{split($5, a, " "); print "naut", t, a[1]}' >>"$raw"
    done
  done
  echo "## end $(date -u '+%H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  python3 - "$raw" <<'EOF2'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    engine, threads, rate = line.split()
    runs[(int(threads), engine)].append(float(rate))
def fmt(v):
    return f"{statistics.mean(v):.0f} ± {statistics.stdev(v) if len(v) > 1 else 0:.0f}"
print("| threads | llama-embedding texts/s | ours texts/s | ours / llama.cpp |")
print("|---:|---:|---:|---:|")
for t in sorted({k[0] for k in runs}):
    a, b = runs[(t, "llama")], runs[(t, "naut")]
    print(f"| {t} | {fmt(a)} | {fmt(b)} | {statistics.mean(b) / statistics.mean(a):.2f} |")
EOF2
  rm -f "$texts" "$one"
  echo "raw figures: $raw" >&2
}

# llama-bench (pp512, tg128, one repetition) and engine_bench (the same, tg from an empty cache)
# alternating, REPS rounds (default 5) over the real models and 1 and 2 threads, so that a
# change in the machine's load falls on both; then mean ± sd of each.
bench_real() {
  setup
  ours
  local reps="${REPS:-5}" raw
  raw="$(mktemp)"
  echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)," \
    "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs," \
    "llama.cpp $(git -C "$SRC" log -1 --format=%h), $reps rounds"
  local round name file sha size t
  for ((round = 1; round <= reps; round++)); do
    while read -r name file sha size; do
      for t in 1 2; do
        "$BIN/llama-bench" -m "$ROOT/models/$file" -t "$t" -p 512 -n 128 -r 1 -o jsonl 2>/dev/null |
          sed "s/^/llama\t$name\t/" >>"$raw"
        "$ROOT/build/release/bench/engine/engine_bench" --threads "$t" --pp 512 --tg 128 --reps 1 \
          --fresh-tg "$ROOT/models/$file" | grep '\.gguf' | sed "s/^/naut\t$name\t/" >>"$raw"
      done
    done < <(real_models)
    echo "round $round done, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  done
  echo "## end $(date -u '+%H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  python3 - "$raw" <<'EOF'
import collections, json, statistics, sys
runs = collections.defaultdict(list)  # (model, threads, test, engine) -> t/s
for line in open(sys.argv[1]):
    engine, model, rest = line.rstrip("\n").split("\t", 2)
    if engine == "llama":
        r = json.loads(rest)
        test = f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
        runs[(model, r["n_threads"], test, engine)].append(r["avg_ts"])
    else:
        cells = [c.strip() for c in rest.strip("|").split("|")]
        threads = int(cells[2])
        runs[(model, threads, "pp512", engine)].append(float(cells[3].split()[0]))
        runs[(model, threads, "tg128", engine)].append(float(cells[4].split()[0]))
def fmt(v):
    return f"{statistics.mean(v):.1f} ± {statistics.stdev(v) if len(v) > 1 else 0:.1f}"
print("| model | threads | test | llama.cpp t/s | ours t/s | ours / llama.cpp |")
print("|---|---:|---|---:|---:|---:|")
for (model, threads, test, engine) in sorted(k for k in runs if k[3] == "llama"):
    a, b = runs[(model, threads, test, "llama")], runs.get((model, threads, test, "naut"), [])
    ratio = f"{statistics.mean(b) / statistics.mean(a):.2f}" if b else "-"
    print(f"| {model} | {threads} | {test} | {fmt(a)} | {fmt(b) if b else '-'} | {ratio} |")
EOF
  echo "raw figures: $raw" >&2
}

case "${1:-}" in
  setup) setup ;;
  server-path)
    # Builds what is missing and prints the llama-server binary (scripts and tests use it).
    setup
    echo "$BIN/llama-server"
    ;;
  bench) bench ;;
  refs) refs ;;
  refs-real) refs_real ;;
  refs-embed) refs_embed ;;
  refs-bert) refs_bert ;;
  bench-bert) bench_bert ;;
  bench-real) bench_real ;;
  *)
    echo "usage: $0 setup|server-path|bench|refs|refs-real|refs-embed|refs-bert|bench-bert|bench-real" >&2
    exit 2
    ;;
esac
