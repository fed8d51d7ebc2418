#!/usr/bin/env bash
# Profiles lbd under load the way ../shared/bench/bench.sh loads it: nginx
# backends and wrk on CPU 0, lbd on CPU 1 (GOMAXPROCS=1). Writes a CPU profile
# of the middle of the run to $OUT (default /tmp/lbd-<scenario>.prof) and
# prints wrk's summary and pprof's top.
#   scripts/profile.sh http_ka | http_close | tcp_ka
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIO=${1:-http_ka}
DURATION=${DURATION:-12}
OUT=${OUT:-/tmp/lbd-$SCENARIO.prof}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
. scripts/lib/loopback.sh
start_backends 19201 19202
proto=HTTP; [ "$SCENARIO" = tcp_ka ] && proto=TCP
lbd_config "$work/lbd.yaml" "$proto" 18091 "" 19201 19202
start_lbd "$work/lbd.yaml" 127.0.0.1:19103
wait_http http://127.0.0.1:18091/
hdr=(); [ "$SCENARIO" = http_close ] && hdr=(-H "Connection: close")
taskset -c 0 wrk -t1 -c64 -d"${DURATION}s" "${hdr[@]}" http://127.0.0.1:18091/ > "$work/wrk.txt" & wrk=$!
sleep 2
curl -fs -o "$OUT" "http://127.0.0.1:19103/debug/pprof/profile?seconds=$((DURATION - 4))"
wait $wrk || true
grep -E "Requests/sec|Latency" "$work/wrk.txt"
go tool pprof -top -nodecount=30 bin/lbd "$OUT" 2>/dev/null | tail -31
