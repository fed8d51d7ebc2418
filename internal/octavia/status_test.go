package octavia

import "testing"

const (
	online    = OperatingOnline
	offline   = OperatingOffline
	degraded  = OperatingDegraded
	errored   = OperatingError
	draining  = OperatingDraining
	noMonitor = OperatingNoMonitor
)

func TestPoolStatus(t *testing.T) {
	tests := []struct {
		name    string
		enabled bool
		members []OperatingStatus
		want    OperatingStatus
	}{
		{"all online", true, []OperatingStatus{online, online}, online},
		{"no monitor", true, []OperatingStatus{noMonitor, noMonitor}, online},
		{"one in error", true, []OperatingStatus{online, errored}, degraded},
		{"all in error", true, []OperatingStatus{errored, errored}, errored},
		{"error and the rest drained", true, []OperatingStatus{errored, draining}, errored},
		{"all drained", true, []OperatingStatus{draining, draining}, errored},
		{"all disabled", true, []OperatingStatus{offline}, errored},
		{"online and disabled", true, []OperatingStatus{online, offline}, online},
		{"online and draining", true, []OperatingStatus{online, draining}, online},
		{"no members", true, nil, online},
		{"disabled pool", false, []OperatingStatus{errored}, offline},
	}
	for _, tt := range tests {
		if got := PoolStatus(tt.enabled, tt.members); got != tt.want {
			t.Errorf("%s: PoolStatus = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestListenerAndLoadBalancerStatus(t *testing.T) {
	if ListenerStatus(true, false) != online || ListenerStatus(true, true) != degraded || ListenerStatus(false, true) != offline {
		t.Error("ListenerStatus")
	}
	if MonitorStatus(true) != online || MonitorStatus(false) != offline {
		t.Error("MonitorStatus")
	}
	tests := []struct {
		name             string
		enabled          bool
		listeners, pools []OperatingStatus
		want             OperatingStatus
	}{
		{"all online", true, []OperatingStatus{online}, []OperatingStatus{online, online}, online},
		{"degraded pool", true, []OperatingStatus{online}, []OperatingStatus{online, degraded}, degraded},
		{"pool in error beats degraded", true, []OperatingStatus{degraded}, []OperatingStatus{degraded, errored}, errored},
		{"full listener", true, []OperatingStatus{degraded}, []OperatingStatus{online}, degraded},
		{"listener in error does not count", true, []OperatingStatus{errored}, []OperatingStatus{online}, online},
		{"offline pool does not count", true, nil, []OperatingStatus{offline}, online},
		{"disabled", false, nil, []OperatingStatus{errored}, offline},
	}
	for _, tt := range tests {
		if got := LoadBalancerStatus(tt.enabled, tt.listeners, tt.pools); got != tt.want {
			t.Errorf("%s: LoadBalancerStatus = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestPoolInUse(t *testing.T) {
	rule := []*L7Rule{{Type: "PATH", CompareType: "STARTS_WITH", Value: "/a"}}
	lb := &LoadBalancer{
		Listeners: []*Listener{{ID: "l1", DefaultPoolID: "used"}, {ID: "l2", L7Policies: []*L7Policy{
			{Action: L7RedirectToPool, RedirectPoolID: "redirected", Rules: rule},
			{Action: L7RedirectToPool, RedirectPoolID: "ruleless"},
		}}},
		Pools: []*Pool{{ID: "used"}, {ID: "spare"}, {ID: "redirected"}, {ID: "ruleless"}},
	}
	if !lb.PoolInUse("used") {
		t.Error("a listener's default pool is not in use")
	}
	if !lb.PoolInUse("redirected") {
		t.Error("an L7 policy's redirect pool is not in use")
	}
	if lb.PoolInUse("spare") || lb.PoolInUse("ruleless") {
		t.Error("a pool no listener uses (or only a policy without rules, which Octavia does not render) is in use")
	}
}
