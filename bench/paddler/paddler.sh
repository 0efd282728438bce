#!/usr/bin/env bash
# Paddler (a llama.cpp load balancer) on this machine, beside NeuroNaut's own endpoint pool:
#
#   bench/paddler/paddler.sh setup   build Paddler's balancer and agent (crates.io paddler_balancer
#                                    and paddler_agent, pinned in Cargo.toml and Cargo.lock here)
#                                    into bench/paddler/.paddler/bin/paddler (30-40 min on 2 cores, once)
#   bench/paddler/paddler.sh test    a loopback cluster (one balancer, two agents on the 0.5B model),
#                                    `neuronaut llm ask` at its OpenAI-compatible endpoint and
#                                    `neuronaut run --env rpg` on it; fails unless the answers came
#                                    through Paddler and the model's tool calls ran
#   bench/paddler/paddler.sh record  record the agent's requests into requests-0.5b.jsonl.gz
#   bench/paddler/paddler.sh bench   the agent's real request stream replayed by concurrent clients
#                                    against NeuroNaut's pool over two llama-servers and against
#                                    Paddler (balancer + two agents), alternating, REPS rounds
#   bench/paddler/paddler.sh cluster start a cluster and wait (for trying it by hand; Ctrl-C stops it)
#
# Paddler publishes its balancer and agent as libraries only (its command line, paddler_cli, is not
# on crates.io), so src/main.rs here is the small command line that starts them, as Paddler's own
# does. The agent embeds llama.cpp through llama-cpp-bindings-sys, which ships llama.cpp's source;
# nothing else is downloaded but crates.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
HERE="$ROOT/bench/paddler"
WORK="$HERE/.paddler"
BIN="$WORK/bin"
PADDLER="$BIN/paddler"
# The version built: the crates and the lock file's pins (Cargo.toml, Cargo.lock) say the same.
PADDLER_VERSION=4.0.0

# ggml's CPU options for this machine, as bench/engine/llama_cpp.sh builds llama.cpp: the
# instruction sets the CPU reports, except AMX, whose kernels die with SIGILL on these virtual
# machines although the CPU reports AMX and the kernel grants it. llama-cpp-bindings' build script
# passes only CMAKE_* variables from the environment to CMake (and maps Rust target features to a
# few GGML_* options, not AVX-512), so the options go in a file that CMake includes after each
# project() call (CMAKE_PROJECT_INCLUDE), where they override the options' defaults.
cpu_cmake() {
  local have
  have=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  echo "# ggml's CPU options for this machine (written by bench/paddler/paddler.sh)"
  local opt
  for opt in GGML_NATIVE GGML_AMX_TILE GGML_AMX_INT8 GGML_AMX_BF16; do
    echo "set($opt OFF CACHE BOOL \"\" FORCE)"
  done
  local pair
  for pair in sse4_2:SSE42 avx:AVX avx2:AVX2 fma:FMA f16c:F16C bmi2:BMI2 avx_vnni:AVX_VNNI \
    avx512f:AVX512 avx512vbmi:AVX512_VBMI avx512_vnni:AVX512_VNNI avx512_bf16:AVX512_BF16; do
    local on=OFF
    [[ "$have" == *" ${pair%%:*} "* ]] && on=ON
    echo "set(GGML_${pair#*:} $on CACHE BOOL \"\" FORCE)"
  done
}

setup() {
  local flags
  flags="$(cpu_cmake)"
  if [[ -x "$PADDLER" && "$(cat "$WORK/ggml-cpu.cmake" 2>/dev/null)" == "$flags" &&
    "$PADDLER" -nt "$HERE/src/main.rs" && "$PADDLER" -nt "$HERE/Cargo.lock" ]]; then
    return
  fi
  # bindgen (in llama-cpp-bindings' build script) needs libclang and clang's own headers.
  if ! compgen -G '/usr/lib/x86_64-linux-gnu/libclang-*.so*' >/dev/null &&
    ! compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev >&2
  fi
  mkdir -p "$WORK" "$BIN"
  # New CPU options (another machine): llama.cpp is configured and built anew. Its CMake build
  # dir is kept across builds whatever the options, and cargo reruns the build script only when
  # told to, as it does not look into the included file.
  if [[ -f "$WORK/ggml-cpu.cmake" && "$(cat "$WORK/ggml-cpu.cmake")" != "$flags" ]]; then
    rm -rf "$WORK/target/release/llama-cpp-cmake-build"
    cargo clean --release --manifest-path "$HERE/Cargo.toml" --target-dir "$WORK/target" \
      -p llama-cpp-bindings-sys >&2
  fi
  echo "$flags" >"$WORK/ggml-cpu.cmake"
  local start=$SECONDS
  echo "building Paddler $PADDLER_VERSION (balancer and agent with llama.cpp; 30-40 min on 2 cores)" >&2
  CMAKE_PROJECT_INCLUDE="$WORK/ggml-cpu.cmake" CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}" \
    nice -n 10 cargo build --release --locked --manifest-path "$HERE/Cargo.toml" \
    --target-dir "$WORK/target" >&2
  # Renamed into place, so that a cluster still running from the old binary keeps it.
  cp "$WORK/target/release/paddler" "$BIN/.paddler.new" && mv -f "$BIN/.paddler.new" "$PADDLER"
  echo "Paddler $PADDLER_VERSION built in $((SECONDS - start)) s: $PADDLER" >&2
}

NAUT="${NAUT_CLI:-$ROOT/build/release/src/cli/neuronaut}"
REPLAY="$ROOT/build/release/bench/paddler/pool_replay"
TOOLS="$HERE/paddler_tools.py"
# The models of the cluster test and of the comparison, from scripts/models.sh.
TEST_MODEL="$ROOT/models/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf"
BENCH_MODEL="$ROOT/models/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf"
# The agent's request stream that `bench` replays (written by `record`; gzip keeps the many
# repeats of the system prompt and tool list small).
REQUESTS="$HERE/requests-0.5b.jsonl.gz"

PIDS=()
TMP=""
# Every process started here is stopped on the way out, however the script ends.
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    # Bounded: a process that ignores SIGTERM for 15 s gets SIGKILL.
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
  if [[ -n "$TMP" && -z "${KEEP_TMP:-}" ]]; then rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

need_model() {
  if [[ ! -f "$1" ]]; then
    bash "$ROOT/scripts/models.sh" "$2" >&2
  fi
}

need_naut() {
  if [[ ! -x "$NAUT" ]]; then
    flock /tmp/naut-build.lock cmake --build --preset release --target neuronaut >&2
  fi
}

# Starts a balancer and AGENTS agents (SLOTS slots each) serving MODEL with CONTEXT tokens of
# context per agent, and waits (bounded) until every agent has loaded it. Sets COMPAT (the
# OpenAI-compatible URL) and MGMT (the management URL); logs go to $TMP. Paddler's own limits
# (10 s in the buffer, 30 s for each token) cut requests that wait behind others here, where
# a 2000-token prompt takes 15-30 s on a shared core: they are raised to 10 minutes.
start_cluster() {
  local model="$1" context="$2" temperature="$3" agents="${4:-2}" slots="${5:-2}"
  local mport iport cport
  mport="$(free_port)" iport="$(free_port)" cport="$(free_port)"
  python3 "$TOOLS" desired-state "$model" "$context" "$temperature" >"$TMP/desired-state.json"
  "$PADDLER" balancer --management-addr "127.0.0.1:$mport" --inference-addr "127.0.0.1:$iport" \
    --compat-openai-addr "127.0.0.1:$cport" --desired-state "$TMP/desired-state.json" \
    --max-buffered-requests 64 --buffered-request-timeout-ms 600000 \
    --inference-item-timeout-ms 600000 >"$TMP/balancer.log" 2>&1 &
  PIDS+=($!)
  local i
  # Each agent on a core of its own, as on a machine of its own. An agent runs llama.cpp on
  # max(2, cores / 2) threads, whatever the machine (Paddler has no option for it), so two on
  # this one's 2 cores are 4 threads. OpenMP's waiting threads spin by default: unpinned and
  # spinning, a replay of 24 requests had not ended after 21 minutes (the pool's took 3), each
  # agent at 13 CPU-minutes, so they wait passively here.
  for ((i = 1; i <= agents; i++)); do
    OMP_WAIT_POLICY=passive taskset -c $(((i - 1) % $(nproc))) \
      "$PADDLER" agent --management-addr "127.0.0.1:$mport" --slots "$slots" --name "agent-$i" \
      >"$TMP/agent-$i.log" 2>&1 &
    PIDS+=($!)
  done
  MGMT="http://127.0.0.1:$mport"
  COMPAT="http://127.0.0.1:$cport"
  if ! python3 "$TOOLS" wait-agents "$MGMT" "$agents" 180; then
    tail -n 20 "$TMP"/balancer.log "$TMP"/agent-*.log >&2
    return 1
  fi
}

# Starts a llama-server on MODEL (CONTEXT tokens, 2 slots, 1 thread) and waits for it; appends
# its URL to SERVERS.
SERVERS=()
start_llama_server() {
  local model="$1" context="$2" port n
  port="$(free_port)"
  n=${#SERVERS[@]}
  # On a core of its own, as Paddler's agents are.
  taskset -c $((n % $(nproc))) "$LLAMA_SERVER" -m "$model" --host 127.0.0.1 --port "$port" \
    --ctx-size "$context" --parallel 2 --threads 1 --jinja >"$TMP/llama-server-$n.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 240); do
    if curl -sf "http://127.0.0.1:$port/health" >/dev/null; then
      SERVERS+=("http://127.0.0.1:$port")
      return
    fi
    sleep 0.5
  done
  echo "llama-server on port $port not ready in 120 s:" >&2
  tail -n 20 "$TMP/llama-server-$n.log" >&2
  return 1
}

# The cluster test, on the 0.5B model (SmolLM2-135M through Paddler answers with code that
# never becomes a tool call), NeuroNaut straight at Paddler's OpenAI-compatible endpoint: two
# `neuronaut llm ask` at once, then `neuronaut run --env rpg` on the cluster. Fails unless both
# answers came, both agents served, the run's model calls (at least MIN_CALLS) were all answered
# through Paddler, the model's actions ran as tool calls, and the run ended in order.
cluster_test() {
  setup
  need_model "$TEST_MODEL" qwen2.5-coder-0.5b
  need_naut
  TMP="$(mktemp -d)"
  start_cluster "$TEST_MODEL" 8192 0.7
  local home="$TMP/home" status=0
  mkdir -p "$home"
  # Paddler's OpenAI endpoint reads each message's role and content only: the agent sends its
  # earlier tool calls as text (tool_history = "text"). 4096 tokens a conversation: what each of
  # an agent's two slots holds of its 8192 (the endpoint does not say, so the agent is told).
  # Two retries: Paddler 4.0.0 ignores `stop` and does not count the tokens of a tool call
  # towards max_completion_tokens, so a small model that goes on writing after its call fills
  # the slot and is cut with HTTP 500 "evicted due to KV cache pressure" (seen here on the
  # agent's second request); a retry samples anew (the client's retries are logged in run.err).
  printf '[llm]\nbase_url = "%s"\ntimeout_s = 300\nmax_retries = 2\ncontext_size = 4096\ntool_history = "text"\n' \
    "$COMPAT" >"$home/neuronaut.toml"
  # Two questions at once: the balancer gives each to the least busy agent, so both must serve.
  python3 "$TOOLS" busy-agents "$MGMT" 120 >"$TMP/busy.out" 2>&1 &
  local watcher=$! ask_pids=() i answer
  for i in 1 2; do
    NEURONAUT_HOME="$home" timeout 300 "$NAUT" llm ask --max-tokens 48 \
      "Name one colour and say why you like it." >"$TMP/ask-$i.out" 2>"$TMP/ask-$i.err" &
    ask_pids+=($!)
  done
  for i in 1 2; do
    local ask_status=0
    wait "${ask_pids[$((i - 1))]}" || ask_status=$?
    answer="$(cat "$TMP/ask-$i.out")"
    if [[ $ask_status -ne 0 || -z "$answer" ]]; then
      echo "FAIL: neuronaut llm ask straight at Paddler ($COMPAT) exited $ask_status, answer '$answer':" >&2
      tail -n 5 "$TMP/ask-$i.err" >&2
      status=1
    else
      echo "neuronaut llm ask straight at Paddler: '$answer'" >&2
    fi
  done
  if ! wait "$watcher"; then
    status=1
    echo -n "FAIL: " >&2
  fi
  cat "$TMP/busy.out" >&2
  echo "neuronaut run --env rpg --max-tasks 1 --max-minutes ${TEST_MINUTES:-3} --json on Paddler at $COMPAT" >&2
  local run_status=0
  NEURONAUT_HOME="$home" timeout 600 "$NAUT" run --env rpg --max-tasks 1 \
    --max-minutes "${TEST_MINUTES:-3}" --json >"$TMP/events.jsonl" 2>"$TMP/run.err" || run_status=$?
  if [[ $run_status -ne 0 ]]; then
    echo "FAIL: neuronaut run exited $run_status:" >&2
    tail -n 20 "$TMP/run.err" >&2
    status=1
  fi
  python3 "$TOOLS" check-run "$TMP/events.jsonl" "$COMPAT" "${TEST_MIN_CALLS:-3}" || status=1
  if [[ $status -ne 0 ]]; then
    KEEP_TMP=1
    echo "logs kept in $TMP" >&2
    echo "Paddler cluster test FAILED"
    return 1
  fi
  echo "Paddler cluster test passed"
}

# Records the agent's real request stream: `neuronaut run --env rpg` on the 0.5B model through a
# recording proxy in front of one llama-server, for RECORD_MINUTES (default 8).
record() {
  need_model "$BENCH_MODEL" qwen2.5-coder-0.5b
  need_naut
  LLAMA_SERVER="$(bash "$ROOT/bench/engine/llama_cpp.sh" server-path)"
  TMP="$(mktemp -d)"
  start_llama_server "$BENCH_MODEL" 8192
  local port home="$TMP/home"
  port="$(free_port)"
  : >"$TMP/requests.jsonl"
  python3 "$TOOLS" record "${SERVERS[0]}" "$port" "$TMP/requests.jsonl" &
  PIDS+=($!)
  sleep 1
  mkdir -p "$home"
  # Prompts of at most 4096 tokens, what a slot of the servers compared holds.
  printf '[llm]\nbase_url = "http://127.0.0.1:%s"\ntimeout_s = 300\ncontext_size = 4096\n' "$port" \
    >"$home/neuronaut.toml"
  NEURONAUT_HOME="$home" timeout 1200 "$NAUT" run --env rpg --max-minutes "${RECORD_MINUTES:-8}" \
    --json >"$TMP/events.jsonl" 2>"$TMP/run.err" || true
  python3 "$TOOLS" check-run "$TMP/events.jsonl" "http://127.0.0.1:$port" 1 || true
  gzip -9 -n -c "$TMP/requests.jsonl" >"$REQUESTS"
  echo "recorded $(wc -l <"$TMP/requests.jsonl") requests of the agent into $REQUESTS" >&2
}

# The comparison: REPS rounds (default 3), each replaying the recorded stream with CLIENTS
# clients (default 4) of PER_CLIENT requests (default 3) against NeuroNaut's pool over two
# llama-servers and against Paddler's balancer with two agents, the order alternating between
# rounds. Only one setup runs at a time: the other is stopped, so that both get the 2 cores.
bench() {
  setup
  need_model "$BENCH_MODEL" qwen2.5-coder-0.5b
  [[ -f "$REQUESTS" ]] || record
  cleanup
  LLAMA_SERVER="$(bash "$ROOT/bench/engine/llama_cpp.sh" server-path)"
  flock /tmp/naut-build.lock cmake --build --preset release --target pool_replay >&2
  local requests="$WORK/requests.jsonl"
  gunzip -c "$REQUESTS" >"$requests"
  local reps="${REPS:-3}" clients="${CLIENTS:-4}" per="${PER_CLIENT:-3}" results round
  results="$WORK/bench-$(date -u +%Y%m%dT%H%M%S).jsonl"
  # 8192 tokens per server, 2 slots: 4096 per conversation, as the agent plans its prompts for.
  local context=8192
  echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); $(wc -l <"$requests") recorded requests," \
    "$clients clients x $per requests, $reps rounds"
  run_pool() {
    TMP="$(mktemp -d)"
    SERVERS=()
    start_llama_server "$BENCH_MODEL" "$context"
    start_llama_server "$BENCH_MODEL" "$context"
    "$REPLAY" --requests "$requests" --clients "$clients" --per-client "$per" \
      --pool "${SERVERS[0]},${SERVERS[1]}" --label "NeuroNaut pool, 2 llama-servers" | tee -a "$results"
    cleanup
  }
  run_paddler() {
    TMP="$(mktemp -d)"
    start_cluster "$BENCH_MODEL" "$context" 0
    # The requests as Paddler takes them (paddler_tools.py compat_request: tool calls in the
    # history as text, max_tokens as max_completion_tokens), the same work as the pool's.
    local port
    port="$(free_port)"
    python3 "$TOOLS" compat "$COMPAT" "$port" &
    PIDS+=($!)
    sleep 1
    "$REPLAY" --requests "$requests" --clients "$clients" --per-client "$per" \
      --endpoint "http://127.0.0.1:$port" --label "Paddler $PADDLER_VERSION, balancer + 2 agents" | tee -a "$results"
    cleanup
  }
  for ((round = 1; round <= reps; round++)); do
    if ((round % 2)); then run_pool; run_paddler; else run_paddler; run_pool; fi
    echo "round $round done, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  done
  echo "## end $(date -u '+%H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  python3 "$TOOLS" summarize "$results"
  echo "raw figures: $results" >&2
}

case "${1:-}" in
  setup) setup ;;
  test) cluster_test ;;
  record) record ;;
  bench) bench ;;
  cluster)
    setup
    need_model "$TEST_MODEL" qwen2.5-coder-0.5b
    TMP="$(mktemp -d)"
    start_cluster "${MODEL:-$TEST_MODEL}" 8192 0.7
    echo "Paddler's OpenAI-compatible endpoint: $COMPAT (management: $MGMT); Ctrl-C stops it" >&2
    wait
    ;;
  *)
    echo "usage: $0 setup|test|record|bench|cluster" >&2
    exit 2
    ;;
esac
