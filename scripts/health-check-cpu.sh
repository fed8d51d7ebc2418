#!/usr/bin/env bash
# health-check-cpu.sh: what TCP health checks of N loopback members at
# delay 1s cost, as a share of one core: lbd's checker (TestCheckerCPU) for
# each test binary given, and HAProxy (nbthread 1, one "server sN ADDR check
# inter 1s" per member) on the same member server, alternated, REPEATS
# times. The member server is TestHelperServeMembers of the first binary.
#
#   go test -c -o /tmp/new.test ./internal/health/   # and the build before: /tmp/old.test
#   REPEATS=3 N=10000 scripts/health-check-cpu.sh /tmp/old.test /tmp/new.test
#
# TYPE=HTTP measures HTTP checks instead ("GET / HTTP/1.0"; HAProxy with
# "option httpchk GET /"), the members one epoll loop with a canned response
# (LBD_HEALTH_SERVE_HTTP=raw, which the binaries' TestHelperServeMembers must
# know), so that 10,000 of them leave the cores to the checkers.
#
# Prints one line per run: "<label> <cpu %>". Take the bench lock first.
set -euo pipefail
N=${N:-10000} REPEATS=${REPEATS:-3} WINDOW=${WINDOW:-10} TYPE=${TYPE:-TCP}
export LBD_HEALTH_SERVE_HTTP=raw
mode=tcp check=
if [ "$TYPE" = HTTP ]; then mode=http check='  option httpchk GET /\n'; fi
[ $# -ge 1 ] || { echo "usage: $0 HEALTH_TEST_BINARY..." >&2; exit 2; }
# shellcheck source=scripts/lib/peer.sh
. "$(dirname "$0")/lib/peer.sh"
warn_peer health-check-cpu
work=$(mktemp -d /tmp/health-cpu.XXXXXX)
trap 'exec 7>&- 2>/dev/null || true; [ -n "${hap:-}" ] && kill "$hap" 2>/dev/null; rm -rf "$work"' EXIT

haproxy_run() {
	mkfifo "$work/in"
	LBD_HEALTH_SERVE=$TYPE LBD_HEALTH_SERVE_N=$N "$1" -test.run '^TestHelperServeMembers$' <"$work/in" >"$work/addrs" &
	local srv=$!
	exec 7>"$work/in"
	until [ "$(grep -c '^127\.' "$work/addrs" || true)" -ge "$N" ]; do sleep 0.2; done
	{
		printf 'global\n  nbthread 1\n  maxconn 4000\ndefaults\n  mode %s\n  timeout connect 1s\n  timeout client 10s\n  timeout server 10s\n  timeout check 1s\nfrontend fe\n  bind %s\n  default_backend members\nbackend members\n%b' "$mode" "$work/haproxy.sock" "$check"
		grep '^127\.' "$work/addrs" | awk '{printf "  server s%d %s check inter 1s\n", NR, $1}'
	} >"$work/haproxy.cfg"
	haproxy -db -f "$work/haproxy.cfg" >/dev/null 2>&1 &
	hap=$!
	sleep 3
	local tck t0 t1 s0 s1
	tck=$(getconf CLK_TCK)
	read -r t0 < <(awk '{print $14+$15}' "/proc/$hap/stat"); s0=$(date +%s.%N)
	sleep "$WINDOW"
	read -r t1 < <(awk '{print $14+$15}' "/proc/$hap/stat"); s1=$(date +%s.%N)
	kill "$hap"; wait "$hap" 2>/dev/null || true; hap=
	exec 7>&-
	wait "$srv" 2>/dev/null || true
	rm -f "$work/in" "$work/addrs"
	echo "haproxy $(echo "scale=1; 100*($t1-$t0)/$tck/($s1-$s0)" | bc)"
}

for r in $(seq "$REPEATS"); do
	for bin in "$@"; do
		line=$(cd "$work" && LBD_HEALTH_CPU=1 LBD_HEALTH_CPU_MEMBERS=$N LBD_HEALTH_CPU_TYPES=$TYPE "$bin" -test.run 'TestCheckerCPU' -test.v 2>&1 | grep 'checker CPU' || true)
		pct=$(sed -n 's/.*checker CPU \([0-9.]*\)%.*/\1/p' <<<"$line")
		echo "$bin ${pct:-FAILED} # ${line#*: }"
	done
	haproxy_run "$1"
done
