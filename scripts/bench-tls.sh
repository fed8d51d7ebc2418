#!/usr/bin/env bash
# bench-tls.sh — the TLS scenarios of issue 16, in ../shared/bench/bench.sh's
# style, side by side: HAProxy, nginx and lbd terminating TLS before the same
# two nginx backends, each proxy pinned to CPU $PROXY_CPU with one thread,
# load generator and backends on CPU $LOAD_CPU, everything on 127.0.0.1.
#
# SCENARIOS ($SCENARIOS, default all; $DURATION s each, $REPEATS times)
#   https_ka        wrk -c64, keep-alive GET / over TLS 1.3 (ECDSA P-256 certificate)
#   https_hs_ecdsa  wrk -c32 with "Connection: close": a full TLS 1.3 handshake per
#                   request (resumption off in every proxy), ECDSA P-256 certificate
#   https_hs_rsa    the same with an RSA-2048 certificate
#   https_resume    the same with session tickets on: wrk resumes (PSK) each connection
#   h2_ka           h2load -c16 -m32: HTTP/2, 32 streams in flight per connection
# Each proxy is configured alike: TLS 1.2 and 1.3, ALPN h2 and http/1.1, pooled
# keep-alive connections to the backends, resumption by tickets on except in
# https_hs_*. None logs requests (HAProxy has no log line, nginx has
# access_log off, lbd runs with --connection-logging=false unless LBD_LOG
# gives other flags), as in scripts/bench-compare.sh.
#
# Runs alternate: within each repeat every proxy runs the scenario once, in
# an order that rotates from repeat to repeat, so that a noisy stretch of a
# shared machine hits all of them. OUTPUT ($OUTDIR): runs.tsv (every run:
# rps, the proxy's CPU use in % of its core, handshakes or requests per
# second per core = rps / that CPU, errors, CPU used on the proxy's core by
# processes not ours), then a table: median rps, spread ((max-min)/median),
# per-core rate, and lbd ÷ the better of HAProxy and nginx computed per
# repeat (paired), median and range.
#   DURATION=5 REPEATS=3 SCENARIOS="https_ka h2_ka" scripts/bench-tls.sh
# A change to lbd, paired against the build before it: LBD_BIN is the new
# build, LBD_BASE_BIN the old one, and PROXIES names "lbdbase" (configured as
# lbd); the report then adds lbd ÷ lbdbase per repeat.
#   LBD_BIN=/tmp/new LBD_BASE_BIN=/tmp/old PROXIES="lbdbase lbd" scripts/bench-tls.sh
# PROFILE=1 takes a CPU profile of each lbd run (the middle DURATION-2 s of
# its load) into the run's directory as cpu.prof, through lbd's admin
# server's /debug/pprof/ (on 127.0.0.1:$PROFILE_PORT during that run only).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-5}
REPEATS=${REPEATS:-3}
SCENARIOS=${SCENARIOS:-"https_ka https_hs_ecdsa https_hs_rsa https_resume h2_ka"}
PROXIES=${PROXIES:-"haproxy nginx lbd"}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
LISTEN=${LISTEN:-127.0.0.1:18443}
BUILD=1; [ -n "${LBD_BIN:-}${NOBUILD:-}" ] && BUILD=0   # make build unless another lbd is given
LBD_BIN=${LBD_BIN:-$ROOT/bin/lbd}
LBD_BASE_BIN=${LBD_BASE_BIN:-}
PROFILE=${PROFILE:-0}
PROFILE_PORT=${PROFILE_PORT:-19199}
OUTDIR=${OUTDIR:-/tmp/lbd-bench/results/$(date +%Y%m%d-%H%M%S)-tls}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
LOADPIN=(taskset -c "$LOAD_CPU"); PROXYPIN=(taskset -c "$PROXY_CPU")
log() { echo "[$(date +%T)] $*" >&2; }
need() { command -v "$1" >/dev/null || { echo "missing $1 ($2)" >&2; exit 2; }; }
scripts/ensure-deps.sh bench >/dev/null
[ "$BUILD" = 0 ] || make -s build
need wrk "apt-get install wrk"; need h2load "apt-get install nghttp2-client"; need haproxy "apt-get install haproxy"
need nginx "apt-get install nginx-light"; need openssl openssl; need taskset util-linux; need curl curl
[ -x "$LBD_BIN" ] || { echo "no lbd at $LBD_BIN (make build)" >&2; exit 2; }
[[ " $PROXIES " != *" lbdbase "* ]] || [ -x "$LBD_BASE_BIN" ] || { echo "PROXIES names lbdbase: LBD_BASE_BIN must be an lbd binary" >&2; exit 2; }

# ---------- processes: only ours, by PID ----------
STARTED=()
stop_pid() {
  local p=$1 i
  kill -TERM "$p" 2>/dev/null || return 0
  for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  return 0
}
cleanup() { local p; for p in "${STARTED[@]}"; do stop_pid "$p"; done; STARTED=(); }
trap cleanup EXIT
trap 'exit 130' INT TERM
wait_port() {
  local hp=$1 i
  for i in $(seq 1 150); do (exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# ---------- certificates and backends ----------
PKI=$OUTDIR/pki; mkdir -p "$PKI"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/ecdsa.key" -out "$PKI/ecdsa.crt" \
  -days 7 -subj /CN=bench.example.com -addext subjectAltName=DNS:bench.example.com 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/rsa.key" -out "$PKI/rsa.crt" \
  -days 7 -subj /CN=bench.example.com -addext subjectAltName=DNS:bench.example.com 2>/dev/null
for k in ecdsa rsa; do cat "$PKI/$k.crt" "$PKI/$k.key" > "$PKI/$k.pem"; done
BE=(127.0.0.1:19101 127.0.0.1:19102)
BEWD=$OUTDIR/backends; mkdir -p "$BEWD/tmp"
cat > "$BEWD/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 100000;
pid $BEWD/nginx.pid;
error_log $BEWD/error.log crit;
events { worker_connections 20000; multi_accept on; }
http {
  access_log off; tcp_nodelay on;
  keepalive_timeout 120s; keepalive_requests 10000000;
  client_body_temp_path $BEWD/tmp; proxy_temp_path $BEWD/tmp; fastcgi_temp_path $BEWD/tmp; uwsgi_temp_path $BEWD/tmp; scgi_temp_path $BEWD/tmp;
  server {
    listen ${BE[0]} backlog=4096 reuseport; listen ${BE[1]} backlog=4096 reuseport;
    location = / { default_type text/plain; return 200 "Hello World!"; }
  }
}
EOF
"${LOADPIN[@]}" nginx -p "$BEWD" -c "$BEWD/nginx.conf" -e "$BEWD/error.log" -g 'daemon off;' >"$BEWD/out" 2>&1 &
STARTED+=($!)
for a in "${BE[@]}"; do wait_port "$a" || { echo "backend $a did not start" >&2; exit 1; }; done

# ---------- proxies, configured alike ----------
# config PROXY SCENARIO WORKDIR -> prints the command to run
config() {
  local p=$1 sc=$2 wd=$3 key=ecdsa resume=1
  [ "$sc" = https_hs_rsa ] && key=rsa
  [[ $sc == https_hs_* ]] && resume=0
  case $p in
    haproxy)
      {
        echo "global"
        echo "  nbthread 1"
        echo "  maxconn 4000"
        echo "  ssl-default-bind-options ssl-min-ver TLSv1.2"
        [ $resume = 0 ] && echo "  tune.ssl.cachesize 0"
        echo "defaults"
        echo "  mode http"
        echo "  maxconn 4000"
        echo "  timeout connect 5s"
        echo "  timeout client 60s"
        echo "  timeout server 60s"
        echo "  option http-keep-alive"
        echo "  http-reuse always"
        echo "frontend fe"
        echo "  bind $LISTEN ssl crt $PKI/$key.pem alpn h2,http/1.1$([ $resume = 0 ] && echo " no-tls-tickets")"
        echo "  default_backend be"
        echo "backend be"
        echo "  balance roundrobin"
        echo "  server s1 ${BE[0]}"
        echo "  server s2 ${BE[1]}"
      } > "$wd/haproxy.cfg"
      echo "haproxy -db -f $wd/haproxy.cfg" ;;
    nginx)
      mkdir -p "$wd/tmp"
      local tickets="ssl_session_tickets on; ssl_session_cache shared:SSL:10m;"
      [ $resume = 0 ] && tickets="ssl_session_tickets off; ssl_session_cache off;"
      cat > "$wd/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile 100000;
pid $wd/nginx.pid;
error_log $wd/error.log crit;
events { worker_connections 20000; multi_accept on; }
http {
  access_log off; tcp_nodelay on;
  keepalive_timeout 120s; keepalive_requests 10000000;
  client_body_temp_path $wd/tmp; proxy_temp_path $wd/tmp; fastcgi_temp_path $wd/tmp; uwsgi_temp_path $wd/tmp; scgi_temp_path $wd/tmp;
  upstream be { server ${BE[0]}; server ${BE[1]}; keepalive 512; keepalive_requests 10000000; keepalive_timeout 120s; }
  server {
    listen $LISTEN ssl http2 backlog=4096;
    ssl_certificate $PKI/$key.crt; ssl_certificate_key $PKI/$key.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    $tickets
    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
EOF
      echo "nginx -p $wd -c $wd/nginx.conf -e $wd/error.log -g 'daemon off;'" ;;
    lbd|lbdbase)
      local bin=$LBD_BIN admin="''"
      [ "$p" = lbdbase ] && bin=$LBD_BASE_BIN
      [ "$PROFILE" = 1 ] && admin=127.0.0.1:$PROFILE_PORT
      cat > "$wd/lbd.yaml" <<EOF
loadbalancers:
  - name: bench
    vip_address: ${LISTEN%:*}
    listeners:
      - name: https
        protocol: TERMINATED_HTTPS
        protocol_port: ${LISTEN##*:}
        default_tls_container_ref: $PKI/$key.pem
        alpn_protocols: [h2, http/1.1]
        default_pool:
          name: bench
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members:
            - {name: m1, address: ${BE[0]%:*}, protocol_port: ${BE[0]##*:}}
            - {name: m2, address: ${BE[1]%:*}, protocol_port: ${BE[1]##*:}}
EOF
      echo "env GOMAXPROCS=1 $bin --config $wd/lbd.yaml --state-dir none --api-addr '' --admin-addr $admin --tls-session-resumption=$([ $resume = 1 ] && echo true || echo false) ${LBD_LOG:---connection-logging=false} ${LBD_FLAGS:-}" ;;
  esac
}

PROXY_PID=""
start_proxy() {  # proxy scenario rep
  local wd=$OUTDIR/proxies/$1-$2-r$3; mkdir -p "$wd"
  local cmd; cmd=$(config "$1" "$2" "$wd"); echo "$cmd" > "$wd/cmd"
  if (exec 3<>"/dev/tcp/${LISTEN%:*}/${LISTEN##*:}") 2>/dev/null; then echo "port $LISTEN already in use" >&2; exit 1; fi
  "${PROXYPIN[@]}" bash -c "exec $cmd" >"$wd/stdout" 2>"$wd/stderr" &
  PROXY_PID=$!; STARTED+=($PROXY_PID)
  wait_port "$LISTEN" || { echo "$1 did not listen on $LISTEN" >&2; cat "$wd/stderr" >&2; exit 1; }
  local i
  for i in $(seq 1 50); do
    curl -fsSk -m 2 --resolve "bench.example.com:${LISTEN##*:}:${LISTEN%:*}" "https://bench.example.com:${LISTEN##*:}/" 2>/dev/null | grep -q 'Hello World!' && return 0
    sleep 0.1
  done
  echo "$1: GET / over TLS did not return Hello World!" >&2; cat "$wd/stderr" >&2; exit 1
}
stop_proxy() {
  [ -n "$PROXY_PID" ] || return 0
  stop_pid "$PROXY_PID"
  local keep=() p; for p in "${STARTED[@]}"; do [ "$p" = "$PROXY_PID" ] || keep+=("$p"); done; STARTED=("${keep[@]}")
  PROXY_PID=""
}
# CPU of the proxy's process tree and of its core, in clock ticks.
pid_cpu() { sed 's/^.*) //' /proc/"$1"/stat 2>/dev/null | awk '{print $12+$13}'; }
proxy_cpu() { local s=0 c v; for c in $PROXY_PID $(cat /proc/"$PROXY_PID"/task/*/children 2>/dev/null); do v=$(pid_cpu "$c"); s=$((s + ${v:-0})); done; echo $s; }
core_busy() { awk -v c="cpu$PROXY_CPU" '$1==c{print $2+$3+$4+$7+$8; exit}' /proc/stat; }

# load SCENARIO LOGFILE -> "rps errors"
URL=https://bench.example.com:${LISTEN##*:}/
load() {
  local sc=$1 lf=$2
  case $sc in
    https_ka)
      timeout $((DURATION + 30)) "${LOADPIN[@]}" wrk -t1 -c64 -d"${DURATION}s" --timeout 5s "https://$LISTEN/" >"$lf" 2>&1 ;;
    https_hs_*|https_resume)
      timeout $((DURATION + 30)) "${LOADPIN[@]}" wrk -t1 -c32 -d"${DURATION}s" --timeout 5s -H "Connection: close" "https://$LISTEN/" >"$lf" 2>&1 ;;
    h2_ka)
      timeout $((DURATION + 30)) "${LOADPIN[@]}" h2load -c16 -m32 -D "$DURATION" "https://$LISTEN/" >"$lf" 2>&1 ;;
  esac
  case $sc in
    h2_ka) awk '/^finished in/{gsub(",","",$4); r=$4} /^requests:/{e=$10+$12} END{printf "%.0f\t%d\n", r, e}' "$lf" ;;
    *) awk '/^Requests\/sec:/{r=$2} /Non-2xx/{e+=$NF} /Socket errors/{split($0,a,/[ ,]+/); for(i=1;i<=length(a);i++) if(a[i]~/^[0-9]+$/) e+=a[i]} END{printf "%.0f\t%d\n", r, e}' "$lf" ;;
  esac
}

{
  echo "# date: $(date -Is)  host: $(uname -r)  cpus: $(nproc)  proxy cpu: $PROXY_CPU  load cpu: $LOAD_CPU  duration: ${DURATION}s  repeats: $REPEATS"
  echo "# haproxy: $(haproxy -v | head -1)"; echo "# nginx: $(nginx -v 2>&1)"; echo "# lbd: $LBD_BIN ($(go version 2>/dev/null))"
  echo "# openssl: $(openssl version)  wrk: $(wrk -v 2>&1 | head -1 | cut -c1-40)  h2load: $(h2load --version | head -1)"
} > "$OUTDIR/meta.txt"
RUNS=$OUTDIR/runs.tsv
printf 'scenario\tproxy\trep\trps\terrors\tproxy_cpu_pct\tper_core\tforeign_cpu_pct\n' > "$RUNS"
read -r -a P <<<"$PROXIES"
hz=$(getconf CLK_TCK)
for sc in $SCENARIOS; do
  for rep in $(seq 1 "$REPEATS"); do
    n=${#P[@]}
    for k in $(seq 0 $((n - 1))); do
      p=${P[$(( (k + rep - 1) % n ))]}
      start_proxy "$p" "$sc" "$rep"
      DURATION_SAVE=$DURATION; DURATION=1; load "$sc" "$OUTDIR/proxies/$p-$sc-r$rep/warmup.log" >/dev/null; DURATION=$DURATION_SAVE
      prof=""
      if [ "$PROFILE" = 1 ] && [[ $p == lbd* ]] && [ "$DURATION" -gt 3 ]; then
        ( sleep 1; "${LOADPIN[@]}" curl -fsS -m $((DURATION + 10)) -o "$OUTDIR/proxies/$p-$sc-r$rep/cpu.prof" \
            "http://127.0.0.1:$PROFILE_PORT/debug/pprof/profile?seconds=$((DURATION - 2))" ) & prof=$!
      fi
      c0=$(proxy_cpu); b0=$(core_busy); t0=$(date +%s%N)
      res=$(load "$sc" "$OUTDIR/proxies/$p-$sc-r$rep/load.log")
      [ -z "$prof" ] || wait "$prof"
      c1=$(proxy_cpu); b1=$(core_busy); t1=$(date +%s%N)
      read -r rps errs <<<"$res"
      row=$(awk -v c=$((c1 - c0)) -v b=$((b1 - b0)) -v t=$((t1 - t0)) -v hz="$hz" -v rps="${rps:-0}" 'BEGIN{
        s = t / 1e9; pc = c / hz / s * 100; f = (b - c) / hz / s * 100; if (f < 0) f = 0
        printf "%.0f\t%.0f\t%.0f", pc, (pc > 0 ? rps / (pc / 100) : 0), f }')
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$p" "$rep" "${rps:-0}" "${errs:-0}" "$row" >> "$RUNS"
      log "$sc rep $rep $p: rps=${rps:-0} errors=${errs:-0} cpu%/per-core/foreign%: $(echo "$row" | tr '\t' ' ')"
      stop_proxy
    done
  done
done
python3 "$ROOT/scripts/bench-tls-report.py" "$RUNS" | tee "$OUTDIR/report.md"
echo "results: $OUTDIR"
