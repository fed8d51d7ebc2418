#!/usr/bin/env bash
# Runs every scenario in configs/bench with lbctl bench and keeps the tables,
# JSON reports and charts in one folder (default /tmp/lbd-bench): the full
# algorithm comparison of docs/benchmarks.md. Extra arguments go to every run,
# e.g. --duration 5s.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
out=${OUT:-/tmp/lbd-bench}
mkdir -p "$out"
go build -o bin/lbctl ./cmd/lbctl
for f in configs/bench/*.yaml; do
	name=$(basename "$f" .yaml)
	echo "== $name (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
	bin/lbctl bench -f "$f" --out "$out/$name" "$@" | tee "$out/$name.txt"
done
echo "results in $out" >&2
