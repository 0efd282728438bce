#!/usr/bin/env bash
# Sets up and builds NeuroNaut if needed, then runs the agent: scripts/run.sh [run options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
exec build/release/src/cli/neuronaut run "$@"
