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

. scripts/lib/loopback.sh
start_backends 19201 19202
MONITOR='{type: HTTP, delay: 1, timeout: 1, max_retries: 2}' \
  lbd_config "$work/lbd.yaml" HTTP 18090 'insert_headers: {X-Forwarded-For: "true"}' 19201 19202
start_lbd "$work/lbd.yaml" 127.0.0.1:19102
wait_http http://127.0.0.1:18090/

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
