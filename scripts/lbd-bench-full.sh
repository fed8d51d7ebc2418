#!/usr/bin/env bash
# Plugs lbd into ../shared/bench/bench.sh with its whole feature set on, as
# issue 10 asks: an active health monitor on every member and insert_headers
# (full_feature_set in scripts/lib/loopback.sh), passive health, the REST API
# and a state directory, and /metrics scraped every second (Prometheus'
# default is 15 s). ../shared/bench/lbd-bench.sh is the same without the
# monitor, the headers and the scrapes.
#   LBD_BIN=$PWD/bin/lbd ../shared/bench/bench.sh haproxy "lbd-full=$PWD/scripts/lbd-bench-full.sh"
set -eu
cd "$(dirname "$0")/.."
LBD_BIN=${LBD_BIN:-bin/lbd}
ADMIN=${LBD_ADMIN:-127.0.0.1:19102}
. scripts/lib/loopback.sh
proto=HTTP; [ "$LB_MODE" = tcp ] && proto=TCP
full_feature_set "$proto"
ports=()
for b in ${LB_BACKENDS//,/ }; do ports+=("${b##*:}"); done
ALGO=${LB_ALGO:-ROUND_ROBIN} lbd_config "$LB_WORKDIR/lbd.yaml" "$proto" "${LB_LISTEN##*:}" "$FULL_EXTRA" "${ports[@]}"
# The scraper runs on the load generator's CPU, started from a subshell that
# exits at once, so that it is not lbd's child (bench.sh counts the memory of
# the proxy's children as the proxy's), and ends with lbd (this shell's PID
# once exec'd). It
# keeps one connection alive, as Prometheus does: a curl per scrape cost about
# 7 ms of that CPU each second (fork, exec, TLS library start-up), a burst that
# stalled the load generator and showed in every latency percentile above
# 99.3; this costs about 0.3 ms.
lbd_pid=$$
(setsid taskset -c "${LOAD_CPU:-0}" python3 -c '
import http.client, os, sys, time
pid, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conn = None
while True:
    try:
        os.kill(pid, 0)
    except OSError:
        break
    try:
        conn = conn or http.client.HTTPConnection(host, port, timeout=5)
        conn.request("GET", "/metrics")
        conn.getresponse().read()
    except Exception:
        conn = None
    time.sleep(1)
' "$lbd_pid" "${ADMIN%:*}" "${ADMIN##*:}" </dev/null >/dev/null 2>&1 &)
export GOMAXPROCS=${GOMAXPROCS:-$LB_THREADS}
# LBD_FLAGS (bench-compare.sh sets --connection-logging=false, as the
# harness's HAProxy logs nothing) adds to these.
# shellcheck disable=SC2086 # flags, split on spaces
exec "$LBD_BIN" --config "$LB_WORKDIR/lbd.yaml" --admin-addr "$ADMIN" --state-dir "$LB_WORKDIR/state" ${LBD_FLAGS:-}
