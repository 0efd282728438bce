#!/usr/bin/env bash
# Installs what NeuroNaut needs on Debian 12 (only what is missing, so a second run is quick),
# the npm test peers into tests/peers/node_modules, and builds the release preset.
#   scripts/setup.sh            packages + npm peers + build
#   scripts/setup.sh --no-build packages + npm peers only
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  build-essential g++ cmake ninja-build pkg-config git python3 ca-certificates
  nlohmann-json3-dev libcpp-httplib-dev libssl-dev zlib1g-dev libbrotli-dev libcurl4-openssl-dev
  libsqlite3-dev libhnswlib-dev libcli11-dev libspdlog-dev libfmt-dev libtomlplusplus-dev
  libseccomp-dev libre2-dev libicu-dev libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev clang-format-14 clang-tidy-14
  chromium
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm test peers (official MCP servers, SDK and conformance suite, the openai client, puppeteer-core
# for the dashboard test in chromium), pinned by package-lock.json.
peers=tests/peers
stamp=$peers/node_modules/.naut-lock-sha256
want=$(sha256sum $peers/package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || "$(cat $stamp)" != "$want" ]]; then
  echo "setup: installing npm test peers into $peers/node_modules"
  (cd $peers && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
fi

if [[ "${1:-}" != "--no-build" ]]; then
  cmake --preset release >/dev/null
  cmake --build --preset release
fi
