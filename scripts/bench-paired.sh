#!/usr/bin/env bash
# make bench: lbd beside HAProxy and nginx, measured so that the figures hold
# on a shared machine (issue 22). For each scenario the proxies all run at
# once, each on a port of its own, and wrk loads them in turn, round after
# round (lbd, haproxy, nginx; then the next round starts one further along:
# haproxy, nginx, lbd; ...), PAIRS rounds of DURATION s. A run records the
# requests/s and the proxy's CPU per request: the utime+stime of its
# process(es) (/proc/PID/stat; nginx: master and workers) over the run,
# divided by the requests served. Each round gives a pair (lbd's run, the
# reference's run next to it) and so a ratio lbd ÷ reference; the report
# (scripts/bench-paired.py) gives the median and inter-quartile range of
# those ratios and a verdict: "better" or "worse" when the whole IQR is on
# one side of 1.0, "not distinguishable" when it straddles 1.0. How to read
# it: docs/benchmarks.md.
#
#   make bench                          # 4 scenarios, 5 pairs of 5 s (~8 min)
#   QUICK=1 make bench                  # 5 pairs of 2 s (~3 min)
#   SWEEP=1 make bench                  # response sizes, concurrency, POST bodies
#   PAIRS=9 DURATION=4 SCENARIOS="http_close tcp_ka" make bench
#   REFS="base" BASE=/tmp/lbd-before make bench      # A/B of two lbd builds
#   PIN=none make bench                 # no pinning: 2 threads/workers each
#
# Scenarios: http_ka (64 keep-alive connections, 12-byte answers),
# http_close (64 connections, a new one per request), http_1m (16, 1 MiB
# answers), tcp_ka (64, the proxies in L4 mode), tcp_1m (16, 1 MiB answers,
# L4 mode; not in the default set), http_rate (vegeta if
# installed, a fixed RATE, latency), and sweep points size_<N> (answers of N
# bytes: 0 1k 4k 16k 64k 256k 1m, 64 connections), conc_<N> (N keep-alive
# connections: 1 10 100 1000 10000, or the most the descriptor limit allows,
# MAXCONC below: 8700 at 20 000), post_<N> (POSTs of N bytes: 1k 16k 64k
# 1m, 64 connections); and Octavia's HTTP model beside HAProxy as the
# amphora renders the same objects (nginx has no equivalent and sits these
# out): http_l7 (ten L7 policies of three rules each, HOST_NAME EQUAL_TO,
# PATH STARTS_WITH and HEADER REGEX, the request matching only the last:
# lbd's policies against HAProxy's ACLs and use_backend lines), http_cookie
# (HTTP_COOKIE persistence, clients sending the SRV cookie they were given:
# lbd's against "cookie SRV insert indirect nocache") and
# http_cookie_insert (the same without the cookie: every answer inserts
# one). http_l7 and http_cookie are on the default list.
# PIN=split (default): the proxies on CPU 1 (one thread/worker each, lbd
# GOMAXPROCS=1), wrk and the nginx members on CPU 0, as ../shared/bench
# does. PIN=none: nothing pinned, HAProxy nbthread 2, nginx 2 workers, lbd
# at its defaults.
# Results: $OUTDIR (runs.tsv, report.md); the report is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=${QUICK:-0}
SWEEP=${SWEEP:-0}
if [ "$QUICK" = 1 ]; then DURATION=${DURATION:-2}; else DURATION=${DURATION:-5}; fi
PAIRS=${PAIRS:-5}
REFS=${REFS:-"haproxy nginx"}
PIN=${PIN:-split}
PORT_BASE=${PORT_BASE:-18400}   # proxies on PORT_BASE+1.., members on PORT_BASE+1001, +1002
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
# The sweep's top level: 10 000 keep-alive connections (issue 22), or the
# most every process can hold within NOFILE, the descriptor limit they all
# inherit (20 000 here: the hard limit, and raising it takes
# CAP_SYS_RESOURCE). At N connections a process holds at most:
#   wrk                N + 10
#   lbd                2N (a client and a member connection each) + 30
#   HAProxy            maxsock = 2 maxconn + 2 maxpipes + 14 (maxconn N + 100,
#                      maxconn_for; maxpipes cut to what NOFILE leaves,
#                      haproxy_conf: 12-byte answers are never spliced)
#   nginx              2N + 512 idle member connections (keepalive 512) + 10
#   the members' nginx N of the proxy measured, and the idle member
#                      connections of the others: lbd's N, for
#                      idleUpstreamTTL (4 s) after its run, so over most of
#                      the next proxy's; HAProxy's, kept while it holds fewer
#                      than tune.pool-low-fd-ratio (20 %) of maxsock, so
#                      about 10 % of it (1 990 at 9 700 connections here), at
#                      most NOFILE / 10; nginx's 512; + 10.
# The members' 2N + NOFILE/10 + 522 is the most: N = (0.9 NOFILE - 522) / 2,
# 8 739 for 20 000, rounded down to 8 700 (at 9 700 the members ran out
# of descriptors while nginx ran after lbd).
MAXCONC=$(((NOFILE - NOFILE / 10 - 522) / 2))
MAXCONC=$((MAXCONC - MAXCONC % 100))
[ "$MAXCONC" -le 10000 ] || MAXCONC=10000
if [ "$SWEEP" = 1 ]; then
  DEFAULT_SCEN="size_0 size_1k size_4k size_16k size_64k size_256k size_1m conc_1 conc_10 conc_100 conc_1000 conc_$MAXCONC post_1k post_16k post_64k post_1m"
else
  DEFAULT_SCEN="http_ka http_close http_1m tcp_ka http_l7 http_cookie"
fi
SCENARIOS=${SCENARIOS:-$DEFAULT_SCEN}
RATE=${RATE:-2000}
OUTDIR=${OUTDIR:-/tmp/lbd-bench/paired/$(date -u +%Y%m%d-%H%M%S)}
[ "$PAIRS" -ge 1 ] || { echo "PAIRS must be at least 1" >&2; exit 2; }
case $PIN in
  split) LOADPIN=(taskset -c 0); PROXYPIN=(taskset -c 1); THREADS=1 ;;
  none) LOADPIN=(); PROXYPIN=(); THREADS=$(nproc) ;;
  *) echo "PIN must be split or none" >&2; exit 2 ;;
esac
if [[ " $REFS " == *" base "* ]] && [ ! -x "${BASE:-}" ]; then
  echo "REFS includes base: set BASE to another lbd binary" >&2; exit 2
fi
LBD=${LBD:-bin/lbd}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
work=$OUTDIR/work
mkdir -p "$work"
HZ=$(getconf CLK_TCK)

STARTED=()
stop_pid() {
  local p=$1
  kill -TERM "$p" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
cleanup() { local p; for p in "${STARTED[@]}"; do stop_pid "$p"; done; STARTED=(); }
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() { # URL: until it answers 200 (15 s at most)
  for _ in $(seq 150); do curl -fs -o /dev/null -m 2 "$1" && return 0; sleep 0.1; done
  echo "bench-paired: $1 never answered" >&2
  return 1
}

# ---------- members: one nginx worker on CPU 0, two ports ----------
M1=$((PORT_BASE + 1001)); M2=$((PORT_BASE + 1002))
start_members() {
  local www=$work/www
  mkdir -p "$www/s" "$work/mtmp"
  chmod o+x "$OUTDIR" "$work" "$www" "$www/s"
  local n
  for n in 0 1k 4k 16k 64k 256k 1m; do
    [ -f "$www/s/$n" ] || head -c "$(size_bytes "$n")" /dev/urandom >"$www/s/$n"
  done
  cp "$www/s/1m" "$www/1m"
  chmod -R o+r "$www"
  cat >"$work/members.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 200000;
pid $work/members.pid;
error_log $work/members.err crit;
events { worker_connections 65536; multi_accept on; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 120s; keepalive_requests 10000000;
  client_max_body_size 0;
  client_body_temp_path $work/mtmp; proxy_temp_path $work/mtmp; fastcgi_temp_path $work/mtmp;
  uwsgi_temp_path $work/mtmp; scgi_temp_path $work/mtmp;
  server {
    listen 127.0.0.1:$M1 backlog=8192; listen 127.0.0.1:$M2 backlog=8192;
    root $www;
    location = / { default_type text/plain; return 200 "Hello World!"; }
    # The L7 and persistence scenarios' answers say which member gave them.
    location /section { default_type text/plain; add_header X-Port \$server_port; return 200 "Hello World!"; }
    location / { default_type application/octet-stream; }
  }
}
EOF
  "${LOADPIN[@]}" nginx -p "$work" -c "$work/members.conf" -e "$work/members.err" -g 'daemon off;' &
  STARTED+=($!)
  wait_http "http://127.0.0.1:$M1/"
  wait_http "http://127.0.0.1:$M2/"
}
size_bytes() { case $1 in *k) echo $((${1%k} * 1024)) ;; *m) echo $((${1%m} * 1048576)) ;; *) echo "$1" ;; esac; }

# ---------- scenarios ----------
# scen NAME -> sets S_MODE (http|tcp) S_CONNS S_PATH S_CLOSE (0|1) S_POST (bytes, or "")
# S_HDRS (request fields) S_OCTAVIA (l7|cookie|"": the Octavia objects the
# proxies are configured with) S_PROXIES (the proxies that take part)
M1_ID=3f1ee6a0-0000-4000-8000-000000000001; M2_ID=3f1ee6a0-0000-4000-8000-000000000002
scen() {
  S_MODE=http; S_CONNS=64; S_PATH=/; S_CLOSE=0; S_POST=""; S_HDRS=(); S_OCTAVIA=""
  S_PROXIES=("${PROXIES[@]}")
  case $1 in
    http_l7|http_cookie|http_cookie_insert)
      S_PROXIES=()
      local p
      for p in "${PROXIES[@]}"; do [ "$p" = nginx ] || S_PROXIES+=("$p"); done ;;
  esac
  case $1 in
    http_l7) S_OCTAVIA=l7; S_PATH="/section9/items?id=4"; S_HDRS=("Host: shop.example.com" "X-Tenant: tenant-42") ;;
    http_cookie) S_OCTAVIA=cookie; S_PATH=/section/; S_HDRS=("Cookie: lang=en; SRV=$M2_ID") ;;
    http_cookie_insert) S_OCTAVIA=cookie; S_PATH=/section/ ;;
    http_ka) ;;
    http_close) S_CLOSE=1 ;;
    http_1m) S_CONNS=16; S_PATH=/1m ;;
    tcp_ka) S_MODE=tcp ;;
    tcp_1m) S_MODE=tcp; S_CONNS=16; S_PATH=/1m ;;
    http_rate) ;;
    size_*) S_PATH=/s/${1#size_} ;;
    conc_*) S_CONNS=${1#conc_} ;;
    post_*) S_POST=$(size_bytes "${1#post_}") ;;
    *) echo "bench-paired: unknown scenario $1" >&2; exit 2 ;;
  esac
}

# ---------- proxies ----------
# Each proxy listens on its own port; PORT[name], PID[name].
declare -A PORT PID
# shellcheck disable=SC2206 # REFS: names, split on spaces
PROXIES=(lbd $REFS)
i=0
for p in "${PROXIES[@]}"; do i=$((i + 1)); PORT[$p]=$((PORT_BASE + i)); done
# As ../shared/bench configures them: maxconn 4000; more only where the
# scenario has more connections (conc_5000, conc_$MAXCONC).
maxconn_for() { local m=4000; [ "$1" -gt 2000 ] && m=$(($1 + 100)); echo $m; }

haproxy_conf() { # FILE MODE PORT
  {
    echo "global"
    echo "  nbthread $THREADS"
    echo "  maxconn $MAXCONN"
    if [ "$MAXCONN" -gt 4000 ]; then
      echo "  ulimit-n $NOFILE"
      # Splice pipes (2 descriptors each, maxconn/4 by default) only in what
      # the limit leaves beside 2 maxconn: HAProxy refuses to start otherwise.
      local pipes=$(((NOFILE - 2 * MAXCONN - 64) / 2))
      [ "$pipes" -gt $((MAXCONN / 4)) ] && pipes=$((MAXCONN / 4))
      [ "$pipes" -ge 1 ] || pipes=1
      echo "  maxpipes $pipes"
    fi
    echo "  tune.maxaccept 64"
    echo "defaults"
    echo "  mode $2"
    echo "  maxconn $MAXCONN"
    echo "  timeout connect 5s"
    echo "  timeout client 60s"
    echo "  timeout server 60s"
    echo "  option splice-auto"
    [ "$2" = http ] && printf '  option http-keep-alive\n  http-reuse always\n'
    echo "frontend fe"
    echo "  bind 127.0.0.1:$3"
    if [ "$S_OCTAVIA" = l7 ]; then
      # As Octavia's amphora renders ten REDIRECT_TO_POOL policies
      # (macros.j2): an ACL per rule, a use_backend per policy.
      local i
      for i in $(seq 0 9); do
        echo "  acl r${i}a req.hdr(host) -i -m str shop.example.com"
        echo "  acl r${i}b path -m beg /section$i"
        echo "  acl r${i}c req.hdr(X-Tenant) -m reg ^tenant-[0-9]+\$"
        echo "  use_backend api if r${i}a r${i}b r${i}c"
      done
    fi
    echo "  default_backend be"
    echo "backend be"
    echo "  balance roundrobin"
    case $S_OCTAVIA in
      l7)
        echo "  server s1 127.0.0.1:$M1"
        echo "backend api"
        echo "  balance roundrobin"
        echo "  server a2 127.0.0.1:$M2" ;;
      cookie)
        echo "  cookie SRV insert indirect nocache"
        echo "  server s1 127.0.0.1:$M1 cookie $M1_ID"
        echo "  server s2 127.0.0.1:$M2 cookie $M2_ID" ;;
      *)
        echo "  server s1 127.0.0.1:$M1"
        echo "  server s2 127.0.0.1:$M2" ;;
    esac
  } >"$1"
}
nginx_conf() { # DIR MODE PORT
  local d=$1
  mkdir -p "$d/tmp"
  {
    echo "worker_processes $THREADS;"
    echo "worker_rlimit_nofile 200000;"
    echo "pid $d/nginx.pid;"
    echo "error_log $d/error.log crit;"
    [ "$2" = tcp ] && echo 'load_module /usr/lib/nginx/modules/ngx_stream_module.so;'
    echo "events { worker_connections $((2 * MAXCONN)); multi_accept on; }" # a client and a member connection each
    if [ "$2" = tcp ]; then
      echo "stream {"
      echo "  upstream be { server 127.0.0.1:$M1; server 127.0.0.1:$M2; }"
      echo "  server { listen 127.0.0.1:$3 backlog=8192; proxy_pass be; proxy_connect_timeout 5s; }"
      echo "}"
    else
      echo "http {"
      echo "  access_log off; tcp_nodelay on;"
      echo "  keepalive_timeout 120s; keepalive_requests 10000000;"
      echo "  client_max_body_size 0;"
      echo "  client_body_temp_path $d/tmp; proxy_temp_path $d/tmp; fastcgi_temp_path $d/tmp;"
      echo "  uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;"
      echo "  upstream be { server 127.0.0.1:$M1; server 127.0.0.1:$M2; keepalive 512; keepalive_requests 10000000; keepalive_timeout 120s; }"
      echo "  server {"
      echo "    listen 127.0.0.1:$3 backlog=8192;"
      echo "    location / {"
      echo "      proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\";"
      echo "      proxy_buffer_size 16k; proxy_buffers 64 16k; proxy_busy_buffers_size 32k; proxy_max_temp_file_size 0;"
      echo "      proxy_request_buffering off;"
      echo "    }"
      echo "  }"
      echo "}"
    fi
  } >"$d/nginx.conf"
}
lbd_conf() { # FILE MODE PORT
  local proto=HTTP
  [ "$2" = tcp ] && proto=TCP
  if [ -n "$S_OCTAVIA" ]; then lbd_octavia_conf "$@"; return; fi
  cat >"$1" <<EOF
loadbalancers:
  - name: bench
    vip_address: 127.0.0.1
    listeners:
      - name: bench
        protocol: $proto
        protocol_port: $3
        default_pool:
          name: bench
          protocol: $proto
          lb_algorithm: ${ALGO:-ROUND_ROBIN}
          members:
            - {address: 127.0.0.1, protocol_port: $M1}
            - {address: 127.0.0.1, protocol_port: $M2}
EOF
}
lbd_octavia_conf() { # FILE MODE PORT: the L7 and persistence scenarios' objects
  {
    cat <<EOF
loadbalancers:
  - name: bench
    vip_address: 127.0.0.1
    pools:
      - {name: api, protocol: HTTP, lb_algorithm: ROUND_ROBIN, members: [{address: 127.0.0.1, protocol_port: $M2}]}
    listeners:
      - name: bench
        protocol: HTTP
        protocol_port: $3
        default_pool:
          name: bench
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
EOF
    if [ "$S_OCTAVIA" = l7 ]; then
      echo "          members: [{address: 127.0.0.1, protocol_port: $M1}]"
      echo "        l7policies:"
      local i
      for i in $(seq 0 9); do
        cat <<EOF
          - name: p$i
            action: REDIRECT_TO_POOL
            redirect_pool: {name: api}
            rules:
              - {type: HOST_NAME, compare_type: EQUAL_TO, value: shop.example.com}
              - {type: PATH, compare_type: STARTS_WITH, value: /section$i}
              - {type: HEADER, key: X-Tenant, compare_type: REGEX, value: '^tenant-[0-9]+\$'}
EOF
      done
    else
      echo "          session_persistence: {type: HTTP_COOKIE}"
      echo "          members: [{id: $M1_ID, address: 127.0.0.1, protocol_port: $M1}, {id: $M2_ID, address: 127.0.0.1, protocol_port: $M2}]"
    fi
  } >"$1"
}
# check_octavia NAME: the scenario's request is answered as configured
# (X-Port: the member; Set-Cookie) before anything is measured: a proxy
# that routed elsewhere would be measured doing something else.
check_octavia() {
  local port=${PORT[$1]} args=() h got want
  for h in "${S_HDRS[@]}"; do args+=(-H "$h"); done
  got=$(curl -s -D - -o /dev/null "${args[@]}" "http://127.0.0.1:$port$S_PATH" | tr -d '\r' |
    awk -F': ' 'tolower($1)=="x-port"{p=$2} tolower($1)=="set-cookie"{c=$2} END{print p, (c==""?"-":c)}')
  case $SC in
    http_l7|http_cookie) want="$M2 -" ;;
    http_cookie_insert)
      [[ $got == "$M1 SRV=$M1_ID; path=/" || $got == "$M2 SRV=$M2_ID; path=/" ]] && return 0
      want="<member> SRV=<its id>; path=/" ;;
  esac
  [ "$got" = "$want" ] && return 0
  echo "bench-paired: $1 answered $SC's request with \"$got\" (X-Port, Set-Cookie), want \"$want\"" >&2
  exit 1
}
start_proxy() { # NAME MODE
  local name=$1 mode=$2 port=${PORT[$1]} d=$work/$1
  mkdir -p "$d"
  case $name in
    haproxy)
      haproxy_conf "$d/haproxy.cfg" "$mode" "$port"
      "${PROXYPIN[@]}" haproxy -db -f "$d/haproxy.cfg" >"$d/out.log" 2>&1 & ;;
    nginx)
      nginx_conf "$d" "$mode" "$port"
      # glibc would give the 1 MiB of proxy_buffers back to the system after
      # each large response and take it again for the next (thousands of
      # brk(2) a second: 0.4x nginx's throughput on http_1m); it keeps it so.
      MALLOC_TRIM_THRESHOLD_=134217728 MALLOC_TOP_PAD_=67108864 "${PROXYPIN[@]}" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" -g 'daemon off;' >"$d/out.log" 2>&1 & ;;
    lbd|base)
      local bin=$LBD procs=1 admin=""
      [ "$name" = base ] && bin=$BASE
      [ "$PIN" = none ] && procs=$THREADS
      [ "$name" = lbd ] && admin=${LBD_ADMIN:-}
      lbd_conf "$d/lbd.yaml" "$mode" "$port"
      # shellcheck disable=SC2086 # LBD_FLAGS: flags, split on spaces
      GOMAXPROCS=${LBD_PROCS:-$procs} "${PROXYPIN[@]}" "$bin" --config "$d/lbd.yaml" --admin-addr "$admin" \
        --api-addr "" --state-dir none --connection-logging=false ${LBD_FLAGS:-} >"$d/out.log" 2>&1 & ;;
  esac
  PID[$name]=$!
  STARTED+=($!)
  wait_http "http://127.0.0.1:$port/" || { cat "$d/out.log" >&2; exit 1; }
  [ -z "$S_OCTAVIA" ] || check_octavia "$name"
}
# check_fds: what the scenario's logs say of descriptors running out (a
# proxy's or the members'), into meta.txt and so the report: the runs then
# counted refused or failed connections. Counted in the lines each log
# gained during the scenario (LOGLINES, set before it starts).
FD_RE='too many open files|fd limit|worker_connections are not enough'
log_lines() {
  local f
  for f in "$work"/members.err "$work"/*/out.log "$work"/nginx/error.log; do
    [ ! -f "$f" ] || echo "$f $(wc -l <"$f")"
  done
}
check_fds() {
  local f n skip hits
  while read -r f n; do
    skip=$(awk -v f="$f" '$1 == f {print $2}' <<<"$LOGLINES")
    [[ $f == */out.log ]] && skip=0 # written anew with each proxy start
    hits=$(tail -n +$((${skip:-0} + 1)) "$f" | grep -ciE "$FD_RE" || true)
    [ "$hits" = 0 ] || echo "$SC: ${f#"$work"/}: $hits lines saying descriptors ran out" | tee -a "$OUTDIR/meta.txt" >&2
  done <<<"$(log_lines)"
}
stop_proxies() {
  local p
  for p in "${PROXIES[@]}"; do
    [ -n "${PID[$p]:-}" ] || continue
    stop_pid "${PID[$p]}"
    local keep=() q
    for q in "${STARTED[@]}"; do [ "$q" = "${PID[$p]}" ] || keep+=("$q"); done
    STARTED=("${keep[@]}")
    PID[$p]=""
  done
}
# shellcheck disable=SC2046 # the children: one word each
tree_pids() { echo "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); }
ticks() { # PID: utime+stime, and stime, of it and its children (nginx's workers)
  local t=0 k=0 q v
  for q in $(tree_pids "$1"); do
    v=$(sed 's/^.*) //' /proc/"$q"/stat 2>/dev/null | awk '{print $12 + $13, $13}')
    # shellcheck disable=SC2086 # two numbers
    set -- $v
    t=$((t + ${1:-0})) k=$((k + ${2:-0}))
  done
  echo $t $k
}
# cpu0: busy and steal ticks of CPU 0 (/proc/stat), where PIN=split puts wrk
# and the members: the load side's cost per request, which a proxy changes
# by how it reads and writes (a run whose proxy leaves CPU 0 more work per
# request delivers fewer requests/s when CPU 0 is the limit).
cpu0() { awk '/^cpu0 /{print $2 + $3 + $4 + $7 + $8, $9}' /proc/stat; }
rss_kb() { # PID: VmHWM summed over it and its children
  local s=0 q v
  for q in $(tree_pids "$1"); do
    v=$(awk '/^VmHWM/{print $2}' /proc/"$q"/status 2>/dev/null)
    s=$((s + ${v:-0}))
  done
  echo $s
}

# ---------- load ----------
cat >"$work/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT\t%d\t%d\t%d\t%.3f\t%.3f\t%d\n", summary.requests, summary.duration,
    summary.bytes, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
EOF
load_script() { # -> path of the wrk script for the current scenario
  local f=$work/wrk-$SC.lua
  {
    if [ -n "$S_POST" ]; then
      echo 'wrk.method = "POST"'
      echo "wrk.body = string.rep(\"x\", $S_POST)"
      echo 'wrk.headers["Content-Type"] = "application/octet-stream"'
    fi
    cat "$work/report.lua"
  } >"$f"
  echo "$f"
}
# run_wrk PORT SECONDS LOG -> "requests duration_us bytes p50_ms p99_ms errors"
run_wrk() {
  local hdr=() threads=1 h
  [ "$S_CLOSE" = 1 ] && hdr=(-H "Connection: close")
  for h in "${S_HDRS[@]}"; do hdr+=(-H "$h"); done
  [ "$PIN" = none ] && threads=2
  [ "$S_CONNS" -lt "$threads" ] && threads=$S_CONNS
  timeout $(($2 + 60)) "${LOADPIN[@]}" wrk -t"$threads" -c"$S_CONNS" -d"$2s" --timeout 5s "${hdr[@]}" \
    -s "$WRK_SCRIPT" "http://127.0.0.1:$1$S_PATH" >"$3" 2>&1 || true
  awk -F'\t' '/^RESULT/{print $2, $3, $4, $5, $6, $7}' "$3"
}
run_rate() { # vegeta at RATE/s
  echo "GET http://127.0.0.1:$1/" >"$work/vegeta.targets"
  timeout $(($2 + 60)) "${LOADPIN[@]}" "$VEGETA" attack -targets "$work/vegeta.targets" -rate "$RATE" \
    -duration "$2s" -timeout 5s -workers 32 -max-workers 512 >"$3.bin" 2>"$3" || true
  "$VEGETA" report -type json <"$3.bin" >"$3.json" 2>>"$3"
  rm -f "$3.bin"
  jq -r '"\(.requests) \(.duration/1000|floor) \(.bytes_in.total) \(.latencies["50th"]/1e6) \(.latencies["99th"]/1e6) \(.requests - (.status_codes["200"] // 0))"' "$3.json"
}
measure() { # NAME ROUND: one run against one proxy, a line in runs.tsv
  local name=$1 round=$2 pid=${PID[$1]} port=${PORT[$1]} c0 c1 k0 k1 l0 l1 s0 s1 res
  local lf=$work/$SC-$name-$round.log
  read -r c0 k0 <<<"$(ticks "$pid")"
  read -r l0 s0 <<<"$(cpu0)"
  if [ "$SC" = http_rate ]; then res=$(run_rate "$port" "$DURATION" "$lf"); else res=$(run_wrk "$port" "$DURATION" "$lf"); fi
  read -r c1 k1 <<<"$(ticks "$pid")"
  read -r l1 s1 <<<"$(cpu0)"
  [ -n "$res" ] || res="0 1 0 0 0 -1"
  # shellcheck disable=SC2086 # six fields
  set -- $res
  awk -v sc="$SC" -v px="$name" -v rd="$round" -v n="$1" -v dus="$2" -v by="$3" -v p50="$4" -v p99="$5" -v er="$6" \
    -v cpu=$((c1 - c0)) -v sys=$((k1 - k0)) -v hz="$HZ" -v rss="$(rss_kb "$pid")" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
    -v lcpu=$((l1 - l0)) -v lsteal=$((s1 - s0)) 'BEGIN {
      d = dus / 1e6; if (d <= 0) d = 1
      us = n > 0 ? cpu / hz * 1e6 / n : 0
      sus = n > 0 ? sys / hz * 1e6 / n : 0
      lus = n > 0 ? lcpu / hz * 1e6 / n : 0
      printf "%s\t%s\t%d\t%.0f\t%.3f\t%.3f\t%d\t%.1f\t%d\t%.3f\t%.2f\t%d\t%s\t%.2f\t%.2f\t%.1f\n", sc, px, rd, n / d, p50, p99, er, by / d / 1e6, cpu, cpu / hz / d * 100, us, rss, load, sus, lus, lsteal / hz / d * 100
    }' >>"$RUNS"
  tail -1 "$RUNS" | awk -F'\t' '{printf "[%s] %-10s round %d %-8s %8s req/s  %7s µs/req (%s system)  cpu %5.1f%%  p99 %s ms  errors %s  load %s  cpu0 %s µs/req (steal %s%%)\n", strftime("%H:%M:%S"), $1, $3, $2, $4, $11, $14, $10, $6, $7, $13, $15, $16}' >&2
}

# ---------- main ----------
scripts/ensure-deps.sh bench >/dev/null
[ -n "${NOBUILD:-}" ] || make -s build
VEGETA=$(command -v vegeta || echo /tmp/lbd-bench/bin/vegeta)
if [[ " $SCENARIOS " == *" http_rate "* ]] && [ ! -x "$VEGETA" ]; then
  echo "bench-paired: no vegeta on PATH, skipping http_rate" >&2
  SCENARIOS=${SCENARIOS//http_rate/}
fi
. scripts/lib/peer.sh
warn_peer bench-paired
PEER=stopped
if peer_running; then PEER="running (about a fifth off every proxy's requests/s in a run of 2026-12-05)"; fi
{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo '+changes')"
  echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "OpenStack peer (make test's): $PEER"
  echo "pin: $PIN; pairs: $PAIRS; duration: ${DURATION}s; references: $REFS"
  # shellcheck disable=SC2086,SC2116 # SCENARIOS on one line, single spaces
  echo "command: QUICK=$QUICK SWEEP=$SWEEP PAIRS=$PAIRS DURATION=$DURATION PIN=$PIN REFS=\"$REFS\" SCENARIOS=\"$(echo $SCENARIOS)\" make bench"
  echo "tools: $(haproxy -v | head -1 | cut -d' ' -f1-3), $(nginx -v 2>&1 | cut -d' ' -f3), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $(go version | cut -d' ' -f3)"
} >"$OUTDIR/meta.txt"
RUNS=$OUTDIR/runs.tsv
printf 'scenario\tproxy\tround\trps\tp50_ms\tp99_ms\terrors\tMBps\tcpu_ticks\tcpu_pct\tus_per_req\tpeak_rss_kb\tload1\tsys_us_per_req\tcpu0_us_per_req\tcpu0_steal_pct\n' >"$RUNS"
start_members
for SC in $SCENARIOS; do
  scen "$SC"
  MAXCONN=$(maxconn_for "$S_CONNS")
  WRK_SCRIPT=$(load_script)
  LOGLINES=$(log_lines)
  for p in "${S_PROXIES[@]}"; do start_proxy "$p" "$S_MODE"; done
  # warm up: member connections, pools, page cache (not measured)
  for p in "${S_PROXIES[@]}"; do
    if [ "$SC" = http_rate ]; then run_rate "${PORT[$p]}" 1 "$work/warm.log" >/dev/null
    else run_wrk "${PORT[$p]}" 1 "$work/warm.log" >/dev/null; fi
  done
  n=${#S_PROXIES[@]}
  for r in $(seq 1 "$PAIRS"); do
    for k in $(seq 0 $((n - 1))); do measure "${S_PROXIES[$(( (k + r - 1) % n ))]}" "$r"; done
  done
  stop_proxies
  check_fds
done
echo
python3 scripts/bench-paired.py "$OUTDIR" | tee "$OUTDIR/report.md"
echo "results: $OUTDIR"
