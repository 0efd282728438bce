#!/usr/bin/env bash
# The learning benchmark: the agent plays a world over fixed seeds with a real local model,
# once per variant (the full agent and its ablations), each run in a data home of its own;
# then report.py turns the runs' traces into the table and plots of bench/learning/README.md.
#
#   bench/learning/run.sh [--label NAME] [--model NAME] [--seeds "1 2 3 4 5"] [--minutes 60]
#                         [--calls N]       (each run also ends after N model calls: the same
#                                            runs on a slow machine and a fast one)
#                         [--variants "full no-skills ..."] [--env rpg] [--threads 2]
#                         [--binary PATH]   (another build of neuronaut, e.g. to compare two)
#
# Variants (each on the same seeds):
#   full              the agent as it ships
#   no-skills         neuronaut run --no-skills: nothing retrieved, nothing learned
#   no-memory         --no-memory: earlier episodes are not shown
#   llm-critic        --critic llm: the model judges its own success, not the game's checker
#   fixed-curriculum  --curriculum fixed: the milestones in order, each until reached
#   no-reflect        [agent] reflect = "off": no lessons drawn, so no retries after lessons
#   no-consolidate    [agent] consolidate_every = 0: alike skills are never merged
#   no-replay         [agent] replay_skills = false: the model writes every skill (no task's
#                     calls are kept as its skill)
#   transfer          a new game on the same seed with the data home of `full` (its skills and
#                     memories kept); needs `full` run first in the same label
# Runs go to bench/learning/runs/<label>/<variant>/seed<N>/ (ignored by git): the data home,
# the JSON event stream and stderr. A run that exists is skipped, so an interrupted benchmark
# continues where it stopped; delete its folder to run it again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

binary="" label="" model="qwen2.5-coder-1.5b" seeds="1 2 3 4 5" minutes=60 calls="" env=rpg threads=2
variants="full no-skills no-memory llm-critic fixed-curriculum transfer"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --label) label="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --seeds) seeds="$2"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    --calls) calls="$2"; shift 2 ;;
    --variants) variants="$2"; shift 2 ;;
    --env) env="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --binary) binary="$2"; shift 2 ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n "$label" ]] || label="$env-$model"

[[ -n "$binary" ]] || bash "$root/scripts/setup.sh"
bash "$root/scripts/models.sh" "$model"
# The plots: matplotlib into an ignored folder, pinned.
if [[ ! -d "$here/.pydeps/matplotlib" ]]; then
  python3 -m pip install -q --disable-pip-version-check --target "$here/.pydeps" matplotlib==3.11.2
fi
gguf="$(bash "$root/scripts/models.sh" --path "$model")"
if [[ -n "$binary" ]]; then
  naut="$(realpath "$binary")"
else
  cmake --preset release >/dev/null
  cmake --build --preset release -j2 --target neuronaut
  naut="$root/build/release/src/cli/neuronaut"
fi

out="$root/bench/learning/runs/$label"
mkdir -p "$out"
echo "learning benchmark '$label': $env, $model, seeds [$seeds], $minutes min${calls:+ or $calls model calls} per run, variants [$variants]"

config() {  # the data home's configuration: the same for every variant
  cat <<TOML
[llm]
backend = "embedded"
model = "$gguf"
threads = $threads
context_size = 8192

[log]
level = "warn"
TOML
}

for variant in $variants; do
  case "$variant" in
    full|transfer) flags=() ;;
    no-skills) flags=(--no-skills) ;;
    no-memory) flags=(--no-memory) ;;
    llm-critic) flags=(--critic llm) ;;
    fixed-curriculum) flags=(--curriculum fixed) ;;
    no-reflect | no-consolidate | no-replay) flags=() ;;
    *) echo "run.sh: unknown variant '$variant'" >&2; exit 2 ;;
  esac
  for seed in $seeds; do
    dir="$out/$variant/seed$seed"
    if [[ -f "$dir/done" ]]; then
      echo "  $variant seed $seed: done before, skipped"
      continue
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    if [[ "$variant" == transfer ]]; then
      from="$out/full/seed$seed"
      if [[ ! -f "$from/done" ]]; then
        echo "run.sh: transfer needs the full variant of seed $seed first ($from)" >&2
        exit 1
      fi
      cp -a "$from/home" "$dir/home"
      rm -rf "$dir/home/runs"  # the new pass's trace only; skills and memories stay
    else
      mkdir -p "$dir/home"
    fi
    config > "$dir/home/neuronaut.toml"
    case "$variant" in  # the ablations that are settings rather than flags
      no-reflect) printf '\n[agent]\nreflect = "off"\n' >> "$dir/home/neuronaut.toml" ;;
      no-consolidate) printf '\n[agent]\nconsolidate_every = 0\n' >> "$dir/home/neuronaut.toml" ;;
      no-replay) printf '\n[agent]\nreplay_skills = false\n' >> "$dir/home/neuronaut.toml" ;;
    esac
    echo "  $variant seed $seed: running (at most $minutes min)"
    start=$(date +%s)
    set +e
    "$naut" --home "$dir/home" run --env "$env" --seed "$seed" --max-minutes "$minutes" \
      ${calls:+--max-model-calls "$calls"} --max-tasks 0 --fresh --json "${flags[@]}" \
      > "$dir/events.jsonl" 2> "$dir/stderr.txt"
    rc=$?
    set -e
    echo "$rc" > "$dir/exit_code"
    echo "    exit $rc after $(( $(date +%s) - start )) s"
    touch "$dir/done"
  done
done

python3 "$here/report.py" "$out" ${calls:+--calls "$calls"}
