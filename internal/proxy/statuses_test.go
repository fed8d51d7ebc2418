package proxy

import (
	"context"
	"fmt"
	"testing"
	"time"

	"lbd/internal/demo"
	"lbd/internal/octavia"
)

// TestOperatingStatusesMatch: the walk over every object reports what
// OperatingStatus reports for each, with a member down (ERROR, the pool
// DEGRADED) so that the roll-ups are not all ONLINE.
func TestOperatingStatusesMatch(t *testing.T) {
	up := startBackend(t, "up", demo.Options{})
	down := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // nothing listens
	rt := New(testLogger(t), Options{DrainTimeout: time.Second})
	defer rt.Shutdown(context.Background())
	cfg := config(t, monitoredPool, poolData{Port: freePort(t), Backends: []string{up.Addr(), down}})
	if err := rt.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	lb := cfg.LoadBalancers[0]
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s, _ := rt.OperatingStatus(lb.Pools[0].ID); s == octavia.OperatingDegraded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pool did not turn DEGRADED")
		}
		time.Sleep(20 * time.Millisecond)
	}
	got := map[string]octavia.OperatingStatus{}
	rt.OperatingStatuses(func(id string, s octavia.OperatingStatus) { got[id] = s })
	ids := []string{lb.ID, lb.Listeners[0].ID, lb.Pools[0].ID, lb.Pools[0].HealthMonitor.ID}
	for _, m := range lb.Pools[0].Members {
		ids = append(ids, m.ID)
	}
	if len(got) != len(ids) {
		t.Errorf("OperatingStatuses gave %d objects, want %d", len(got), len(ids))
	}
	for _, id := range ids {
		want, _ := rt.OperatingStatus(id)
		if got[id] != want {
			t.Errorf("%s: OperatingStatuses %s, OperatingStatus %s", id, got[id], want)
		}
	}
	if got[lb.Pools[0].Members[1].ID] != octavia.OperatingError {
		t.Errorf("the member nothing listens for is %s, want ERROR", got[lb.Pools[0].Members[1].ID])
	}
}

// TestMemberViews: MemberViews says of each member what OperatingStatus
// and MemberHealth say, into a slice left over from another pool, and a
// read into the same slice again allocates nothing (the monitor writes the
// members' health straight into it).
func TestMemberViews(t *testing.T) {
	up := startBackend(t, "up", demo.Options{})
	down := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // nothing listens
	rt := New(testLogger(t), Options{DrainTimeout: time.Second, NoEventLoop: goroutinesOnly()})
	defer rt.Shutdown(context.Background()) // again if the test fails early
	cfg := config(t, monitoredPool, poolData{Port: freePort(t), Backends: []string{up.Addr(), down}})
	if err := rt.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	lb := cfg.LoadBalancers[0]
	p := lb.Pools[0]
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s, _ := rt.OperatingStatus(p.ID); s == octavia.OperatingDegraded {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the pool did not turn DEGRADED")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stale := MemberView{Status: octavia.OperatingOffline, Known: true, Idle: 7}
	stale.Health.ID, stale.Health.Up = "another", true
	out := rt.MemberViews(lb, p, []MemberView{stale, stale, stale})
	if len(out) != len(p.Members) {
		t.Fatalf("MemberViews gave %d views of %d members", len(out), len(p.Members))
	}
	for i, m := range p.Members {
		v := out[i]
		status, _ := rt.OperatingStatus(m.ID)
		h, known := rt.MemberHealth(p.ID, m.ID)
		if v.Status != status || v.Known != known || v.Health.ID != h.ID || v.Health.Up != h.Up || v.Health.Status != h.Status || v.Idle != 0 {
			t.Errorf("member %d: view %s known=%v %+v idle %d, want %s known=%v %+v idle 0", i, v.Status, v.Known, v.Health, v.Idle, status, known, h)
		}
	}
	if out[1].Status != octavia.OperatingError || out[1].Health.Up {
		t.Errorf("the member nothing listens for: %s %+v, want ERROR and down", out[1].Status, out[1].Health)
	}
	rt.Shutdown(context.Background()) // its probes would count as allocations below
	memberViewsAllocate(t, up.Addr(), out)
}

// memberViewsAllocate: with a runtime that probes nothing (nothing else
// allocates while AllocsPerRun counts), MemberViews into a reused slice
// allocates nothing.
func memberViewsAllocate(t *testing.T, up string, out []MemberView) {
	idle := New(testLogger(t), Options{DrainTimeout: time.Second, NoEventLoop: goroutinesOnly()})
	defer idle.Shutdown(context.Background())
	cfg := config(t, oneHTTPPool, poolData{Port: freePort(t), Algorithm: "ROUND_ROBIN", Backends: []string{up, startBackend(t, "b", demo.Options{}).Addr(), startBackend(t, "c", demo.Options{}).Addr()}})
	if err := idle.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	lb, p := cfg.LoadBalancers[0], cfg.LoadBalancers[0].Pools[0]
	out = idle.MemberViews(lb, p, out[:0])
	if len(out) != 3 || !out[2].Known || out[2].Health.ID != p.Members[2].ID {
		t.Fatalf("views of an unmonitored pool: %+v", out)
	}
	if a := testing.AllocsPerRun(100, func() { out = idle.MemberViews(lb, p, out) }); a != 0 {
		t.Errorf("MemberViews of 3 members into a reused slice allocates %v times, want 0", a)
	}
}
