#!/usr/bin/env bash
# Installs, idempotently, what a make target needs on a fresh Debian 12
# machine (as root). Usage: ensure-deps.sh test|run|bench|redteam|autoscale
set -euo pipefail
export PATH=/usr/local/go/bin:$PATH

need_go() {
  command -v go >/dev/null && return
  echo "Go is not installed: install Go 1.26 into /usr/local/go (https://go.dev/dl/)" >&2
  exit 1
}

# apt_install CMD PKG...: installs PKG... when CMD is not on PATH.
updated=
apt_install() {
  local cmd=$1; shift
  command -v "$cmd" >/dev/null && return
  if [ "$(id -u)" != 0 ]; then
    echo "missing $cmd: run as root, or: apt-get install -y $*" >&2
    exit 1
  fi
  if [ -z "$updated" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    updated=1
  fi
  # Install without starting the packages' own daemons (prometheus would
  # start one on :9090): lbd's tests start what they need themselves.
  local policy=/usr/sbin/policy-rc.d had_policy=
  [ -e "$policy" ] && had_policy=1
  [ -n "$had_policy" ] || printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  [ -n "$had_policy" ] || rm -f "$policy"
}

case "${1:-test}" in
  run) need_go; apt_install curl curl; apt_install openssl openssl ;;
  autoscale) need_go; apt_install curl curl; apt_install prometheus prometheus ;;
  test) need_go; apt_install promtool prometheus; apt_install mkfs.ext4 e2fsprogs; apt_install curl curl; apt_install haproxy haproxy; apt_install openssl openssl
    # Shared state and ACTIVE_STANDBY (internal/ha): a real etcd and a real
    # keepalived, started by the tests themselves, in network namespaces
    # that the tests build with ip and ss (iproute2; absent from minimal images).
    apt_install etcd etcd-server; apt_install keepalived keepalived; apt_install ip iproute2; apt_install ss iproute2 ;;
  redteam) need_go; apt_install haproxy haproxy ;;
  bench) need_go; apt_install haproxy haproxy; apt_install nginx nginx-light libnginx-mod-stream; apt_install wrk wrk; apt_install h2load nghttp2-client ;;
  *) echo "usage: $0 test|run|bench|redteam|autoscale" >&2; exit 2 ;;
esac
