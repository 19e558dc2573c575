#!/usr/bin/env bash
# Runs every Go fuzz target in the module for a bounded time each (default
# 10s; `make fuzz-long` runs 5m). A crasher fails the run and leaves its input
# under the package's testdata/fuzz/<Target>/ so it becomes a regression test.
set -euo pipefail
fuzztime=${1:-10s}
cd "$(dirname "$0")/.."
mapfile -t pkgs < <(go list ./...)
status=0
for pkg in "${pkgs[@]}"; do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  grep -lq '^func Fuzz' "$dir"/*_test.go 2>/dev/null || continue
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "fuzz: $pkg $target ($fuzztime)"
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"; then
      echo "fuzz: $pkg $target FAILED" >&2
      status=1
    fi
  done
done
exit $status
