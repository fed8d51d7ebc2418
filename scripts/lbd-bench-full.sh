#!/usr/bin/env bash
# Plugs lbd into ../shared/bench/bench.sh with its whole feature set on, as
# issue 10 asks: an active health monitor on every member (HTTP GET / every
# second, TCP connect for L4), insert_headers (X-Forwarded-For/-Port/-Proto),
# passive health, the REST API and a state directory, and /metrics scraped
# every second (Prometheus' default is 15 s). ../shared/bench/lbd-bench.sh is
# the same without the monitor, the headers and the scrapes.
#   LBD_BIN=$PWD/bin/lbd ../shared/bench/bench.sh haproxy "lbd-full=$PWD/scripts/lbd-bench-full.sh"
set -eu
LBD_BIN=${LBD_BIN:-bin/lbd}
ADMIN=${LBD_ADMIN:-127.0.0.1:19102}
cfg=$LB_WORKDIR/lbd.yaml
proto=HTTP monitor="{type: HTTP, delay: 1, timeout: 1, max_retries: 3, url_path: /}"
if [ "$LB_MODE" = tcp ]; then
  proto=TCP monitor="{type: TCP, delay: 1, timeout: 1, max_retries: 3}"
fi
{
  echo "loadbalancers:"
  echo "  - name: bench"
  echo "    vip_address: ${LB_LISTEN%:*}"
  echo "    listeners:"
  echo "      - name: bench"
  echo "        protocol: $proto"
  echo "        protocol_port: ${LB_LISTEN##*:}"
  if [ "$proto" = HTTP ]; then
    echo "        insert_headers: {X-Forwarded-For: \"true\", X-Forwarded-Port: \"true\", X-Forwarded-Proto: \"true\"}"
  fi
  echo "        default_pool:"
  echo "          name: bench"
  echo "          protocol: $proto"
  echo "          lb_algorithm: ${LB_ALGO:-ROUND_ROBIN}"
  echo "          healthmonitor: $monitor"
  echo "          members:"
  i=0
  for b in ${LB_BACKENDS//,/ }; do
    i=$((i + 1))
    echo "            - {name: m$i, address: ${b%:*}, protocol_port: ${b##*:}}"
  done
} >"$cfg"
# The scraper runs on the load generator's CPU, detached so that its memory is
# not counted as lbd's, and ends with lbd (this shell's PID once exec'd).
lbd_pid=$$
setsid taskset -c "${LOAD_CPU:-0}" bash -c "while kill -0 $lbd_pid 2>/dev/null; do
  curl -fs -o /dev/null http://$ADMIN/metrics; sleep 1; done" </dev/null >/dev/null 2>&1 &
export GOMAXPROCS=${GOMAXPROCS:-$LB_THREADS}
exec "$LBD_BIN" --config "$cfg" --admin-addr "$ADMIN" --state-dir "$LB_WORKDIR/state"
