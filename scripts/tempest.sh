#!/usr/bin/env bash
# make test-tempest: Octavia's own API conformance tests (octavia-tempest-plugin,
# tests/api/v2) run by tempest against lbd, and, for the baseline, against the
# OpenStack peer's real Octavia: the same tests, the same Keystone. Prints
# pass/fail/skip per test module, and which tests pass on one and not on the
# other. Not part of make test (the lbd run takes ~10 min, Octavia's ~40).
#
# Environment:
#   TEMPEST_TARGETS      "lbd" (default), "octavia", or "lbd octavia"
#   TEMPEST_REGEX        tests to run (default: every API test)
#   TEMPEST_CONCURRENCY  tempest workers (default 1: lbd's load balancers share
#                        their VIP address, so two test classes running at
#                        once may ask for the same port on it; Octavia's do not)
#   TEMPEST_OUT          results, tempest and lbd logs (default /tmp/lbd-tempest)
#   TEMPEST_PEER_LOCK    1 (default): hold the peer's test lock for the run, as
#                        the Go tests do (the peer's SQLite fails concurrent
#                        writers); 0: do not
#   OCTAVIA_TEMPEST_PLUGIN_DIR  a source tree of the plugin to use instead of
#                        Debian's (it goes first on PYTHONPATH)
#
# Tempest 33 and octavia-tempest-plugin come from Debian 12 (apt). Debian has
# the plugin's 2.0.0; the issue names 2.1.0, which PyPI would serve but is not
# reachable here. 2.0.0 and 2.1.0 have the same tests/api (git diff 2.0.0
# 2.1.0 -- octavia_tempest_plugin/tests/api is empty; 2.1.0 adds scenario
# tests and an alpn_protocols argument to the pool client), so the API
# results are those of 2.1.0.
#
# How tempest reaches lbd: lbd is registered in the peer's Keystone as a
# second load-balancer service, of type "load-balancer-lbd", and tempest's
# [load_balancer] catalog_type selects it. A second region would have done
# too, but clients that pick the first load-balancer endpoint of any region
# (gophercloud without a region) could then land on lbd; nothing else looks
# for this type. The endpoint is removed when the script ends.
#
# In no-op mode the suite gives load balancers the fixed VIPs 198.18.33.33
# and 2001:db8:33:33:33:33:33:33, and lbd really binds its listeners there:
# they are on the lo of the network namespace lbd runs in (see start_lbd),
# which goes away, with them, when the script ends.
set -euo pipefail
# The whole script is one compound command, read before it runs: editing
# the file during a run (which takes a while) cannot derail it.
{
cd "$(dirname "$0")/.."
root=$PWD
export PATH=/usr/local/go/bin:$PATH

targets=${TEMPEST_TARGETS:-lbd}
regex=${TEMPEST_REGEX:-'^octavia_tempest_plugin\.tests\.api\.v2\.'}
concurrency=${TEMPEST_CONCURRENCY:-1}
out=${TEMPEST_OUT:-/tmp/lbd-tempest}
state=${OPENSTACK_PEER_STATE:-/tmp/openstack-peer}
vip4=198.18.33.33
vip6=2001:db8:33:33:33:33:33:33
lbd_type=load-balancer-lbd
py=/usr/bin/python3

# --- install -----------------------------------------------------------------
missing=()
[ -x /usr/bin/tempest ] || missing+=(tempest)
$py -c 'import octavia_tempest_plugin' 2>/dev/null || missing+=(octavia-tempest-plugin)
for c in socat curl; do command -v $c >/dev/null || missing+=($c); done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "tempest.sh: run as root (network namespaces), or: apt-get install -y ${missing[*]}" >&2; exit 1; }
  echo "tempest.sh: installing ${missing[*]} (Debian)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ -n "${OCTAVIA_TEMPEST_PLUGIN_DIR:-}" ]; then
  export PYTHONPATH=$OCTAVIA_TEMPEST_PLUGIN_DIR${PYTHONPATH:+:$PYTHONPATH}
fi
plugin_version=$($py -c 'import octavia_tempest_plugin, os, subprocess
d = os.path.dirname(os.path.dirname(octavia_tempest_plugin.__file__))
try:
    from importlib.metadata import version; v = version("octavia-tempest-plugin")
except Exception: v = "?"
print(v if not os.environ.get("OCTAVIA_TEMPEST_PLUGIN_DIR") else "tree " + d)')
echo "tempest.sh: tempest $(dpkg-query -W -f='${Version}' tempest), octavia-tempest-plugin $plugin_version"

./scripts/openstack-peer.sh up >/dev/null
# shellcheck disable=SC1091
source "$state/openrc"
export OS_CLIENT_CONFIG_FILE=$state/clouds.yaml
osc() { OS_CLOUD=peer /usr/bin/openstack "$@"; }

mkdir -p "$out"
work=$(mktemp -d /tmp/lbd-tempest-run.XXXXXX)
lbd_pid= socat_pid= endpoint_id= netns_made= stestr_pid= octavia_ran=
cleanup() {
  set +e
  # A run stopped midway: stop tempest first (it runs in a session of its
  # own), then remove what it left in the peer, which its classes' own
  # cleanups would have removed.
  [ -n "$stestr_pid" ] && kill -- -"$stestr_pid" 2>/dev/null && wait "$stestr_pid" 2>/dev/null
  [ -n "$octavia_ran" ] && $py scripts/tempest/cleanup.py peer
  [ -n "$lbd_pid" ] && kill "$lbd_pid" 2>/dev/null && wait "$lbd_pid" 2>/dev/null
  [ -n "$socat_pid" ] && kill "$socat_pid" 2>/dev/null && wait "$socat_pid" 2>/dev/null
  [ -n "$endpoint_id" ] && osc endpoint delete "$endpoint_id" >/dev/null 2>&1
  [ -n "$netns_made" ] && ip link del "$host_if" 2>/dev/null
  [ -n "$netns_made" ] && ip netns del "$ns" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "${TEMPEST_PEER_LOCK:-1}" = 1 ]; then
  exec 8>"$state.tests.lock"
  echo "tempest.sh: waiting for the peer's test lock ($state.tests.lock)"
  flock 8
fi

# Octavia's roles the suite's credentials carry; the peer makes only some.
have_roles=$(osc role list -f value -c Name)
for r in load-balancer_observer load-balancer_global_observer load-balancer_member load-balancer_admin member reader; do
  grep -qx "$r" <<<"$have_roles" || osc role create "$r" >/dev/null
done

# --- lbd -----------------------------------------------------------------------
# lbd runs in a network namespace of its own, joined to the host by a veth
# pair: its listeners bind the suite's VIPs on the namespace's lo, and with no
# route out of it, nothing lbd might connect to (the suite's members are
# 192.0.2.x and 2001:db8::x, which on some hosts are real neighbours) is
# reachable. (The suite never puts a member under a monitor nor sends traffic,
# so lbd has no reason to try.) Keystone, on the host's 127.0.0.1 only, is
# reached through a socat forwarder on the host's end of the veth.
ns=lbdtempest$$
host_if=lbt${$}h ns_if=lbt${$}n
net=169.254.$((100 + $$ % 100))
host_ip=$net.1 ns_ip=$net.2
start_lbd() {
  go build -o "$work/lbd" ./cmd/lbd
  ip netns add "$ns"
  netns_made=1
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$vip4/32" dev lo
  ip -n "$ns" addr add "$vip6/128" dev lo
  ip link add "$host_if" type veth peer name "$ns_if" netns "$ns"
  ip addr add "$host_ip/30" dev "$host_if"
  ip link set "$host_if" up
  ip -n "$ns" addr add "$ns_ip/30" dev "$ns_if"
  ip -n "$ns" link set "$ns_if" up
  socat "TCP-LISTEN:5000,bind=$host_ip,fork,reuseaddr" TCP:127.0.0.1:5000 &
  socat_pid=$!

  echo "loadbalancers: []" >"$work/lbd.yaml"
  local port=9876
  lbd_url=http://$ns_ip:$port
  LBD_KEYSTONE_PASSWORD=$OS_PASSWORD ip netns exec "$ns" "$work/lbd" --config "$work/lbd.yaml" --state-dir "$work/state" \
    --api-addr "$ns_ip:$port" --admin-addr "" --vip-address "$vip4" \
    --keystone-url "http://$host_ip:5000/v3" --keystone-username "$OS_USERNAME" --keystone-project "$OS_PROJECT_NAME" \
    >"$out/lbd.log" 2>&1 &
  lbd_pid=$!
  for _ in $(seq 100); do
    curl -sf "$lbd_url/" >/dev/null && break
    kill -0 "$lbd_pid" 2>/dev/null || { echo "tempest.sh: lbd exited:" >&2; tail -20 "$out/lbd.log" >&2; exit 1; }
    sleep 0.1
  done
  # Register it beside the real Octavia: a service of its own type.
  local svc
  svc=$(osc service list -f value -c ID -c Type | awk -v t="$lbd_type" '$2 == t {print $1; exit}')
  [ -n "$svc" ] || svc=$(osc service create --name lbd --description "lbd (make test-tempest)" -f value -c id "$lbd_type")
  for e in $(osc endpoint list --service "$svc" -f value -c ID); do osc endpoint delete "$e"; done
  endpoint_id=$(osc endpoint create --region "$OS_REGION_NAME" -f value -c id "$svc" public "$lbd_url")
  echo "tempest.sh: lbd on $lbd_url in netns $ns (catalog type $lbd_type), VIPs $vip4 and $vip6 on its lo"
}

# --- tempest ---------------------------------------------------------------------
write_conf() { # write_conf DIR TARGET
  local dir=$1 target=$2 catalog drivers timeout
  if [ "$target" = lbd ]; then
    catalog=$lbd_type
    # What lbd must list (internal/controlplane/catalog.go).
    drivers="lbd:The lbd data plane (userspace proxy and health checker),amphora:The lbd data plane under the amphora provider name"
    # lbd answers a change once it is live: a status the suite waits
    # for is there at once or never, so waiting long only slows the run.
    timeout=15
  else
    catalog=load-balancer
    drivers=$(sed -n 's/^enabled_provider_drivers *= *//p' "$state/octavia/octavia.conf")
    timeout=120
  fi
  local public_net
  public_net=$(osc network show External -f value -c id)
  mkdir -p "$dir/etc"
  cat >"$dir/etc/tempest.conf" <<EOF
[DEFAULT]
log_file = $dir/tempest.log
use_stderr = false
[auth]
use_dynamic_credentials = true
create_isolated_networks = false
admin_username = $OS_USERNAME
admin_password = $OS_PASSWORD
admin_project_name = $OS_PROJECT_NAME
admin_domain_name = $OS_USER_DOMAIN_NAME
default_credentials_domain_name = Default
[identity]
uri_v3 = $OS_AUTH_URL
auth_version = v3
region = $OS_REGION_NAME
[identity-feature-enabled]
api_v2 = false
[service_available]
load_balancer = true
neutron = true
nova = false
glance = false
cinder = false
swift = false
[network]
public_network_id = $public_net
[validation]
run_validation = false
[load_balancer]
catalog_type = $catalog
region = $OS_REGION_NAME
provider = amphora
enabled_provider_drivers = $drivers
test_with_noop = true
# The zones the availability zone tests put in their profiles'
# compute_zone (the peer's Nova has "nova"); without them they send null,
# which the amphora provider's schema refuses, in Octavia and in lbd alike.
availability_zone = nova
availability_zone2 = nova
availability_zone3 = nova
RBAC_test_type = advanced
enforce_new_defaults = false
check_interval = 1
check_timeout = $timeout
build_interval = 1
build_timeout = $timeout
lb_build_interval = 1
lb_build_timeout = $((timeout * 2))
[loadbalancer-feature-enabled]
not_implemented_is_error = true
[enforce_scope]
octavia = false
EOF
  cat >"$dir/.stestr.conf" <<EOF
[DEFAULT]
test_path=/usr/lib/python3/dist-packages/tempest/test_discover
top_dir=/usr/lib/python3/dist-packages/tempest
group_regex=([^\.]*\.)*
EOF
}

run_target() { # run_target TARGET
  local target=$1 dir=$work/tempest-$1
  write_conf "$dir" "$target"
  echo "tempest.sh: running $regex against $target (concurrency $concurrency)"
  local start=$SECONDS
  (cd "$dir" && TEMPEST_CONFIG_DIR=$dir/etc stestr init >/dev/null)
  [ "$target" = octavia ] && octavia_ran=1
  (cd "$dir" && TEMPEST_CONFIG_DIR=$dir/etc exec setsid stestr run --concurrency "$concurrency" --subunit "$regex" >"$out/$target.subunit") &
  stestr_pid=$!
  wait "$stestr_pid" || true
  stestr_pid=
  cp "$dir/tempest.log" "$out/$target-tempest.log" 2>/dev/null || true
  echo "tempest.sh: $target took $((SECONDS - start)) s"
  $py scripts/tempest/summary.py --json "$out/$target.json" "$target" "$out/$target.subunit"
}

for t in $targets; do
  case $t in
    lbd) start_lbd; run_target lbd ;;
    octavia) run_target octavia ;;
    *) echo "tempest.sh: unknown target $t (lbd, octavia)" >&2; exit 2 ;;
  esac
done
if [[ " $targets " == *" lbd "* && " $targets " == *" octavia "* ]] || [[ -s $out/lbd.json && -s $out/octavia.json ]]; then
  $py scripts/tempest/summary.py --compare "$out/octavia.json" "$out/lbd.json"
fi
exit
}
