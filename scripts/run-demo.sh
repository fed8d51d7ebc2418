#!/usr/bin/env bash
# make run: two demo web servers and lbd with configs/lbd.yaml in front of
# them, in the foreground. Stop a server and lbd keeps serving from the
# other: the demo shows lbd's health monitor mark the member ERROR, starts
# the server again and shows the member back ONLINE. Only Ctrl-C (or lbd
# exiting) ends it.
#
# The tests run it on ports of their own: CONFIG (the config file),
# LISTEN (the listener it serves, host:port), SERVER1 and SERVER2 (the
# servers' addresses, as the config names them), BIN (where lbd and lbctl
# are), STATE_DIR, and LBD_ARGS (more flags for lbd, split on spaces).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-configs/lbd.yaml}
LISTEN=${LISTEN:-127.0.0.1:8080}
SERVER1=${SERVER1:-127.0.0.1:8081}
SERVER2=${SERVER2:-127.0.0.1:8082}
BIN=${BIN:-./bin}
STATE_DIR=${STATE_DIR:-.lbd-state} # API changes next to the repository, not in /var/lib/lbd
read -ra lbd_args <<<"${LBD_ARGS:-}"
# HTTPS: a TERMINATED_HTTPS listener with a self-signed certificate made on
# the fly, on 127.0.0.1:8443 when the demo runs on its default ports (empty: none).
# (A failed test inside $(...) would end the script under set -e.)
if [ -z "${HTTPS+set}" ]; then
  HTTPS=
  if [ "$LISTEN" = 127.0.0.1:8080 ]; then HTTPS=127.0.0.1:8443; fi
fi

log=$(mktemp -t lbd-demo.XXXXXX)
lbd= watcher=
declare -A server_pid server_addr=([server1]=$SERVER1 [server2]=$SERVER2)

cleanup() {
  trap - INT TERM EXIT
  echo
  echo "==> stopping lbd and the demo servers"
  if [ -n "$lbd" ]; then kill -TERM "$lbd" 2>/dev/null || true; fi
  for p in "${server_pid[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$watcher" ]; then kill "$watcher" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  rm -f "$log"
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

# start_server NAME: run a demo server, now, or (AFTER_DOWN=1) once lbd
# has marked its member down, so that the member's way to ERROR and back
# shows. The subshell becomes the server (exec): its PID is the server's.
start_server() {
  local name=$1 addr=${server_addr[$1]}
  (
    if [ "${AFTER_DOWN:-}" = 1 ]; then
      for _ in $(seq 600); do # 60 s at most: a pool without a monitor never marks it
        grep -q "\"msg\":\"member is down\".*\"addr\":\"$addr\"" "$log" && break
        sleep 0.1
      done
      sleep 2 # time to see lbd serve from the other server alone
      echo "==> starting $name again (PID $BASHPID): lbd's health monitor will bring it back ONLINE"
    fi
    exec "$BIN/lbctl" backend --listen "$addr" --name "$name"
  ) &
  server_pid[$name]=$!
}

# watch turns lbd's member status changes into lines a person reads.
watch_members() {
  tail -n +1 -F --pid=$$ "$log" 2>/dev/null | while IFS= read -r line; do
    case $line in
      *'"msg":"member is down"'* | *'"msg":"member is up"'*) ;;
      *) continue ;;
    esac
    field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" <<<"$line"; }
    local addr to name=
    addr=$(field addr) to=$(field to)
    for n in "${!server_addr[@]}"; do [ "${server_addr[$n]}" = "$addr" ] && name=$n; done
    case $to in
      ERROR) echo "==> lbd: member ${name:-$(field member_id)} ($addr) is ERROR: $(field reason); serving from the others" ;;
      *) echo "==> lbd: member ${name:-$(field member_id)} ($addr) is $to again" ;;
    esac
  done
}

start_server server1
start_server server2
# lbd's log goes to the terminal and to $log for the watcher. Its tee
# ignores Ctrl-C, so that lbd's last lines (the drain) still reach both and
# lbd never writes to a closed pipe.
if [ -n "$HTTPS" ]; then
  # The config plus a load balancer for HTTPS, whose certificate lives
  # with the state.
  mkdir -p "$STATE_DIR/tls"
  [ -s "$STATE_DIR/tls/demo.pem" ] || { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$STATE_DIR/tls/demo.key" -out "$STATE_DIR/tls/demo.crt" 2>/dev/null &&
    cat "$STATE_DIR/tls/demo.crt" "$STATE_DIR/tls/demo.key" >"$STATE_DIR/tls/demo.pem"; }
  { cat "$CONFIG"; cat <<EOF
  - name: lb-https
    vip_address: ${HTTPS%:*}
    listeners:
      - {name: https, protocol: TERMINATED_HTTPS, protocol_port: ${HTTPS##*:}, default_tls_container_ref: $(cd "$STATE_DIR" && pwd)/tls/demo.pem,
         insert_headers: {X-Forwarded-Proto: "true"}, default_pool: {name: pool-https}}
    pools:
      - name: pool-https
        protocol: HTTP
        lb_algorithm: ROUND_ROBIN
        members:
          - {name: server1, address: ${SERVER1%:*}, protocol_port: ${SERVER1##*:}}
          - {name: server2, address: ${SERVER2%:*}, protocol_port: ${SERVER2##*:}}
EOF
  } >"$STATE_DIR/demo.yaml"
  CONFIG=$STATE_DIR/demo.yaml
fi
"$BIN/lbd" --config "$CONFIG" --state-dir "$STATE_DIR" "${lbd_args[@]}" 2> >(trap '' INT; exec tee -a "$log" >&2) &
lbd=$!
watch_members &
watcher=$!

# Wait until lbd answers (it logs to stderr as JSON).
for _ in $(seq 50); do
  curl -fsS -o /dev/null "http://$LISTEN/" 2>/dev/null && break
  kill -0 "$lbd" 2>/dev/null || break
  sleep 0.1
done
cat <<MSG

lbd (PID $lbd) is balancing http://$LISTEN/ over server1 ($SERVER1, PID ${server_pid[server1]}) and server2 ($SERVER2, PID ${server_pid[server2]}).
Try:
  for i in 1 2 3 4; do curl -s http://$LISTEN/; done
${HTTPS:+  curl -sk https://$HTTPS/ https://$HTTPS/            # HTTPS (a self-signed certificate made just now)
  curl -sk --http2 https://$HTTPS/ https://$HTTPS/    # HTTP/2, balanced per request
}  kill ${server_pid[server2]}      # stop server2: lbd marks it ERROR and serves from server1; the demo starts it again
Reload after editing $CONFIG:  kill -HUP $lbd
Press Ctrl-C to stop.

MSG

while true; do
  status=0
  wait -n -p exited "$lbd" "${server_pid[@]}" || status=$?
  if [ "${exited:-}" = "$lbd" ]; then
    echo "==> lbd exited (status $status)"
    exit "$status"
  fi
  for name in "${!server_pid[@]}"; do
    if [ "${server_pid[$name]}" = "${exited:-}" ]; then
      echo "==> $name (${server_addr[$name]}, PID $exited) stopped (status $status); lbd keeps serving, and its health monitor will mark the member ERROR"
      AFTER_DOWN=1 start_server "$name"
    fi
  done
done
