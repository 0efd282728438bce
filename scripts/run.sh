#!/usr/bin/env bash
# Sets up and builds NeuroNaut if needed, then runs the agent: scripts/run.sh [run options]
#
# With no model configured (no LLM_BACKEND, LLM_BASE_URL or LLM_MODEL, no [llm] backend,
# base_url, model or endpoints in neuronaut.toml), the agent runs on the embedded engine with a
# verified model from ./models, fetching the default one (scripts/models.sh) when there is none.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
naut=build/release/src/cli/neuronaut

configured() {
  [[ -n "${LLM_BACKEND:-}${LLM_BASE_URL:-}${LLM_MODEL:-}" ]] && return 0
  "$naut" config show 2>/dev/null | awk '
    /^\[llm\]/ { in_llm = 1; next }
    /^\[/ { in_llm = 0 }
    in_llm && /^(backend|base_url|model|endpoints) / && !/# default$/ { found = 1 }
    END { exit !found }'
}

if ! configured; then
  model=""
  # The largest of the pinned instruct models that is here, else any GGUF in ./models.
  for name in qwen2.5-coder-1.5b qwen2.5-coder-0.5b smollm2-135m; do
    candidate=$(bash scripts/models.sh --path "$name")
    if [[ -f "$candidate" ]]; then
      model=$candidate
      break
    fi
  done
  if [[ -z "$model" ]]; then
    # (not the embedding model scripts/embed_model.sh makes: it cannot chat)
    model=$(find models -maxdepth 1 -name '*.gguf' ! -name 'all-MiniLM-*' 2>/dev/null | sort | head -n 1)
  fi
  if [[ -z "$model" ]]; then
    echo "run.sh: no model configured and none in ./models: fetching the default model" >&2
    bash scripts/models.sh
    model=$(bash scripts/models.sh --path)
  fi
  echo "run.sh: no model configured: the agent runs $model on the embedded engine" \
    "(set LLM_BACKEND and LLM_MODEL, or [llm] in neuronaut.toml, to choose)" >&2
  export LLM_BACKEND=embedded LLM_MODEL=$model
fi
exec "$naut" run "$@"
