#!/usr/bin/env bash
# make bench's L7 and persistence scenarios, lbd beside HAProxy configured
# as Octavia's amphora renders the same objects (one thread each, pinned to
# CPU 1; nginx backends and wrk on CPU 0; 64 keep-alive connections):
#   http_l7      ten L7 policies of three rules each (HOST_NAME EQUAL_TO,
#                PATH STARTS_WITH, HEADER REGEX), the request matching only
#                the last: lbd's policies against HAProxy's ACLs and
#                use_backend lines
#   http_cookie  HTTP_COOKIE persistence, clients sending the cookie they
#                were given (a browser's steady state): lbd's against
#                HAProxy's "cookie SRV insert indirect nocache"
#   http_cookie_insert  the same without the cookie: every answer inserts one
# The two proxies alternate REPEATS times per scenario (lbd, HAProxy, lbd,
# ...); each run reports requests/s and the proxy's CPU time per request
# (utime+stime over the requests served: steadier than requests/s on a
# shared machine). Each repeat's pair gives a ratio lbd ÷ HAProxy; printed
# are the medians of each proxy, and the median of the paired ratios with
# their range (min–max).
#   DURATION=10 REPEATS=5 SCENARIOS="http_l7 http_cookie" scripts/bench-l7.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}; REPEATS=${REPEATS:-5}
SCENARIOS=${SCENARIOS:-"http_l7 http_cookie http_cookie_insert"}
LBD=${LBD:-./bin/lbd}
[ -x "$LBD" ] || make -s build
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
. scripts/lib/loopback.sh
PORT=18093
WEB=(19401 19402); API=(19403 19404)
ID1=3f1ee6a0-0000-4000-8000-000000000001; ID2=3f1ee6a0-0000-4000-8000-000000000002

# Backends that say which port answered, so each proxy's routing is checked
# before it is measured.
{
  echo "worker_processes 1; pid $work/nginx.pid; error_log $work/nginx.err;"
  echo "events { worker_connections 8192; }"
  echo "http { access_log off; keepalive_requests 1000000;"
  for p in "${WEB[@]}" "${API[@]}"; do
    echo "  server { listen 127.0.0.1:$p; location / { add_header X-Port $p; return 200 \"Hello World!\"; } }"
  done
  echo "}"
} >"$work/nginx.conf"
taskset -c 0 nginx -c "$work/nginx.conf" -g "daemon off;" & pids+=($!)
for p in "${WEB[@]}" "${API[@]}"; do wait_http "http://127.0.0.1:$p/" || { echo "bench-l7: the nginx backend on port $p did not start (port taken?)" >&2; exit 1; }; done
kill -0 "${pids[0]}" 2>/dev/null || { echo "bench-l7: nginx exited (a backend port is taken: $(cat "$work/nginx.err"))" >&2; exit 1; }

# lbd's config for a scenario.
lbd_yaml() {
  local sc=$1 i
  cat <<EOF
loadbalancers:
  - name: bench
    vip_address: 127.0.0.1
    pools:
      - name: api
        protocol: HTTP
        lb_algorithm: ROUND_ROBIN
        members: [{address: 127.0.0.1, protocol_port: ${API[0]}}, {address: 127.0.0.1, protocol_port: ${API[1]}}]
    listeners:
      - name: l
        protocol: HTTP
        protocol_port: $PORT
        default_pool:
          name: web
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
EOF
  if [ "$sc" != http_l7 ]; then
    echo "          session_persistence: {type: HTTP_COOKIE}"
  fi
  echo "          members: [{id: $ID1, address: 127.0.0.1, protocol_port: ${WEB[0]}}, {id: $ID2, address: 127.0.0.1, protocol_port: ${WEB[1]}}]"
  if [ "$sc" = http_l7 ]; then
    echo "        l7policies:"
    for i in $(seq 0 9); do
      cat <<EOF
          - name: p$i
            action: REDIRECT_TO_POOL
            redirect_pool: {name: api}
            rules:
              - {type: HOST_NAME, compare_type: EQUAL_TO, value: shop.example.com}
              - {type: PATH, compare_type: STARTS_WITH, value: /section$i}
              - {type: HEADER, key: X-Tenant, compare_type: REGEX, value: '^tenant-[0-9]+$'}
EOF
    done
  fi
}

# HAProxy's config as Octavia renders the same objects (macros.j2), with
# haproxy_config's global and defaults (loopback.sh).
haproxy_cfg() {
  local sc=$1 i
  haproxy_config "$work/base.cfg" http "$PORT" 4000 "${WEB[@]}"
  sed -n '1,/^frontend/p' "$work/base.cfg" | sed '$d'
  echo "frontend fe"
  echo "  bind 127.0.0.1:$PORT"
  if [ "$sc" = http_l7 ]; then
    for i in $(seq 0 9); do
      echo "  acl r${i}a req.hdr(host) -i -m str shop.example.com"
      echo "  acl r${i}b path -m beg /section$i"
      echo "  acl r${i}c req.hdr(X-Tenant) -m reg ^tenant-[0-9]+\$"
      echo "  use_backend api if r${i}a r${i}b r${i}c"
    done
  fi
  echo "  default_backend web"
  echo "backend web"
  echo "  balance roundrobin"
  if [ "$sc" != http_l7 ]; then
    echo "  cookie SRV insert indirect nocache"
  fi
  echo "  server s1 127.0.0.1:${WEB[0]} cookie $ID1"
  echo "  server s2 127.0.0.1:${WEB[1]} cookie $ID2"
  echo "backend api"
  echo "  balance roundrobin"
  echo "  server a1 127.0.0.1:${API[0]}"
  echo "  server a2 127.0.0.1:${API[1]}"
}

# wrk's request for a scenario, as curl arguments and as a wrk Lua script.
request() {
  case $1 in
    http_l7) echo "/section9/items?id=4|Host: shop.example.com|X-Tenant: tenant-42" ;;
    http_cookie) echo "/|Cookie: lang=en; SRV=$ID2" ;;
    *) echo "/" ;;
  esac
}
lua_for() {
  local path hdrs h
  IFS='|' read -r path hdrs <<<"$(request "$1")"
  {
    echo "wrk.path = \"$path\""
    IFS='|' read -ra hs <<<"$(request "$1" | cut -s -d'|' -f2-)"
    for h in "${hs[@]}"; do
      echo "wrk.headers[\"${h%%: *}\"] = \"${h#*: }\""
    done
  } >"$work/$1.lua"
}
curl_check() { # the port that answered the scenario's request, and the Set-Cookie
  local sc=$1 path rest args=() h
  IFS='|' read -r path rest <<<"$(request "$sc")"
  IFS='|' read -ra hs <<<"$(request "$sc" | cut -s -d'|' -f2-)"
  for h in "${hs[@]}"; do [ -n "$h" ] && args+=(-H "$h"); done
  curl -s -D - -o /dev/null "${args[@]}" "http://127.0.0.1:$PORT$path" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-port"{p=$2} tolower($1)=="set-cookie"{c=$2} END{print p, (c==""?"-":c)}'
}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() { # measure PROXY SCENARIO: prints "rps cpu_us_per_request"
  local proxy=$1 sc=$2 pid before after
  if [ "$proxy" = lbd ]; then
    lbd_yaml "$sc" >"$work/lbd.yaml"
    # Its stdout is not measure's: a failed check must not leave the
    # caller reading a pipe lbd holds open.
    start_lbd "$work/lbd.yaml" "" "$LBD" >/dev/null; pid=$!
  else
    haproxy_cfg "$sc" >"$work/haproxy.cfg"
    taskset -c 1 haproxy -db -f "$work/haproxy.cfg" >/dev/null & pid=$!
  fi
  pids+=("$pid")
  wait_http "http://127.0.0.1:$PORT/" >&2
  local got bad=""; got=$(curl_check "$sc")
  case $sc in
    http_l7) [[ $got == "${API[0]} -" || $got == "${API[1]} -" ]] || bad="answered by $got, want the api pool" ;;
    http_cookie) [[ $got == "${WEB[1]} -" ]] || bad="answered by $got, want ${WEB[1]} without a new cookie" ;;
    http_cookie_insert) [[ $got == *"SRV="*"; path=/" ]] || bad="answered $got, want an inserted SRV cookie" ;;
  esac
  if [ -n "$bad" ]; then
    kill "$pid"; echo "$proxy $sc: $bad" >&2; exit 1
  fi
  before=$(ticks "$pid")
  taskset -c 0 wrk -t1 -c64 -d"${DURATION}s" -s "$work/$sc.lua" "http://127.0.0.1:$PORT/" >"$work/wrk.txt"
  after=$(ticks "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local n rps
  n=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  awk -v t=$((after - before)) -v n="$n" -v hz="$(getconf CLK_TCK)" -v rps="$rps" 'BEGIN {printf "%.0f %.2f\n", rps, t / hz * 1e6 / n}'
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratios() { # ratios "A..." "B...": a_i / b_i, one a line
  paste <(printf '%s\n' $1) <(printf '%s\n' $2) | awk '{printf "%.3f\n", $1 / $2}'
}
summary() { # summary RATIO...: "median (min–max)"
  printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.2f (%.2f–%.2f)", a[int((NR+1)/2)], a[1], a[NR]}'
}

echo "| scenario | lbd req/s | HAProxy req/s | lbd ÷ HAProxy req/s, paired (range) | lbd µs CPU/req | HAProxy µs CPU/req | lbd ÷ HAProxy CPU/req, paired (range; lower is better) |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for sc in $SCENARIOS; do
  lua_for "$sc"
  LR=(); LC=(); HR=(); HC=()
  for i in $(seq "$REPEATS"); do
    read -r r c < <(measure lbd "$sc"); LR+=("$r"); LC+=("$c")
    read -r r c < <(measure haproxy "$sc"); HR+=("$r"); HC+=("$c")
    echo "$sc repeat $i: lbd ${LR[-1]} req/s ${LC[-1]} µs, haproxy ${HR[-1]} req/s ${HC[-1]} µs" >&2
  done
  mapfile -t RR < <(ratios "${LR[*]}" "${HR[*]}")
  mapfile -t RC < <(ratios "${LC[*]}" "${HC[*]}")
  printf "| %s | %s | %s | **%s** | %s | %s | **%s** |\n" "$sc" "$(median "${LR[@]}")" "$(median "${HR[@]}")" \
    "$(summary "${RR[@]}")" "$(median "${LC[@]}")" "$(median "${HC[@]}")" "$(summary "${RC[@]}")"
done
