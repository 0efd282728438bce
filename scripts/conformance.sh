#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance from tests/peers)
# against NeuroNaut's MCP library. Fails when any scenario fails.
#   scripts/conformance.sh server <naut_conformance_server>   every scenario of the active suite
#   scripts/conformance.sh client <naut_conformance_client>   initialize, tools_call,
#                                                             elicitation-sep1034-client-defaults, sse-retry
#   scripts/conformance.sh serve <neuronaut>                  `neuronaut serve`'s /mcp (the skill library
#                        behind serve's Host/Origin/token guard): every scenario that needs no fixture tools
# The suite needs Node >= 22; tests/peers installs one (npm package `node`) next to it.
set -euo pipefail
mode=${1:?usage: conformance.sh server|client|serve BINARY}
binary=${2:?usage: conformance.sh server|client|serve BINARY}
binary=$(realpath "$binary")
root=$(cd "$(dirname "$0")/.." && pwd)
peers=$root/tests/peers
suite=$peers/node_modules/@modelcontextprotocol/conformance/dist/index.js
node=$peers/node_modules/.bin/node

if [[ ! -f $suite || ! -x $node ]]; then
  echo "conformance: installing npm test peers into $peers/node_modules"
  (cd "$peers" && npm ci --no-audit --no-fund --loglevel=error)
fi
major=$("$node" -p 'process.versions.node.split(".")[0]')
if (( major < 22 )); then
  echo "conformance: $node is Node $major; the suite needs Node >= 22 (npm package 'node@22' in tests/peers)" >&2
  exit 1
fi
export PATH="$(dirname "$node"):$PATH"

work=$(mktemp -d)
server_pid=
cleanup() {
  [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

# The suite's exit status, and then every checks.json it wrote: no FAILURE anywhere.
check_results() {
  local failed
  failed=$(find results -name checks.json -print0 2>/dev/null | xargs -0 -r grep -l '"status": *"FAILURE"' || true)
  if [[ -n $failed ]]; then
    echo "conformance: FAILURE checks in:" >&2
    for f in $failed; do
      echo "  $f" >&2
      "$node" -e 'for (const c of JSON.parse(require("fs").readFileSync(process.argv[1]))) if (c.status === "FAILURE") console.error("    " + c.id + ": " + (c.errorMessage || ""))' "$f" >&2
    done
    return 1
  fi
  local count
  count=$(find results -name checks.json 2>/dev/null | wc -l)
  if (( count == 0 )); then
    echo "conformance: the suite wrote no results" >&2
    return 1
  fi
  echo "conformance: $count scenario result files, no FAILURE checks"
}

status=0
case $mode in
  server)
    "$binary" --http 127.0.0.1:0 > server.out 2> server.err &
    server_pid=$!
    url=
    for _ in $(seq 1 100); do
      url=$(sed -n 's/^listening //p' server.out)
      [[ -n $url ]] && break
      sleep 0.1
    done
    if [[ -z $url ]]; then
      echo "conformance: fixture server did not start:" >&2
      cat server.err >&2
      exit 1
    fi
    echo "conformance: server mode against $url"
    "$node" "$suite" server --url "$url" --suite active -o "$work/results" || status=1
    ;;
  serve)
    mkdir home
    NEURONAUT_HOME=$work/home "$binary" serve --http 127.0.0.1:0 > server.out 2> server.err &
    server_pid=$!
    url=
    for _ in $(seq 1 100); do
      url=$(sed -n 's/^neuronaut: serve listening on \([^ ]*\).*/\1/p' server.out)
      [[ -n $url ]] && break
      sleep 0.1
    done
    if [[ -z $url ]]; then
      echo "conformance: neuronaut serve did not start:" >&2
      cat server.err >&2
      exit 1
    fi
    echo "conformance: serve mode against $url/mcp"
    for scenario in server-initialize ping tools-list logging-set-level completion-complete \
        resources-list prompts-list server-sse-polling dns-rebinding-protection; do
      "$node" "$suite" server --url "$url/mcp" --scenario "$scenario" -o "$work/results" || status=1
    done
    if (( $(find results -name checks.json 2>/dev/null | wc -l) < 9 )); then
      echo "conformance: fewer result files than the 9 scenarios run" >&2
      status=1
    fi
    ;;
  client)
    for scenario in initialize tools_call elicitation-sep1034-client-defaults sse-retry; do
      echo "conformance: client scenario $scenario"
      "$node" "$suite" client --command "$binary" --scenario "$scenario" --timeout 60000 -o "$work/results" || status=1
    done
    ;;
  *)
    echo "conformance: mode must be server, client or serve" >&2
    exit 2
    ;;
esac
check_results || status=1
exit $status
