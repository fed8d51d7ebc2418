#!/usr/bin/env bash
# Profiles lbd under load the way ../shared/bench/bench.sh loads it: nginx
# backends and wrk on CPU 0, lbd on CPU 1 (GOMAXPROCS=1). Writes a CPU profile
# of the middle of the run to $OUT (default /tmp/lbd-<scenario>.prof) and
# prints wrk's summary and pprof's top.
#   scripts/profile.sh http_ka | http_close | tcp_ka
# CONNS sets wrk's connections (default 64; the concurrency sweep's points
# are 1 to 5000 here); HEAP=1 also saves a heap profile at the end of the run
# to $OUT.heap. The event loops' counters (handoffs) are printed after.
# LBD=/path/to/lbd profiles another build.
# FULL=1 turns on what scripts/lbd-bench-full.sh does: a health monitor,
# insert_headers, and /metrics scraped every second.
set -euo pipefail
cd "$(dirname "$0")/.."
SCENARIO=${1:-http_ka}
DURATION=${DURATION:-12}
OUT=${OUT:-/tmp/lbd-$SCENARIO.prof}
CONNS=${CONNS:-64}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
. scripts/lib/loopback.sh
start_backends 19201 19202
proto=HTTP; [ "$SCENARIO" = tcp_ka ] && proto=TCP
FULL_EXTRA=""
[ "${FULL:-0}" = 1 ] && full_feature_set "$proto"
lbd_config "$work/lbd.yaml" "$proto" 18091 "$FULL_EXTRA" 19201 19202
start_lbd "$work/lbd.yaml" 127.0.0.1:19103 "${LBD:-./bin/lbd}"
wait_http http://127.0.0.1:18091/
if [ "${FULL:-0}" = 1 ]; then
  ( while sleep 1; do taskset -c 0 curl -fs -o /dev/null http://127.0.0.1:19103/metrics; done ) &
fi
hdr=(); [ "$SCENARIO" = http_close ] && hdr=(-H "Connection: close")
taskset -c 0 wrk -t1 -c"$CONNS" -d"${DURATION}s" --timeout 5s "${hdr[@]}" http://127.0.0.1:18091/ > "$work/wrk.txt" & wrk=$!
sleep 2
curl -fs -o "$OUT" "http://127.0.0.1:19103/debug/pprof/profile?seconds=$((DURATION - 4))"
wait $wrk || true
[ "${HEAP:-0}" = 1 ] && curl -fs -o "$OUT.heap" http://127.0.0.1:19103/debug/pprof/heap
curl -fs http://127.0.0.1:19103/metrics | grep -E '^lbd_event_loop_(requests|handoffs)' || true
grep -E "Requests/sec|Latency" "$work/wrk.txt"
go tool pprof -top -nodecount=30 "${LBD:-bin/lbd}" "$OUT" 2>/dev/null | tail -31
