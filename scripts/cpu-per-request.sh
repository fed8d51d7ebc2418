#!/usr/bin/env bash
# CPU per request, lbd beside HAProxy: each proxy alone on CPU 1 in front of
# two nginx backends on CPU 0, wrk on CPU 0 (64 keep-alive connections, or a
# new connection per request with CLOSE=1), and the proxy's utime+stime
# divided by the requests it served. CPU time spent is much steadier than
# requests/s on a shared machine, where a neighbour's burst stalls the load
# generator or the proxy: it is the work each request costs. Alternates the
# two proxies REPEATS times.
#   DURATION=10 REPEATS=3 CLOSE=0 MODE=http scripts/cpu-per-request.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}; REPEATS=${REPEATS:-3}; CLOSE=${CLOSE:-0}
MODE=${MODE:-http}   # tcp: both proxies in L4 mode (wrk still speaks HTTP through them)
PROTO=HTTP; [ "$MODE" = tcp ] && PROTO=TCP
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:19301; location / { return 200 "Hello World!"; } }
  server { listen 127.0.0.1:19302; location / { return 200 "Hello World!"; } }
}
NGINX
taskset -c 0 nginx -c "$work/nginx.conf" -g "daemon off;" &  # a job, so the trap stops it
cat >"$work/lbd.yaml" <<YAML
loadbalancers:
  - name: cpu
    vip_address: 127.0.0.1
    listeners:
      - name: l
        protocol: $PROTO
        protocol_port: 18092
        default_pool:
          name: p
          protocol: $PROTO
          lb_algorithm: ROUND_ROBIN
          members:
            - {address: 127.0.0.1, protocol_port: 19301}
            - {address: 127.0.0.1, protocol_port: 19302}
YAML
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

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() { # measure NAME: start the proxy, load it, print µs of CPU per request
  local name=$1 pid
  if [ "$name" = lbd ]; then
    GOMAXPROCS=1 taskset -c 1 ./bin/lbd --config "$work/lbd.yaml" --admin-addr "" --api-addr "" --state-dir none 2>/dev/null & pid=$!
  else
    taskset -c 1 haproxy -db -f "$work/haproxy.cfg" & pid=$!
  fi
  for _ in $(seq 100); do curl -fs -o /dev/null http://127.0.0.1:18092/ && break; sleep 0.1; done
  local before after hdr=()
  [ "$CLOSE" = 1 ] && hdr=(-H "Connection: close")
  before=$(ticks $pid)
  taskset -c 0 wrk -t1 -c64 -d"${DURATION}s" "${hdr[@]}" http://127.0.0.1:18092/ > "$work/wrk.txt"
  after=$(ticks $pid)
  kill $pid; wait $pid 2>/dev/null || true
  local ok
  ok=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
  awk -v t=$((after - before)) -v n="$ok" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f %d\n", t / hz * 1e6 / n, n}'
}
declare -a L H
for i in $(seq "$REPEATS"); do
  read -r l ln < <(measure lbd); read -r h hn < <(measure haproxy)
  L+=("$l"); H+=("$h")
  echo "repeat $i: lbd $l µs/request ($ln ok), haproxy $h µs/request ($hn ok)"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ml=$(median "${L[@]}"); mh=$(median "${H[@]}")
echo "median CPU per request$([ "$CLOSE" = 1 ] && echo ', a new connection each'): lbd $ml µs, haproxy $mh µs, lbd/haproxy $(awk -v a="$ml" -v b="$mh" 'BEGIN {printf "%.3f", a/b}')"
