package proxy

import (
	"context"
	"net"
	"slices"
	"strconv"
	"testing"

	"lbd/internal/balancer"
	"lbd/internal/octavia"
)

const twoLBTmpl = `
loadbalancers:
  - name: a
    vip_address: 127.0.0.1
    listeners:
      - name: la
        protocol: HTTP
        protocol_port: {{.A}}
        default_pool:
          name: pa
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members: [{address: 127.0.0.1, protocol_port: 20001}, {address: 127.0.0.1, protocol_port: 20002}]
  - name: b
    vip_address: 127.0.0.1
    listeners:
      - name: lb
        protocol: HTTP
        protocol_port: {{.B}}
        default_pool:
          name: pb
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members:
          {{- range .BMembers}}
            - {address: 127.0.0.1, protocol_port: {{.}}}
          {{- end}}
`

// twoLBs is twoLBTmpl's data: A's and B's ports, B's members' ports.
type twoLBs struct {
	A, B     int
	BMembers []int
}

// startTwoLBs starts a runtime on twoLBTmpl, B with one member.
func startTwoLBs(t *testing.T) (*Runtime, *octavia.Config, *twoLBs) {
	t.Helper()
	data := &twoLBs{freePort(t), freePort(t), []int{20003}}
	cfg := config(t, twoLBTmpl, data)
	return startRuntime(t, cfg), cfg, data
}

// TestApplyLeavesUnchangedAlone: an Apply that changes one load balancer
// leaves the others' listeners and pools exactly as they were (the same
// listener configuration, the same balancer members), whether it gets their
// very graphs again (an API change) or equal ones (a reload of the file).
func TestApplyLeavesUnchangedAlone(t *testing.T) {
	rt, cfg1, data := startTwoLBs(t)
	ctx := context.Background()
	poolOf := func(cfg *octavia.Config, lb int) string { return cfg.LoadBalancers[lb].Pools[0].ID }
	listenerCfg := func(lb int) *listenerConfig {
		rt.mu.Lock()
		defer rt.mu.Unlock()
		return rt.byID[rt.Config().LoadBalancers[lb].Listeners[0].ID]
	}
	membersA, lcA := rt.PoolMembers(poolOf(cfg1, 0)), listenerCfg(0)

	// An API change: B is a new graph with a member more, A the same one.
	data.BMembers = []int{20003, 20004}
	fresh := config(t, twoLBTmpl, data)
	cfg2 := &octavia.Config{LoadBalancers: []*octavia.LoadBalancer{cfg1.LoadBalancers[0], fresh.LoadBalancers[1]}}
	if err := rt.Apply(ctx, cfg2); err != nil {
		t.Fatal(err)
	}
	if got := len(rt.PoolMembers(poolOf(cfg2, 1))); got != 2 {
		t.Fatalf("B's pool has %d members after the change, want 2", got)
	}
	if listenerCfg(0) != lcA {
		t.Error("A's listener got a new configuration from a change to B")
	}
	if m := rt.PoolMembers(poolOf(cfg1, 0)); &m[0] != &membersA[0] {
		t.Error("A's pool was rebuilt by a change to B")
	}

	// A reload of the file: every graph is new, A's equal to what runs.
	data.BMembers = []int{20003}
	if err := rt.Apply(ctx, config(t, twoLBTmpl, data)); err != nil {
		t.Fatal(err)
	}
	if m := rt.PoolMembers(poolOf(cfg1, 0)); &m[0] != &membersA[0] {
		t.Error("A's pool was rebuilt by a reload that did not change it")
	}
	if got := rt.PoolMembers(poolOf(cfg2, 1)); !slices.ContainsFunc(got, func(m *balancer.Member) bool { return m.Addr.Port() == 20003 }) || len(got) != 1 {
		t.Errorf("B's pool has %d members after the reload, want the one on 20003", len(got))
	}
}

// TestApplyClosesRemovedListeners: when an Apply that removes a listener
// returns, its port refuses new connections (the listening socket is
// closed then, not by the drain that goes on in the background), so that
// an API delete answered is a port closed.
func TestApplyClosesRemovedListeners(t *testing.T) {
	rt, both, data := startTwoLBs(t)
	ctx := context.Background()
	onlyA := &octavia.Config{LoadBalancers: both.LoadBalancers[:1]}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(data.B))
	for round := range 20 {
		if err := rt.Apply(ctx, onlyA); err != nil {
			t.Fatal(err)
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Fatalf("round %d: the removed listener's port %s still accepts a connection after Apply returned", round, addr)
		}
		if err := rt.Apply(ctx, both); err != nil {
			t.Fatal(err)
		}
	}
}
