# Sourced by the measurement scripts: the set-up they share with
# ../shared/bench/bench.sh's layout (load on CPU 0, the proxy on CPU 1).
# Needs $work (a scratch directory) and a trap that kills the jobs.

# start_backends PORT...: one nginx worker on CPU 0 answering "Hello World!"
# on each port, as a job so the caller's trap stops it.
start_backends() {
  {
    echo "worker_processes 1;"
    echo "pid $work/nginx.pid;"
    echo "error_log $work/nginx.err;"
    echo "events { worker_connections 8192; }"
    echo "http {"
    echo "  access_log off;"
    echo "  keepalive_requests 1000000;"
    for p in "$@"; do echo "  server { listen 127.0.0.1:$p; location / { return 200 \"Hello World!\"; } }"; done
    echo "}"
  } >"$work/nginx.conf"
  taskset -c 0 nginx -c "$work/nginx.conf" -g "daemon off;" &
}

# lbd_config FILE PROTOCOL PORT EXTRA MEMBER_PORT...: one load balancer with
# one listener (EXTRA: more listener fields, one YAML line, or "") and a
# pool over the members on 127.0.0.1 (ALGO, default ROUND_ROBIN); MONITOR (an
# environment variable, optional) is the pool's healthmonitor line.
lbd_config() {
  local file=$1 proto=$2 port=$3 extra=$4; shift 4
  {
    echo "loadbalancers:"
    echo "  - name: measure"
    echo "    vip_address: 127.0.0.1"
    echo "    listeners:"
    echo "      - name: l"
    echo "        protocol: $proto"
    echo "        protocol_port: $port"
    [ -n "$extra" ] && echo "        $extra"
    echo "        default_pool:"
    echo "          name: p"
    echo "          protocol: $proto"
    echo "          lb_algorithm: ${ALGO:-ROUND_ROBIN}"
    [ -n "${MONITOR:-}" ] && echo "          healthmonitor: $MONITOR"
    echo "          members:"
    for m in "$@"; do echo "            - {address: 127.0.0.1, protocol_port: $m}"; done
  } >"$file"
}

# full_feature_set PROTOCOL: what a production pool has on, for lbd_config:
# exports MONITOR (an HTTP check of / every second, a TCP connect for TCP)
# and sets FULL_EXTRA to the listener's insert_headers line (HTTP only).
full_feature_set() {
  FULL_EXTRA=""
  if [ "$1" = HTTP ]; then
    export MONITOR="{type: HTTP, delay: 1, timeout: 1, max_retries: 3, url_path: /}"
    FULL_EXTRA='insert_headers: {X-Forwarded-For: "true", X-Forwarded-Port: "true", X-Forwarded-Proto: "true"}'
  else
    export MONITOR="{type: TCP, delay: 1, timeout: 1, max_retries: 3}"
  fi
}

# start_lbd CONFIG ADMIN_ADDR [BINARY]: lbd alone on CPU 1, one thread, no API or state
# (LBD_PROCS sets GOMAXPROCS; LBD_PIN=env runs it unpinned).
start_lbd() {
  GOMAXPROCS=${LBD_PROCS:-1} ${LBD_PIN:-taskset -c 1} "${3:-./bin/lbd}" --config "$1" --admin-addr "$2" --api-addr "" --state-dir none 2>"$work/lbd.log" &
}

# wait_http URL: until URL answers (10 s at most).
wait_http() {
  for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "$1 never answered" >&2
  return 1
}
