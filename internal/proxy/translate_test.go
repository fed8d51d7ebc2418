package proxy

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"lbd/internal/balancer"
	"lbd/internal/health"
	"lbd/internal/octavia"
)

// codes is the set of HTTP status codes lo to hi.
func codes(lo, hi int) health.Codes {
	var set health.Codes
	set.Add(lo, hi)
	return set
}

func TestTranslateMonitor(t *testing.T) {
	hm := &octavia.HealthMonitor{
		Type: octavia.MonitorHTTP, Delay: octavia.Ptr(5), Timeout: octavia.Ptr(3), MaxRetries: 2,
		ExpectedCodes: "200-204", HTTPVersion: octavia.Ptr(1.1), DomainName: "app.example.org",
	}
	hm.SetDefaults()
	got, err := translateMonitor(hm, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := health.Config{
		Type: health.TypeHTTP, Delay: 5 * time.Second, Timeout: 3 * time.Second, ConnectTimeout: 2 * time.Second,
		Rise: 2, Fall: 3, HTTPMethod: "GET", URLPath: "/", ExpectedCodes: codes(200, 204),
		HTTPVersion: "1.1", DomainName: "app.example.org",
	}
	if got != want {
		t.Fatalf("translateMonitor =\n%+v\nwant\n%+v", got, want)
	}

	hm = &octavia.HealthMonitor{Type: octavia.MonitorHTTP, Delay: octavia.Ptr(1), Timeout: octavia.Ptr(1), MaxRetries: 1, AdminStateUp: octavia.Ptr(false)}
	hm.SetDefaults()
	got, err = translateMonitor(hm, 0)
	if err != nil || !got.Disabled || got.HTTPVersion != "1.0" || got.ExpectedCodes != codes(200, 200) {
		t.Fatalf("disabled HTTP monitor with defaults: %+v, %v", got, err)
	}

	if got, err := translateMonitor(nil, 0); err != nil || got != (health.Config{}) {
		t.Fatalf("no monitor: %+v, %v", got, err)
	}
	hm = &octavia.HealthMonitor{Type: octavia.MonitorHTTP, Delay: octavia.Ptr(1), Timeout: octavia.Ptr(1), MaxRetries: 1, ExpectedCodes: "200-"}
	hm.SetDefaults()
	if _, err = translateMonitor(hm, 0); err == nil || !strings.Contains(err.Error(), `expected_codes "200-"`) {
		t.Fatalf("bad expected_codes: %v", err)
	}
}

// TestTranslateMonitorTypes: every type Octavia has maps to health's type
// of the same name, except SCTP, which lbd refuses while the monitor is
// enabled and, like any disabled monitor, ignores while it is not.
func TestTranslateMonitorTypes(t *testing.T) {
	for _, mt := range octavia.MonitorTypes {
		hm := &octavia.HealthMonitor{Type: mt, Delay: octavia.Ptr(1), Timeout: octavia.Ptr(1), MaxRetries: 1}
		hm.SetDefaults()
		got, err := translateMonitor(hm, 0)
		if mt == octavia.MonitorSCTP {
			if err == nil || !strings.Contains(err.Error(), `type "SCTP"`) {
				t.Errorf("SCTP monitor: %v, want it refused", err)
			}
			hm.AdminStateUp = octavia.Ptr(false)
			if got, err := translateMonitor(hm, 0); err != nil || !got.Disabled || got.Type != health.TypeNone {
				t.Errorf("disabled SCTP monitor: %+v, %v; want a disabled monitor", got, err)
			}
			continue
		}
		if err != nil || got.Type.String() != string(mt) {
			t.Errorf("%s monitor: type %s, %v", mt, got.Type, err)
		}
	}
}

func TestTranslateMember(t *testing.T) {
	m := &octavia.Member{ID: "a", Address: "192.0.2.10", ProtocolPort: 80, MonitorAddress: "192.0.2.11", MonitorPort: octavia.Ptr(8080)}
	m.SetDefaults()
	mc, got, err := translateMember(m)
	if err != nil {
		t.Fatal(err)
	}
	want := health.Target{
		ID: "a", Addr: netip.MustParseAddrPort("192.0.2.10:80"), MonitorAddr: netip.MustParseAddr("192.0.2.11"),
		MonitorPort: 8080, Enabled: true, Weight: 1,
	}
	if got != want || got.ProbeAddr() != netip.MustParseAddrPort("192.0.2.11:8080") {
		t.Fatalf("target = %+v (probe %s), want %+v", got, got.ProbeAddr(), want)
	}
	if wantMC := (balancer.MemberConfig{ID: "a", Addr: want.Addr, Weight: 1, Enabled: true}); mc != wantMC {
		t.Fatalf("balancer member = %+v, want %+v", mc, wantMC)
	}
	m.MonitorAddress = ""
	_, got, _ = translateMember(m)
	if got.ProbeAddr() != netip.MustParseAddrPort("192.0.2.10:8080") {
		t.Fatalf("monitor_port alone: probe %s", got.ProbeAddr())
	}
	m.Address = "::ffff:192.0.2.12"
	if mc, got, _ := translateMember(m); mc.Addr != netip.MustParseAddrPort("192.0.2.12:80") || got.Addr != mc.Addr {
		t.Fatalf("IPv4-mapped address: balancer %s, monitor %s; want both 192.0.2.12:80", mc.Addr, got.Addr)
	}
	m.Address = "not-an-ip"
	if _, _, err := translateMember(m); err == nil || !strings.Contains(err.Error(), `member a address "not-an-ip"`) {
		t.Fatalf("bad address: %v", err)
	}
}
