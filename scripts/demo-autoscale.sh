#!/usr/bin/env bash
# make demo-autoscale: the auto scaling loop on one machine, in about two
# minutes. lbd balances http://127.0.0.1:8090/ (configs/autoscale-demo.yaml),
# a real Prometheus scrapes it, `lbctl autoscale --provider local` starts
# and stops `lbctl backend` processes behind it from the load, and
# `lbctl load` sends 1× → 4× → 1× (STEPS), printing each second with the
# members ONLINE. The run's chart and record land in OUT (default
# demo-autoscale/). Ports: lbd's API 9886, its metrics 9112, Prometheus
# 9091, the controller's metrics 9114 (make run's are left free).
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=configs/autoscale-demo.yaml
OUT=${OUT:-demo-autoscale}
STEPS=${STEPS:-35:20s,140:40s,35:60s}
# Each backend answers in 10 ms, one request at a time: about 100 requests
# per second before it queues, so 4× (140/s) on one backend hurts.
BACKEND_ARGS=${BACKEND_ARGS:---latency 10ms --max-inflight 1}
API=127.0.0.1:9886 ADMIN=127.0.0.1:9112 PROM=127.0.0.1:9091 CTL=127.0.0.1:9114 VIP=127.0.0.1:8090

for addr in $API $ADMIN $PROM $CTL $VIP; do
  if (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null; then
    echo "demo-autoscale: $addr is taken; stop what listens there first" >&2
    exit 1
  fi
done

tmp=$(mktemp -d)
mkdir -p "$OUT"
pids=()
ctl=
cleanup() {
  trap - INT TERM EXIT
  [ -n "$ctl" ] && kill -TERM "$ctl" 2>/dev/null && wait "$ctl" 2>/dev/null || true
  # The backends outlive the controller, as servers do: stop them.
  ./bin/lbctl autoscale -f $CONFIG --provider local --endpoint http://$API --stop-backends 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup INT TERM EXIT

echo "loadbalancers: []" >"$tmp/lbd.yaml"
./bin/lbd --config "$tmp/lbd.yaml" --state-dir "$tmp/state" --api-addr $API --admin-addr $ADMIN --log-level warn \
  --access-log "file:$tmp/access.log" 2>"$OUT/lbd.log" &
pids+=($!)
cat >"$tmp/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: ["$PWD/configs/autoscale-alerts.yml"]
scrape_configs:
  - job_name: lbd
    static_configs: [{targets: ["$ADMIN"]}]
  - job_name: lbctl-autoscale
    static_configs: [{targets: ["$CTL"]}]
EOF
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/prometheus" \
  --web.listen-address=$PROM --log.level=warn 2>"$OUT/prometheus.log" &
pids+=($!)

for _ in $(seq 100); do
  curl -fsS -o /dev/null "http://$API/" 2>/dev/null && curl -fsS -o /dev/null "http://$PROM/-/ready" 2>/dev/null && break
  sleep 0.1
done
./bin/lbctl apply -f $CONFIG --endpoint "http://$API"

./bin/lbctl autoscale -f $CONFIG --provider local --endpoint "http://$API" --metrics-addr $CTL \
  --report "$OUT" --backend-args "$BACKEND_ARGS" --backend-log-dir "$tmp/backends" 2>"$OUT/controller.log" &
ctl=$!
# The controller's actions, as they happen (its every decision is in
# $OUT/controller.log).
tail -n +1 -F "$OUT/controller.log" 2>/dev/null |
  sed -un 's/.*msg=action .*action=\([a-z_]*\) server=\([^ ]*\).*why="\([^"]*\)".*/    autoscale: \1 \2 (\3)/p' &
pids+=($!)

cat <<MSG

lbd balances http://$VIP/ over lbctl backend processes that lbctl autoscale
starts and stops (min 1, max 6; 40 requests/s per backend, p95 under 100 ms).
Prometheus: http://$PROM/  controller metrics: http://$CTL/metrics
Load: $STEPS (requests/s:duration).

MSG
sleep 3
./bin/lbctl load --target $VIP --steps "$STEPS" --pool web-pool --endpoint "http://$API" | tee "$OUT/load.txt" || true
kill -TERM "$ctl" 2>/dev/null && wait "$ctl" 2>/dev/null || true
ctl=
echo
echo "chart: $OUT/autoscale.png   record: $OUT/report.json   controller log: $OUT/controller.log"
