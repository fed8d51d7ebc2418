# Sourced by the measurement scripts: the set-up they share with
# ../shared/bench/bench.sh's layout (load on CPU 0, the proxy on CPU 1).
# Needs $work (a scratch directory) and a trap that kills the jobs.

# start_backends PORT...: one nginx worker on CPU 0 answering "Hello World!"
# on each port, as a job so the caller's trap stops it. With BODY_SIZE set,
# it answers a body of that many bytes instead (sendfile, as nginx serves
# files).
start_backends() {
  local body=""
  if [ -n "${BODY_SIZE:-}" ]; then
    chmod o+x "$work"
    head -c "$BODY_SIZE" /dev/urandom >"$work/body"
    chmod o+r "$work/body"
    body="root $work; location / { try_files /body =404; default_type application/octet-stream; }"
  fi
  {
    echo "worker_processes 1;"
    echo "pid $work/nginx.pid;"
    echo "error_log $work/nginx.err;"
    echo "events { worker_connections 8192; }"
    echo "http {"
    echo "  access_log off;"
    echo "  keepalive_requests 1000000;"
    for p in "$@"; do
      if [ -n "$body" ]; then echo "  server { listen 127.0.0.1:$p; $body }"
      else echo "  server { listen 127.0.0.1:$p; location / { return 200 \"Hello World!\"; } }"; fi
    done
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
# (LBD_PROCS sets GOMAXPROCS; LBD_PIN=env runs it unpinned). Its access log
# is off, as the peers it is measured beside log nothing, unless LBD_LOG
# gives its flags (e.g. "--access-log file:/tmp/x.log"); a build from before
# access logs takes neither.
start_lbd() {
  local bin=${3:-./bin/lbd} log=()
  if "$bin" --help 2>&1 | grep -q -- '-connection-logging'; then
    # shellcheck disable=SC2206 # flags, split on spaces
    log=(${LBD_LOG:---connection-logging=false})
  fi
  GOMAXPROCS=${LBD_PROCS:-1} ${LBD_PIN:-taskset -c 1} "$bin" --config "$1" --admin-addr "$2" --api-addr "" --state-dir none "${log[@]}" 2>"$work/lbd.log" &
}

# wait_http URL: until URL answers (10 s at most).
wait_http() {
  for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "$1 never answered" >&2
  return 1
}

# haproxy_config FILE MODE PORT MAXCONN MEMBER_PORT...: HAProxy configured as
# ../shared/bench/bench.sh configures it (one thread, keep-alive and
# connection reuse in http MODE), on 127.0.0.1:PORT in front of the members
# on 127.0.0.1.
haproxy_config() {
  local file=$1 mode=$2 port=$3 maxconn=$4 i=0 m; shift 4
  {
    echo "global"
    echo "  nbthread 1"
    echo "  maxconn $maxconn"
    echo "defaults"
    echo "  mode $mode"
    echo "  maxconn $maxconn"
    echo "  timeout connect 5s"
    echo "  timeout client 60s"
    echo "  timeout server 60s"
    echo "  option splice-auto"
    [ "$mode" = http ] && printf '  option http-keep-alive\n  http-reuse always\n'
    echo "frontend fe"
    echo "  bind 127.0.0.1:$port"
    echo "  default_backend be"
    echo "backend be"
    echo "  balance roundrobin"
    for m in "$@"; do i=$((i + 1)); echo "  server s$i 127.0.0.1:$m"; done
  } >"$file"
}

# nginx_config DIR MODE PORT MEMBER_PORT...: nginx likewise (one worker,
# upstream keep-alive), its configuration and files under DIR; run it with
# nginx -p DIR -c DIR/nginx.conf -e DIR/error.log -g 'daemon off;'.
nginx_config() {
  local dir=$1 mode=$2 port=$3 m servers=""; shift 3
  for m in "$@"; do servers+="server 127.0.0.1:$m; "; done
  mkdir -p "$dir/tmp"
  {
    echo "worker_processes 1;"
    echo "worker_rlimit_nofile 20000;"
    echo "pid $dir/nginx.pid;"
    echo "error_log $dir/error.log crit;"
    [ "$mode" = tcp ] && echo 'load_module /usr/lib/nginx/modules/ngx_stream_module.so;'
    echo "events { worker_connections 20000; multi_accept on; }"
    if [ "$mode" = tcp ]; then
      echo "stream {"
      echo "  upstream be { $servers}"
      echo "  server { listen 127.0.0.1:$port backlog=4096; proxy_pass be; proxy_connect_timeout 5s; }"
      echo "}"
    else
      echo "http {"
      echo "  access_log off;"
      echo "  tcp_nodelay on;"
      echo "  keepalive_timeout 120s; keepalive_requests 10000000;"
      echo "  client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp;"
      echo "  uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;"
      echo "  upstream be { ${servers}keepalive 512; keepalive_requests 10000000; keepalive_timeout 120s; }"
      echo "  server {"
      echo "    listen 127.0.0.1:$port backlog=4096;"
      echo "    location / {"
      echo "      proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\";"
      echo "      proxy_buffer_size 16k; proxy_buffers 64 16k; proxy_busy_buffers_size 32k; proxy_max_temp_file_size 0;"
      echo "    }"
      echo "  }"
      echo "}"
    fi
  } >"$dir/nginx.conf"
}
