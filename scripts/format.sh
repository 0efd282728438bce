#!/usr/bin/env bash
# Formats the C++ sources with the repo's .clang-format (Debian 12's clang-format 14, installed
# by scripts/setup.sh), or with --check lists the files that are not formatted and fails.
#   scripts/format.sh           format every tracked .cc and .h in place
#   scripts/format.sh --check   change nothing; exit 1 naming each unformatted file
set -euo pipefail
cd "$(dirname "$0")/.."
fmt=clang-format-14
command -v "$fmt" >/dev/null 2>&1 || fmt=clang-format
command -v "$fmt" >/dev/null 2>&1 || { echo "format.sh: clang-format is not installed (scripts/setup.sh installs it)" >&2; exit 1; }
mapfile -t files < <(git ls-files '*.cc' '*.h')
if [[ "${1:-}" == --check ]]; then
  bad=()
  for f in "${files[@]}"; do
    "$fmt" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
  done
  if ((${#bad[@]})); then
    echo "format.sh: ${#bad[@]} file(s) not formatted as .clang-format says (run scripts/format.sh):" >&2
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
  fi
  echo "format.sh: ${#files[@]} files formatted"
else
  "$fmt" -i "${files[@]}"
fi
