#!/usr/bin/env bash
# Runs every fuzz target in the repository for FUZZ_TIME each (default 2m).
# make test runs it with a few seconds per target; make fuzz with the default.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_TIME=${FUZZ_TIME:-2m}
grep -rl --include='*_test.go' '^func Fuzz' internal cmd | sort | while read -r file; do
  pkg=./$(dirname "$file")
  for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | cut -d' ' -f2); do
    echo "fuzz $pkg $target ($FUZZ_TIME)"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZ_TIME" "$pkg" >/tmp/lbd-fuzz.log 2>&1 || { cat /tmp/lbd-fuzz.log; exit 1; }
  done
done
