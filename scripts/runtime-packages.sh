#!/usr/bin/env bash
# The Debian packages that provide the shared libraries executables load, one per line:
#   scripts/runtime-packages.sh build/release/src/cli/neuronaut
# The Containerfile's build stages run it on what they built, and its runtime stages install
# exactly that list on a slim Debian 12; tests/integration/container runs it here too.
# Exits 1 naming a library that is not found, or that no installed package provides.
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 EXECUTABLE..." >&2; exit 2; }

list() {
  local status=0 exe name path pkg p
  for exe in "$@"; do
    if [[ ! -x "$exe" ]]; then
      echo "runtime-packages: $exe is not an executable file" >&2
      status=1
      continue
    fi
    while read -r name path; do
      if [[ "$path" == "not found" || -z "$path" ]]; then
        echo "runtime-packages: $exe needs $name, which is not found" >&2
        status=1
        continue
      fi
      # Debian 12 merges /lib into /usr/lib; dpkg knows a file by the path its package ships.
      pkg=""
      for p in "$path" "$(readlink -f "$path")" "${path#/usr}" "/usr${path}"; do
        pkg=$(dpkg -S "$p" 2>/dev/null | head -n1 | cut -d: -f1) && [[ -n "$pkg" ]] && break
      done
      if [[ -z "$pkg" ]]; then
        echo "runtime-packages: no installed package provides $path ($exe)" >&2
        status=1
        continue
      fi
      echo "$pkg"
    done < <(ldd "$exe" | awk '$2 == "=>" { print $1, ($3 == "not" ? "not found" : $3) }')
  done
  return "$status"
}

list "$@" | sort -u
