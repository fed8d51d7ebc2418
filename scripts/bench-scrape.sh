#!/usr/bin/env bash
# Measures what metrics cost on the hot path: requests/s through lbd while
# Prometheus-style scrapes hit /metrics every second, against the same with
# no scrapes, alternating in one run (REPEATS pairs of DURATION seconds).
# lbd is pinned to CPU 1, wrk and the nginx backends to CPU 0, as
# ../shared/bench/bench.sh does. Prints one line per run and the ratio of
# the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
REPEATS=${REPEATS:-3}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  server { listen 127.0.0.1:19201; location / { return 200 "Hello World!"; } }
  server { listen 127.0.0.1:19202; location / { return 200 "Hello World!"; } }
}
NGINX
taskset -c 0 nginx -c "$work/nginx.conf" -g "daemon off;" &  # a job, so the trap stops it
cat >"$work/lbd.yaml" <<YAML
loadbalancers:
  - name: scrape
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: 18090
        insert_headers: {X-Forwarded-For: "true"}
        default_pool:
          name: pool
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          healthmonitor: {type: HTTP, delay: 1, timeout: 1, max_retries: 2}
          members:
            - {address: 127.0.0.1, protocol_port: 19201}
            - {address: 127.0.0.1, protocol_port: 19202}
YAML
GOMAXPROCS=1 taskset -c 1 ./bin/lbd --config "$work/lbd.yaml" --admin-addr 127.0.0.1:19102 --api-addr "" --state-dir none 2>"$work/lbd.log" &
for _ in $(seq 100); do curl -fs -o /dev/null http://127.0.0.1:18090/ && break; sleep 0.1; done

run() { # run NAME: one wrk run, prints requests/s
  taskset -c 0 wrk -t1 -c64 -d"${DURATION}s" http://127.0.0.1:18090/ | awk '/Requests\/sec/ {print $2}'
}
declare -a with without
for i in $(seq "$REPEATS"); do
  without+=("$(run)")
  ( while sleep 1; do curl -fs -o /dev/null http://127.0.0.1:19102/metrics; done ) & scraper=$!
  with+=("$(run)")
  kill $scraper
  echo "pair $i: no scrapes ${without[-1]} req/s, scraped every second ${with[-1]} req/s"
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mw=$(median "${with[@]}"); mo=$(median "${without[@]}")
echo "median: no scrapes $mo req/s, scraped every second $mw req/s, ratio $(awk -v a="$mw" -v b="$mo" 'BEGIN {printf "%.3f", a/b}')"
echo "exposition size: $(curl -fs http://127.0.0.1:19102/metrics | wc -c) bytes"
