#!/usr/bin/env bash
# make bench-shared: the whole comparison of issue 10 in one command. Runs
# ../shared/bench/bench.sh (each proxy pinned to CPU 1, wrk, vegeta and the
# nginx backends on CPU 0, REPEATS interleaved runs of DURATION s per
# scenario) over HAProxy, nginx, lbd as ../shared/bench/lbd-bench.sh starts
# it, and lbd with its whole feature set on (scripts/lbd-bench-full.sh);
# then prints the harness's table and lbd ÷ the better of HAProxy and nginx.
# (make bench runs http_l7 and http_cookie, L7 policies and session
# persistence beside HAProxy.)
# Takes about 20 minutes; the machine should be otherwise idle (runs where
# other processes used more than 10% of a core are repeated, then flagged).
#   BENCH_DIR=../shared/bench DURATION=10 REPEATS=3 SCENARIOS="http_ka tcp_ka" make bench
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-../shared/bench}
if [ ! -x "$BENCH_DIR/bench.sh" ]; then
  echo "bench-compare: no harness at $BENCH_DIR/bench.sh (set BENCH_DIR to the shared bench directory)" >&2
  exit 2
fi
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
scripts/ensure-deps.sh bench
make -s build
if [ -d /tmp/openstack-peer ] && pgrep -f octavia-api >/dev/null; then
  echo "bench-compare: the OpenStack peer is running and will add noise (scripts/openstack-peer.sh down stops it)" >&2
fi
export OUTDIR=${OUTDIR:-/tmp/lbd-bench/results/$(date +%Y%m%d-%H%M%S)-make}
# The harness's HAProxy and nginx log nothing: lbd's access log is off here
# too, and measured against HAProxy's by scripts/access-log-cost.sh.
LBD_BIN=$PWD/bin/lbd LBD_FLAGS=--connection-logging=false "$BENCH_DIR/bench.sh" haproxy nginx \
  "lbd=$BENCH_DIR/lbd-bench.sh" "lbd-full=$PWD/scripts/lbd-bench-full.sh"
echo
python3 "$BENCH_DIR/report.py" --max-foreign 10 "$OUTDIR" | tee "$OUTDIR/report.md"
echo
echo "lbd ÷ the better of HAProxy and nginx (medians of one run; ≥ 1 is at or above it):"
python3 scripts/bench-ratios.py "$OUTDIR" | tee "$OUTDIR/ratios.md"
echo "results: $OUTDIR"
