#!/usr/bin/env bash
# make run: two demo web servers and lbd with configs/lbd.yaml in front of
# them, in the foreground. Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-configs/lbd.yaml}

pids=()
cleanup() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

./bin/lbctl backend --listen 127.0.0.1:8081 --name server1 & pids+=($!)
./bin/lbctl backend --listen 127.0.0.1:8082 --name server2 & pids+=($!)
# The demo keeps API changes next to the repository, not in /var/lib/lbd.
./bin/lbd --config "$CONFIG" --state-dir .lbd-state & pids+=($!)

# Wait until lbd answers (it logs to stderr as JSON).
for _ in $(seq 50); do
  curl -fsS -o /dev/null http://127.0.0.1:8080/ 2>/dev/null && break
  sleep 0.1
done
cat <<'MSG'

lbd is balancing http://127.0.0.1:8080/ over server1 (127.0.0.1:8081) and server2 (127.0.0.1:8082).
Try:
  for i in 1 2 3 4; do curl -s http://127.0.0.1:8080/; done
Reload after editing configs/lbd.yaml:  pkill -HUP -x lbd
Press Ctrl-C to stop.

MSG
wait -n "${pids[@]}"
