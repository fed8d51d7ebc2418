#!/usr/bin/env bash
# Memory per idle keep-alive client connection: lbd, HAProxy and nginx in
# turn on CPU 1, in front of two nginx backends on CPU 0. A client on CPU 0
# opens N connections, sends REQUESTS requests on each and then holds them
# open; the proxy's RSS with them, less its RSS before, divided by N, is what
# an idle keep-alive client costs it. Browsers keep such connections open by
# the thousand.
#   N=5000 REQUESTS=2 PROXIES="lbd haproxy nginx" scripts/idle-memory.sh
# LBD=path/to/another/lbd measures that build as lbd.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-5000}
REQUESTS=${REQUESTS:-2}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
. scripts/lib/loopback.sh
[ -x bin/lbd ] || make build >/dev/null
start_backends 19301 19302
lbd_config "$work/lbd.yaml" HTTP 18092 "" 19301 19302
haproxy_config "$work/haproxy.cfg" http 18092 $((N + 1000)) 19301 19302
nginx_config "$work/ng" http 18092 19301 19302

# hold: the client. It reports "ready" once every connection has had its
# answers, then waits for its stdin to close.
cat >"$work/hold.py" <<'PY'
import resource, socket, sys
n, reqs, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
conns = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    for _ in range(reqs):
        s.sendall(b"GET / HTTP/1.1\r\nHost: idle\r\n\r\n")
        got = b""
        while not (b"\r\n\r\n" in got and got.endswith(b"Hello World!")):
            b = s.recv(4096)
            if not b:
                sys.exit("connection %d closed early" % i)
            got += b
    conns.append(s)
print("ready", flush=True)
sys.stdin.read()
PY
rss_kb() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status"))); done; echo "$t"; }
measure() { # measure NAME: prints the proxy's RSS before and with the idle connections, in kB
  local name=$1 pid pids
  case $name in
    lbd) start_lbd "$work/lbd.yaml" "" "${LBD:-./bin/lbd}"; pid=$! ;;
    haproxy) taskset -c 1 haproxy -db -f "$work/haproxy.cfg" 2>/dev/null & pid=$! ;;
    nginx) taskset -c 1 nginx -p "$work/ng" -c "$work/ng/nginx.conf" -e "$work/ng/error.log" -g 'daemon off;' & pid=$! ;;
  esac
  wait_http http://127.0.0.1:18092/
  pids=$pid
  [ "$name" = nginx ] && pids="$pid $(pgrep -P "$pid" | tr '\n' ' ')"
  local before with
  # shellcheck disable=SC2086 # a list of pids
  before=$(rss_kb $pids)
  mkfifo "$work/hold.in"
  taskset -c 0 python3 "$work/hold.py" "$N" "$REQUESTS" 18092 <"$work/hold.in" >"$work/hold.out" & local hold=$!
  exec 3>"$work/hold.in"
  for _ in $(seq 1200); do grep -q ready "$work/hold.out" && break; kill -0 $hold 2>/dev/null || break; sleep 0.1; done
  grep -q ready "$work/hold.out" || { echo "$name: the client did not get its answers" >&2; exit 1; }
  # shellcheck disable=SC2086
  with=$(rss_kb $pids)
  exec 3>&-
  wait $hold || true
  rm -f "$work/hold.in"
  kill $pid; wait $pid 2>/dev/null || true
  echo "$before $with"
}
declare -A per
for name in ${PROXIES:-lbd haproxy nginx}; do
  read -r before with < <(measure "$name")
  per[$name]=$(( (with - before) * 1024 / N ))
  echo "$name: RSS $before kB, with $N idle keep-alive clients $with kB: ${per[$name]} bytes per connection"
done
if [ -n "${per[lbd]:-}" ]; then
  for name in haproxy nginx; do
    [ -n "${per[$name]:-}" ] && [ "${per[$name]}" -gt 0 ] && echo "lbd/$name per connection: $(awk -v a="${per[lbd]}" -v b="${per[$name]}" 'BEGIN {printf "%.2f", a/b}')"
  done
fi
