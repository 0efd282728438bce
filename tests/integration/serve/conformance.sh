#!/usr/bin/env bash
# The official MCP conformance suite (@modelcontextprotocol/conformance, from tests/peers)
# against `neuronaut serve`'s /mcp, the skill library's MCP server sharing serve's port behind
# its Host/Origin/token guard. Every scenario that needs no fixture tools runs (the
# fixture-tool scenarios run against naut_conformance_server in mcp_conformance_server).
#   tests/integration/serve/conformance.sh <neuronaut>
set -euo pipefail
binary=$(realpath "${1:?usage: conformance.sh NEURONAUT}")
root=$(cd "$(dirname "$0")/../../.." && pwd)
peers=$root/tests/peers
suite=$peers/node_modules/@modelcontextprotocol/conformance/dist/index.js
node=$peers/node_modules/.bin/node
if [[ ! -f $suite || ! -x $node ]]; then
  echo "conformance: installing npm test peers into $peers/node_modules"
  (cd "$peers" && npm ci --no-audit --no-fund --loglevel=error)
fi
export PATH="$(dirname "$node"):$PATH"

work=$(mktemp -d)
serve_pid=
cleanup() {
  [[ -n $serve_pid ]] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
mkdir home
NEURONAUT_HOME=$work/home "$binary" serve --http 127.0.0.1:0 > serve.out 2> serve.err &
serve_pid=$!
url=
for _ in $(seq 1 100); do
  url=$(sed -n 's/^neuronaut: serve listening on \([^ ]*\).*/\1/p' serve.out)
  [[ -n $url ]] && break
  sleep 0.1
done
if [[ -z $url ]]; then
  echo "conformance: neuronaut serve did not start:" >&2
  cat serve.err >&2
  exit 1
fi
echo "conformance: against $url/mcp"
status=0
for scenario in server-initialize ping tools-list logging-set-level completion-complete \
    resources-list prompts-list server-sse-polling dns-rebinding-protection; do
  "$node" "$suite" server --url "$url/mcp" --scenario "$scenario" -o "$work/results" || status=1
done
failed=$(find results -name checks.json -print0 | xargs -0 -r grep -l '"status": *"FAILURE"' || true)
count=$(find results -name checks.json | wc -l)
if [[ -n $failed || $count -lt 9 ]]; then
  echo "conformance: $count result files; FAILURE checks in: $failed" >&2
  exit 1
fi
echo "conformance: $count scenario result files, no FAILURE checks"
exit $status
