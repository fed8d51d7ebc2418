#!/usr/bin/env bash
# CPU per request, lbd beside HAProxy: each proxy alone on CPU 1 in front of
# two nginx backends on CPU 0, wrk on CPU 0 (64 keep-alive connections, or a
# new connection per request with CLOSE=1), and the proxy's utime+stime
# divided by the requests it served. CPU time spent is much steadier than
# requests/s on a shared machine, where a neighbour's burst stalls the load
# generator or the proxy: it is the work each request costs. Alternates the
# two proxies REPEATS times.
#   DURATION=10 REPEATS=3 CLOSE=0 MODE=http scripts/cpu-per-request.sh
# With BASE=path/to/another/lbd, that binary takes HAProxy's place, for an
# A/B comparison of two builds (the report still calls it "haproxy"). With
# PEER=nginx, nginx (one worker, configured as ../shared/bench/bench.sh
# configures it) takes HAProxy's place; its CPU is its master's and worker's.
# With BODY_SIZE=65536 the backends answer bodies of that many bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}; REPEATS=${REPEATS:-3}; CLOSE=${CLOSE:-0}
MODE=${MODE:-http}   # tcp: both proxies in L4 mode (wrk still speaks HTTP through them)
PROTO=HTTP; [ "$MODE" = tcp ] && PROTO=TCP
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
. scripts/lib/loopback.sh
start_backends 19301 19302
lbd_config "$work/lbd.yaml" "$PROTO" 18092 "" 19301 19302
haproxy_config "$work/haproxy.cfg" "$MODE" 18092 4000 19301 19302
nginx_config "$work/ng" "$MODE" 18092 19301 19302
PEER=${PEER:-haproxy}
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
measure() { # measure NAME: start the proxy, load it, print µs of CPU per request
  local name=$1 pid
  if [ "$name" = lbd ]; then
    start_lbd "$work/lbd.yaml" ""; pid=$!
  elif [ -n "${BASE:-}" ]; then
    start_lbd "$work/lbd.yaml" "" "$BASE"; pid=$!
  elif [ "$PEER" = nginx ]; then
    taskset -c 1 nginx -p "$work/ng" -c "$work/ng/nginx.conf" -e "$work/ng/error.log" -g 'daemon off;' & pid=$!
  else
    taskset -c 1 haproxy -db -f "$work/haproxy.cfg" & pid=$!
  fi
  wait_http http://127.0.0.1:18092/
  local before after hdr=() pids=$pid
  [ "$CLOSE" = 1 ] && hdr=(-H "Connection: close")
  [ "$name" != lbd ] && [ -z "${BASE:-}" ] && [ "$PEER" = nginx ] && pids="$pid $(pgrep -P "$pid" | tr '\n' ' ')"
  # shellcheck disable=SC2086 # a list of pids
  before=$(ticks $pids)
  taskset -c 0 wrk -t1 -c64 -d"${DURATION}s" "${hdr[@]}" http://127.0.0.1:18092/ > "$work/wrk.txt"
  # shellcheck disable=SC2086
  after=$(ticks $pids)
  kill $pid; wait $pid 2>/dev/null || true
  local ok
  ok=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
  awk -v t=$((after - before)) -v n="$ok" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f %d\n", t / hz * 1e6 / n, n}'
}
declare -a L H
for i in $(seq "$REPEATS"); do
  read -r l ln < <(measure lbd); read -r h hn < <(measure "$PEER")
  L+=("$l"); H+=("$h")
  echo "repeat $i: lbd $l µs/request ($ln ok), $PEER $h µs/request ($hn ok)"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ml=$(median "${L[@]}"); mh=$(median "${H[@]}")
echo "median CPU per request$([ "$CLOSE" = 1 ] && echo ', a new connection each'): lbd $ml µs, $PEER $mh µs, lbd/$PEER $(awk -v a="$ml" -v b="$mh" 'BEGIN {printf "%.3f", a/b}')"
