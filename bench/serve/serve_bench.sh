#!/usr/bin/env bash
# The model server beside llama-server on the same real model, this machine:
#
#   bench/serve/serve_bench.sh
#
# Starts llama-server (built by bench/engine/llama_cpp.sh setup into bench/engine/.llama-cpp/bin)
# and `neuronaut serve --model` (build/release/src/cli/neuronaut, or NEURONAUT) in turn, never
# both at once, with the same model, threads, context and slots, and runs bench/serve/load.py against
# each: CLIENTS concurrent streaming clients (default "1 2 4"), each sending REQUESTS requests of
# MAX_TOKENS generated tokens (ignore_eos, greedy). The servers alternate for REPS repetitions, so
# that drift of the machine's load shows in both. Prints one JSON line a run and, at the end, per
# server and client count: aggregate tokens/s and time to first token, median and range over the
# repetitions.
#
# Settings (environment): MODEL (default models/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf),
# THREADS (2), CTX (per slot, 2048), PARALLEL (4), CLIENTS ("1 2 4"), REQUESTS (3),
# MAX_TOKENS (128), REPS (3), PORT (18180; ours on PORT + 1). Run it when nothing else uses the CPU (under
# `flock /tmp/naut-build.lock` so that no build does).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
MODEL="${MODEL:-$ROOT/models/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf}"
THREADS="${THREADS:-2}"
CTX="${CTX:-2048}"
PARALLEL="${PARALLEL:-4}"
CLIENTS="${CLIENTS:-1 2 4}"
REQUESTS="${REQUESTS:-3}"
MAX_TOKENS="${MAX_TOKENS:-128}"
REPS="${REPS:-3}"
PORT="${PORT:-18180}"
OURS="${NEURONAUT:-$ROOT/build/release/src/cli/neuronaut}"
LLAMA_SERVER="$ROOT/bench/engine/.llama-cpp/bin/llama-server"
OUT="$(mktemp -d)"

[[ -f "$MODEL" ]] || { echo "no model at $MODEL (scripts/models.sh fetches it)" >&2; exit 1; }
[[ -x "$OURS" ]] || { echo "no $OURS: cmake --build --preset release --target neuronaut" >&2; exit 1; }
[[ -x "$LLAMA_SERVER" ]] || "$ROOT/bench/engine/llama_cpp.sh" setup

PID=""
stop_server() {
  if [[ -n "$PID" ]]; then
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
  fi
}
trap stop_server EXIT

start_server() {  # name
  # Each server its own port: the other's connections may still be in TIME_WAIT on its port.
  PORT_NOW=$PORT
  [[ "$1" == neuronaut ]] && PORT_NOW=$((PORT + 1))
  if [[ "$1" == llama-server ]]; then
    # The whole context is shared by the slots in llama-server: CTX per slot times PARALLEL.
    "$LLAMA_SERVER" -m "$MODEL" --host 127.0.0.1 --port "$PORT_NOW" -t "$THREADS" \
      -c $((CTX * PARALLEL)) -np "$PARALLEL" -cb --no-webui >"$OUT/$1.log" 2>&1 &
  else
    # A data home of its own; no MCP server at /mcp, no rate limit in the way of the load.
    "$OURS" --home "$OUT/home" serve --http "127.0.0.1:$PORT_NOW" --model "$MODEL" --mcp none \
      --threads "$THREADS" --ctx-size "$CTX" --parallel "$PARALLEL" --queue 16 --rate-limit 100000 \
      >"$OUT/$1.log" 2>&1 &
  fi
  PID=$!
  for _ in $(seq 1 600); do
    if curl -sf "http://127.0.0.1:$PORT_NOW/health" >/dev/null 2>&1; then return 0; fi
    kill -0 "$PID" 2>/dev/null || { cat "$OUT/$1.log" >&2; return 1; }
    sleep 0.2
  done
  echo "$1 did not become healthy" >&2
  return 1
}

for rep in $(seq 1 "$REPS"); do
  for server in llama-server neuronaut; do
    start_server "$server"
    # One short request first, so that neither server's first figures include warming up.
    python3 "$ROOT/bench/serve/load.py" "http://127.0.0.1:$PORT_NOW" --clients 1 --requests 1 \
      --max-tokens 4 --json >/dev/null
    for c in $CLIENTS; do
      line="$(python3 "$ROOT/bench/serve/load.py" "http://127.0.0.1:$PORT_NOW" --clients "$c" \
        --requests "$REQUESTS" --max-tokens "$MAX_TOKENS" --json)"
      echo "{\"server\": \"$server\", \"rep\": $rep, ${line#\{}" | tee -a "$OUT/runs.jsonl"
    done
    stop_server
  done
done

python3 - "$OUT/runs.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print(f"\n{'server':<13} {'clients':>7} {'tokens/s median [min, max]':>30} {'TTFT ms median [min, max]':>30}")
for server in ("llama-server", "neuronaut"):
    for c in sorted({r["clients"] for r in runs}):
        rs = [r for r in runs if r["server"] == server and r["clients"] == c]
        if not rs:
            continue
        tps = [r["tokens_per_s"] for r in rs]
        tt = [r["ttft_ms_median"] for r in rs if r["ttft_ms_median"] is not None]
        err = sum(r["errors"] for r in rs)
        print(f"{server:<13} {c:>7} {statistics.median(tps):>12.1f} [{min(tps):.1f}, {max(tps):.1f}]"
              f"{statistics.median(tt):>15.0f} [{min(tt):.0f}, {max(tt):.0f}]" + (f"  errors {err}" if err else ""))
PY
echo "runs: $OUT/runs.jsonl"
