# shellcheck shell=bash
# Sourced by the measurement scripts (bench-paired.sh, health-check-cpu.sh):
# the one rule for whether an OpenStack peer runs beside a measurement.
# make test starts it and leaves it running; idling, it took about a fifth
# off every proxy's requests/s in a run of 2026-12-05 (docs/benchmarks.md).

# peer_running: whether one runs (any Octavia API on this machine: the
# noise is the same whoever started it).
peer_running() {
  pgrep -f octavia-api >/dev/null 2>&1
}

# warn_peer NAME: says on stderr, as NAME, that one runs and how to stop it.
warn_peer() {
  if peer_running; then
    echo "$1: the OpenStack peer is running and adds noise (scripts/openstack-peer.sh down stops it)" >&2
  fi
}
