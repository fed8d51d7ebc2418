#!/usr/bin/env bash
# make soak: a real lbd process under a sustained load on two listeners, with
# churn all along (a SIGHUP reload every second, an API member change every
# half second, a member killed and restarted every 10 s), for SOAK_TIME
# (default 3m). Prints RSS, goroutines, fds and request counts every 10 s
# and at the end; fails on any failed request, or if goroutines and fds do
# not return to their counts before the load. Not part of make test.
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_TIME=${SOAK_TIME:-3m}
LBD_SOAK_TIME=$SOAK_TIME go test -run '^TestSoak' -v -count=1 -timeout 0 ./cmd/lbd
