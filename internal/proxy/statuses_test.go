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
