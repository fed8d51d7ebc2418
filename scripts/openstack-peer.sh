#!/usr/bin/env bash
# openstack-peer.sh up|down|status
#
# Starts (up) or stops (down) the real OpenStack control plane that lbctl's
# tests run against: shared/peers/openstack-up.sh, on 127.0.0.1 only, with
# its state in $OPENSTACK_PEER_STATE (default /tmp/openstack-peer). `up` is
# idempotent (a running peer only prints its environment) and serialized by a
# lock, so test packages starting in parallel start it once. The first `up` on
# a fresh machine installs Debian packages (~4 min), later ones start it in
# ~40-80 s. It needs about 2.7 GiB of memory.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null || (cd "$here/.." && pwd))
peers=$root/../shared/peers          # CI: the repo is cloned next to shared/
[[ -x $peers/openstack-up.sh ]] || peers=/work/shared/peers
[[ -x $peers/openstack-up.sh ]] || { echo "openstack-peer.sh: no shared/peers/openstack-up.sh next to $root or in /work/shared/peers" >&2; exit 1; }
state=${OPENSTACK_PEER_STATE:-/tmp/openstack-peer}

mkdir -p "$(dirname "$state")"
exec 9>"$state.lock"
flock -w "${PEER_LOCK_TIMEOUT:-1500}" 9 || { echo "openstack-peer.sh: another start holds $state.lock" >&2; exit 1; }

# running: every service of the peer alive and answering. openstack-up.sh
# checks the same before saying "already running", but then rewrites
# clouds.yaml and openrc (truncate, then write), under the feet of a test in
# another package that runs the openstack CLI with them at that moment; a
# running peer is therefore left alone here.
running() {
  [[ -s $state/pids && -f $state/.seeded && -s $state/clouds.yaml && -s $state/openrc ]] || return 1
  while read -r name pid; do kill -0 "$pid" 2>/dev/null || return 1; done < "$state/pids"
  local OS_AUTH_URL="" NEUTRON_ENDPOINT="" OCTAVIA_ENDPOINT="" BARBICAN_ENDPOINT="" NOVA_ENDPOINT=""
  # shellcheck disable=SC1091
  source "$state/openrc"
  local u
  for u in "$OS_AUTH_URL" "$NEUTRON_ENDPOINT/" "$OCTAVIA_ENDPOINT/" ${BARBICAN_ENDPOINT:+"$BARBICAN_ENDPOINT/"} ${NOVA_ENDPOINT:+"$NOVA_ENDPOINT/"}; do
    [[ $u != / ]] || return 1
    curl -fsS -m 5 -o /dev/null "$u" || return 1
  done
}

case "${1:-}" in
  # 9>&-: the services must not inherit the lock, or they would hold it for
  # as long as they run and every later up/down would wait for it.
  up)
    if running; then
      echo "running: $state/clouds.yaml (clouds peer, peer-lbd)"
      exit 0
    fi
    "$peers/openstack-up.sh" "$state" 9>&- ;;
  down) "$peers/openstack-down.sh" "$state" 9>&- ;;
  status)
    [[ -s $state/pids ]] || { echo "not running (nothing in $state/pids)"; exit 1; }
    while read -r name pid; do kill -0 "$pid" 2>/dev/null || { echo "$name ($pid) is not running"; exit 1; }; done < "$state/pids"
    echo "running: $state/clouds.yaml (clouds peer, peer-lbd)" ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
