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
cat >"$work/haproxy.cfg" <<HAP
global
  nbthread 1
  maxconn 4000
defaults
  mode $MODE
  maxconn 4000
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option splice-auto
$([ "$MODE" = http ] && printf '  option http-keep-alive\n  http-reuse always\n')
frontend fe
  bind 127.0.0.1:18092
  default_backend be
backend be
  balance roundrobin
  server s1 127.0.0.1:19301
  server s2 127.0.0.1:19302
HAP

mkdir -p "$work/ng/tmp"
cat >"$work/ng/nginx.conf" <<NG
worker_processes 1;
pid $work/ng/nginx.pid;
error_log $work/ng/error.log crit;
$([ "$MODE" = tcp ] && echo 'load_module /usr/lib/nginx/modules/ngx_stream_module.so;')
events { worker_connections 20000; multi_accept on; }
$(if [ "$MODE" = tcp ]; then cat <<TCP
stream {
  upstream be { server 127.0.0.1:19301; server 127.0.0.1:19302; }
  server { listen 127.0.0.1:18092 backlog=4096; proxy_pass be; proxy_connect_timeout 5s; }
}
TCP
else cat <<HTTP
http {
  access_log off;
  tcp_nodelay on;
  keepalive_timeout 120s; keepalive_requests 10000000;
  client_body_temp_path $work/ng/tmp; proxy_temp_path $work/ng/tmp; fastcgi_temp_path $work/ng/tmp;
  uwsgi_temp_path $work/ng/tmp; scgi_temp_path $work/ng/tmp;
  upstream be { server 127.0.0.1:19301; server 127.0.0.1:19302; keepalive 512; keepalive_requests 10000000; keepalive_timeout 120s; }
  server {
    listen 127.0.0.1:18092 backlog=4096;
    location / {
      proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_buffer_size 16k; proxy_buffers 64 16k; proxy_busy_buffers_size 32k; proxy_max_temp_file_size 0;
    }
  }
}
HTTP
fi)
NG
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
