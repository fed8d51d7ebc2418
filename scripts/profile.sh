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
cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:19201; location / { return 200 "Hello World!"; } }
  server { listen 127.0.0.1:19202; location / { return 200 "Hello World!"; } }
}
NGINX
taskset -c 0 nginx -c "$work/nginx.conf" -g "daemon off;" &  # a job, so the trap stops it
proto=HTTP; [ "$SCENARIO" = tcp_ka ] && proto=TCP
cat >"$work/lbd.yaml" <<YAML
loadbalancers:
  - name: prof
    vip_address: 127.0.0.1
    listeners:
      - name: l
        protocol: $proto
        protocol_port: 18091
        default_pool:
          name: p
          protocol: $proto
          lb_algorithm: ROUND_ROBIN
          members:
            - {address: 127.0.0.1, protocol_port: 19201}
            - {address: 127.0.0.1, protocol_port: 19202}
YAML
GOMAXPROCS=1 taskset -c 1 ./bin/lbd --config "$work/lbd.yaml" --admin-addr 127.0.0.1:19103 --api-addr "" --state-dir none 2>"$work/lbd.log" &
for _ in $(seq 100); do curl -fs -o /dev/null http://127.0.0.1:18091/ && break; sleep 0.1; done
hdr=(); [ "$SCENARIO" = http_close ] && hdr=(-H "Connection: close")
taskset -c 0 wrk -t1 -c64 -d"${DURATION}s" "${hdr[@]}" http://127.0.0.1:18091/ > "$work/wrk.txt" & wrk=$!
sleep 2
curl -fs -o "$OUT" "http://127.0.0.1:19103/debug/pprof/profile?seconds=$((DURATION - 4))"
wait $wrk || true
grep -E "Requests/sec|Latency" "$work/wrk.txt"
go tool pprof -top -nodecount=30 bin/lbd "$OUT" 2>/dev/null | tail -31
