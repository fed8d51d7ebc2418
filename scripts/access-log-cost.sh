#!/usr/bin/env bash
# What access logs cost, lbd beside HAProxy, both writing Octavia's amphora
# line (its default user_log_format) for every request to the same kind of
# sink: a file (SINK=file, default: lbd's --access-log file:, HAProxy's
# "log stdout format raw" redirected to a file, as HAProxy cannot open one
# itself) or syslog over UDP (SINK=udp: both RFC 5424 to a receiver on the
# load generator's CPU). Set up as scripts/cpu-per-request.sh is: each proxy
# alone on CPU 1, two nginx backends and wrk (64 keep-alive connections, or
# a new connection per request with CLOSE=1) on CPU 0; CPU per request is
# the proxy's utime+stime divided by the requests it served. Each repeat
# measures lbd and HAProxy with their logs off and on, alternating.
#   DURATION=10 REPEATS=3 CLOSE=0 MODE=http SINK=file scripts/access-log-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}; REPEATS=${REPEATS:-3}; CLOSE=${CLOSE:-0}; SINK=${SINK:-file}
MODE=${MODE:-http}   # tcp: both proxies in L4 mode (one line per connection)
PROTO=HTTP; [ "$MODE" = tcp ] && PROTO=TCP
[ -x bin/lbd ] || make -s build
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
. scripts/lib/loopback.sh
start_backends 19401 19402
lbd_config "$work/lbd.yaml" "$PROTO" 18094 "" 19401 19402
haproxy_config "$work/haproxy.cfg" "$MODE" 18094 4000 19401 19402

# HAProxy with logging as the amphora has it: "log global", and Octavia's
# line (for TCP, the request line and status are "-", as Octavia writes
# them), to stdout or to the syslog receiver.
format='- lbid %f %ci %cp %t %{+Q}r %ST %B %U %[ssl_c_verify] %{+Q}[ssl_c_s_dn] %b %s %Tt %tsc'
[ "$MODE" = tcp ] && format=${format//'%{+Q}r %ST'/'- -'}
target="stdout format raw local0"
[ "$SINK" = udp ] && target="127.0.0.1:19514 format rfc5424 local0"
FMT=$(printf '%s' "$format" | sed 's/ /\\ /g') TARGET=$target awk '
  { print }
  /^global$/ { print "  log " ENVIRON["TARGET"] }
  /^defaults$/ { print "  log global" }
  /^frontend / { print "  log-format " ENVIRON["FMT"] }
' "$work/haproxy.cfg" >"$work/haproxy-log.cfg"

if [ "$SINK" = udp ]; then
  # The receiver reads and discards, on the load generator's CPU.
  taskset -c 0 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(("127.0.0.1", 19514))
while True:
    s.recv(65536)
' &
  lbd_sink="udp://127.0.0.1:19514"
else
  lbd_sink="file:$work/lbd-access.log"
fi

ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
lines() { # lines NAME: the lines its log holds (file sink only)
  case $1 in
    lbd-log) wc -l <"$work/lbd-access.log" ;;
    haproxy-log) wc -l <"$work/haproxy-access.log" ;;
  esac
}
measure() { # measure NAME: start the proxy, load it, print µs of CPU per request and requests
  local name=$1 pid
  case $name in
    lbd) LBD_LOG=--connection-logging=false start_lbd "$work/lbd.yaml" ""; pid=$! ;;
    lbd-log) rm -f "$work/lbd-access.log"; LBD_LOG="--access-log $lbd_sink" start_lbd "$work/lbd.yaml" ""; pid=$! ;;
    haproxy) taskset -c 1 haproxy -db -f "$work/haproxy.cfg" & pid=$! ;;
    haproxy-log) taskset -c 1 haproxy -db -f "$work/haproxy-log.cfg" >"$work/haproxy-access.log" & pid=$! ;;
  esac
  wait_http http://127.0.0.1:18094/
  local before after hdr=()
  [ "$CLOSE" = 1 ] && hdr=(-H "Connection: close")
  before=$(ticks $pid)
  taskset -c 0 wrk -t1 -c64 -d"${DURATION}s" "${hdr[@]}" http://127.0.0.1:18094/ >"$work/wrk.txt"
  after=$(ticks $pid)
  kill $pid; wait $pid 2>/dev/null || true
  local ok logged=-
  ok=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
  [ "$SINK" = file ] && [ "${name%-log}" != "$name" ] && logged=$(lines "$name")
  rm -f "$work/lbd-access.log" "$work/haproxy-access.log"
  awk -v t=$((after - before)) -v n="$ok" -v hz="$(getconf CLK_TCK)" -v l="$logged" 'BEGIN {printf "%.2f %d %s\n", t / hz * 1e6 / n, n, l}'
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A us
names="lbd lbd-log haproxy haproxy-log"
for i in $(seq "$REPEATS"); do
  line="repeat $i:"
  for name in $names; do
    read -r u n l < <(measure "$name")
    us[$name]+="$u "
    line+=" $name $u µs ($n requests, lines $l);"
  done
  echo "$line"
done
declare -A med
for name in $names; do
  # shellcheck disable=SC2086 # a list of numbers
  med[$name]=$(median ${us[$name]})
done
echo "median CPU per request ($MODE, sink $SINK$([ "$CLOSE" = 1 ] && echo ', a new connection each')):"
for name in $names; do echo "  $name ${med[$name]} µs"; done
awk -v a="${med[lbd]}" -v al="${med[lbd-log]}" -v h="${med[haproxy]}" -v hl="${med[haproxy-log]}" 'BEGIN {
  printf "  cost of the access log: lbd %+.2f µs/request, haproxy %+.2f µs/request\n", al - a, hl - h
  printf "  logging on, lbd/haproxy CPU per request: %.3f (below 1: lbd cheaper)\n", al / hl
}'
