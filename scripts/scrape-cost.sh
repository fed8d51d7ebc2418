#!/usr/bin/env bash
# CPU that one /metrics scrape costs lbd, by configuration size: lbd alone
# on CPU 1 with a listener in front of two nginx backends and a second pool
# of MEMBERS members (nothing listens behind them; no traffic goes there),
# scraped SCRAPES times in a row as Prometheus scrapes (gzip). lbd's
# utime+stime over the scrapes, divided by their number, is the figure;
# with BASE=path/to/another/lbd the two builds alternate REPEATS times.
#   MEMBERS="2 100 1000" REPEATS=3 BASE=/tmp/lbd-old scripts/scrape-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${REPEATS:-3}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
. scripts/lib/loopback.sh
[ -x bin/lbd ] || make build >/dev/null
start_backends 19201 19202

config() { # config MEMBERS: the two listeners
  cat <<YAML
loadbalancers:
  - name: scrape
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: 18091
        default_pool:
          name: web
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members:
            - {address: 127.0.0.1, protocol_port: 19201}
            - {address: 127.0.0.1, protocol_port: 19202}
      - name: big
        protocol: HTTP
        protocol_port: 18092
        default_pool:
          name: big
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members:
YAML
  for i in $(seq "$1"); do echo "            - {address: 127.0.0.1, protocol_port: $((20000 + i))}"; done
}
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() { # measure BINARY MEMBERS: ms of CPU per scrape, and the exposition's size
  local pid n=$(( $2 >= 500 ? 30 : 300 )) t0 t1
  start_lbd "$work/lbd-$2.yaml" 127.0.0.1:19103 "$1"; pid=$!
  wait_http http://127.0.0.1:18091/
  taskset -c 0 wrk -t1 -c8 -d1s http://127.0.0.1:18091/ >/dev/null # counters and histograms with data
  curl -fs -o /dev/null http://127.0.0.1:19103/metrics
  t0=$(ticks $pid)
  for _ in $(seq $n); do taskset -c 0 curl -fs -o /dev/null -H 'Accept-Encoding: gzip' http://127.0.0.1:19103/metrics; done
  t1=$(ticks $pid)
  local size
  size=$(curl -fs http://127.0.0.1:19103/metrics | wc -c)
  kill $pid; wait $pid 2>/dev/null || true
  awk -v t=$((t1 - t0)) -v n=$n -v hz="$(getconf CLK_TCK)" -v s="$size" 'BEGIN {printf "%.2f %d\n", t / hz * 1000 / n, s}'
}
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for m in ${MEMBERS:-2 1000}; do
  config "$m" >"$work/lbd-$m.yaml"
  declare -a L=() B=()
  for i in $(seq "$REPEATS"); do
    read -r l size < <(measure ./bin/lbd "$m"); L+=("$l")
    line="members $m, repeat $i: lbd $l ms per scrape ($size bytes)"
    if [ -n "${BASE:-}" ]; then
      read -r b bsize < <(measure "$BASE" "$m"); B+=("$b")
      line+=", base $b ms ($bsize bytes)"
    fi
    echo "$line"
  done
  ml=$(median "${L[@]}")
  if [ -n "${BASE:-}" ]; then
    mb=$(median "${B[@]}")
    echo "members $m: median CPU per scrape lbd $ml ms, base $mb ms, lbd/base $(awk -v a="$ml" -v b="$mb" 'BEGIN {printf "%.3f", a/b}')"
  else
    echo "members $m: median CPU per scrape $ml ms"
  fi
done
