package health

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"lbd/internal/octavia"
)

const (
	online    = octavia.OperatingOnline
	offline   = octavia.OperatingOffline
	degraded  = octavia.OperatingDegraded
	errored   = octavia.OperatingError
	draining  = octavia.OperatingDraining
	noMonitor = octavia.OperatingNoMonitor
)

func TestMemberStatus(t *testing.T) {
	tests := []struct {
		f    MemberFacts
		want octavia.OperatingStatus
	}{
		{MemberFacts{Enabled: true, Weight: 1, Monitored: true, Healthy: true}, online},
		{MemberFacts{Enabled: true, Weight: 1, Monitored: true, Healthy: false}, errored},
		{MemberFacts{Enabled: false, Weight: 1, Monitored: true, Healthy: false}, offline},
		{MemberFacts{Enabled: false, Weight: 0, Monitored: false, Healthy: true}, offline},
		{MemberFacts{Enabled: true, Weight: 0, Monitored: true, Healthy: true}, draining},
		{MemberFacts{Enabled: true, Weight: 0, Monitored: true, Healthy: false}, errored},
		{MemberFacts{Enabled: true, Weight: 0, Monitored: false, Healthy: true}, draining},
		{MemberFacts{Enabled: true, Weight: 5, Monitored: false, Healthy: true}, noMonitor},
		{MemberFacts{Enabled: true, Weight: 5, Monitored: false, Healthy: false}, errored}, // passively ejected
	}
	for _, tt := range tests {
		if got := MemberStatus(tt.f); got != tt.want {
			t.Errorf("MemberStatus(%+v) = %s, want %s", tt.f, got, tt.want)
		}
	}
}

func TestPoolStatus(t *testing.T) {
	tests := []struct {
		name    string
		enabled bool
		members []octavia.OperatingStatus
		want    octavia.OperatingStatus
	}{
		{"all online", true, []octavia.OperatingStatus{online, online}, online},
		{"no monitor", true, []octavia.OperatingStatus{noMonitor, noMonitor}, online},
		{"one in error", true, []octavia.OperatingStatus{online, errored}, degraded},
		{"all in error", true, []octavia.OperatingStatus{errored, errored}, errored},
		{"error and the rest drained", true, []octavia.OperatingStatus{errored, draining}, errored},
		{"all drained", true, []octavia.OperatingStatus{draining, draining}, errored},
		{"all disabled", true, []octavia.OperatingStatus{offline}, errored},
		{"online and disabled", true, []octavia.OperatingStatus{online, offline}, online},
		{"online and draining", true, []octavia.OperatingStatus{online, draining}, online},
		{"no members", true, nil, online},
		{"disabled pool", false, []octavia.OperatingStatus{errored}, offline},
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
		listeners, pools []octavia.OperatingStatus
		want             octavia.OperatingStatus
	}{
		{"all online", true, []octavia.OperatingStatus{online}, []octavia.OperatingStatus{online, online}, online},
		{"degraded pool", true, []octavia.OperatingStatus{online}, []octavia.OperatingStatus{online, degraded}, degraded},
		{"pool in error beats degraded", true, []octavia.OperatingStatus{degraded}, []octavia.OperatingStatus{degraded, errored}, errored},
		{"full listener", true, []octavia.OperatingStatus{degraded}, []octavia.OperatingStatus{online}, degraded},
		{"listener in error does not count", true, []octavia.OperatingStatus{errored}, []octavia.OperatingStatus{online}, online},
		{"offline pool does not count", true, nil, []octavia.OperatingStatus{offline}, online},
		{"disabled", false, nil, []octavia.OperatingStatus{errored}, offline},
	}
	for _, tt := range tests {
		if got := LoadBalancerStatus(tt.enabled, tt.listeners, tt.pools); got != tt.want {
			t.Errorf("%s: LoadBalancerStatus = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestConfigFromOctavia(t *testing.T) {
	hm := &octavia.HealthMonitor{
		Type: octavia.MonitorHTTP, Delay: octavia.Ptr(5), Timeout: octavia.Ptr(3), MaxRetries: 2,
		ExpectedCodes: "200-204", HTTPVersion: octavia.Ptr(1.1), DomainName: "app.example.org",
	}
	hm.SetDefaults()
	got, err := ConfigFromOctavia(hm, 2000)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Type: octavia.MonitorHTTP, Delay: 5 * time.Second, Timeout: 3 * time.Second, ConnectTimeout: 2 * time.Second,
		Rise: 2, Fall: 3, HTTPMethod: "GET", URLPath: "/", ExpectedCodes: codes(t, "200-204"),
		HTTPVersion: "1.1", DomainName: "app.example.org",
	}
	if got != want {
		t.Fatalf("ConfigFromOctavia =\n%+v\nwant\n%+v", got, want)
	}
	tm, budget := got.timeouts()
	if tm != (Timeouts{Connect: 2 * time.Second, Response: 3 * time.Second}) || budget != 5*time.Second {
		t.Fatalf("timeouts = %+v, %s", tm, budget)
	}

	hm = &octavia.HealthMonitor{Type: octavia.MonitorHTTP, Delay: octavia.Ptr(1), Timeout: octavia.Ptr(1), MaxRetries: 1, AdminStateUp: octavia.Ptr(false)}
	hm.SetDefaults()
	got, err = ConfigFromOctavia(hm, 0)
	if err != nil || !got.Disabled || got.HTTPVersion != "1.0" || got.ExpectedCodes != codes(t, "200") || got.active() {
		t.Fatalf("disabled HTTP monitor with defaults: %+v, %v", got, err)
	}

	if got, err := ConfigFromOctavia(nil, 0); err != nil || got.active() || got != (Config{}) {
		t.Fatalf("no monitor: %+v, %v", got, err)
	}
	_, err = ConfigFromOctavia(&octavia.HealthMonitor{Type: octavia.MonitorHTTP, MaxRetries: 1, ExpectedCodes: "200-"}, 0)
	if err == nil || !strings.Contains(err.Error(), `expected_codes "200-"`) {
		t.Fatalf("bad expected_codes: %v", err)
	}
}

func TestTargetFromOctavia(t *testing.T) {
	m := &octavia.Member{ID: "a", Address: "192.0.2.10", ProtocolPort: 80, MonitorAddress: "192.0.2.11", MonitorPort: octavia.Ptr(8080)}
	m.SetDefaults()
	got, err := TargetFromOctavia(m)
	if err != nil {
		t.Fatal(err)
	}
	want := Target{
		ID: "a", Addr: netip.MustParseAddrPort("192.0.2.10:80"), MonitorAddr: netip.MustParseAddr("192.0.2.11"),
		MonitorPort: 8080, Enabled: true, Weight: 1,
	}
	if got != want || got.ProbeAddr() != netip.MustParseAddrPort("192.0.2.11:8080") {
		t.Fatalf("TargetFromOctavia = %+v (probe %s), want %+v", got, got.ProbeAddr(), want)
	}
	m.MonitorAddress = ""
	got, _ = TargetFromOctavia(m)
	if got.ProbeAddr() != netip.MustParseAddrPort("192.0.2.10:8080") {
		t.Fatalf("monitor_port alone: probe %s", got.ProbeAddr())
	}
	m.Address = "not-an-ip"
	if _, err := TargetFromOctavia(m); err == nil || !strings.Contains(err.Error(), `member a address "not-an-ip"`) {
		t.Fatalf("bad address: %v", err)
	}
}
