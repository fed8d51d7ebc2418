#!/usr/bin/env bash
# Peak resident memory of lbd builds under many keep-alive connections
# opened at once (issue 22, item 3). For each round and each build given, a
# fresh lbd (CPU 1, GOMAXPROCS=1, as make bench runs it) takes wrk
# -c$CONNS for $D s (CPU 0, with the nginx members), and its VmHWM is
# printed. make bench's peak RSS is one figure per process over a warm-up
# and every round; this gives one per fresh process, builds alternated, so
# that two builds' figures have a spread.
#   CONNS=5000 ROUNDS=5 scripts/peak-rss.sh /tmp/lbd-before bin/lbd
set -uo pipefail
cd "$(dirname "$0")/.."
CONNS=${CONNS:-5000}; D=${D:-3}; ROUNDS=${ROUNDS:-5}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
ulimit -n "$(ulimit -Hn)"
. scripts/lib/loopback.sh
start_backends 19301 19302
wait_http http://127.0.0.1:19301/
for r in $(seq "$ROUNDS"); do
  for b in "$@"; do
    lbd_config "$work/l.yaml" HTTP 19331 "" 19301 19302
    GOMAXPROCS=1 taskset -c 1 "$b" --config "$work/l.yaml" --admin-addr "" --api-addr "" --state-dir none \
      --connection-logging=false 2>"$work/l.log" &
    pid=$!
    wait_http http://127.0.0.1:19331/
    out=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"${D}s" --timeout 5s --latency http://127.0.0.1:19331/)
    echo "round $r $b conns=$CONNS peak_rss_kb=$(awk '/^VmHWM/{print $2}' /proc/$pid/status)" \
      "$(echo "$out" | awk '/Requests\/sec/{r=$2} /^ +99%/{p=$2} END{printf "req/s=%s p99=%s", r, p}')"
    kill "$pid"; wait "$pid" 2>/dev/null
  done
done
