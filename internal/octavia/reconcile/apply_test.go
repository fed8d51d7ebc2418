package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"lbd/internal/controlplane"
	"lbd/internal/lbdtest"
	"lbd/internal/octavia"
	"lbd/internal/octavia/reconcile"
)

// webConfig is a load balancer with two listeners sharing one pool.
func webConfig(t *testing.T, vip, algorithm string, connLimit int) *octavia.Config {
	t.Helper()
	cfg, err := octavia.Parse("web.yaml", []byte(fmt.Sprintf(`
loadbalancers:
  - name: web
    vip_address: %s
    pools:
      - name: webpool
        protocol: HTTP
        lb_algorithm: %s
        healthmonitor: {type: HTTP, delay: 5, timeout: 3, max_retries: 2, url_path: /health}
        members:
          - {name: a, address: 127.0.0.62, protocol_port: 8081}
          - {name: b, address: 127.0.0.63, protocol_port: 8081, weight: 3}
    listeners:
      - {name: http, protocol: HTTP, protocol_port: 18080, connection_limit: %d, default_pool: {name: webpool}}
      - {name: tcp, protocol: TCP, protocol_port: 18443, default_pool: {name: webpool}}
`, vip, algorithm, connLimit)))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func changes(cs []reconcile.Change) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c.Op) + " " + c.Kind + " " + c.Name
	}
	return strings.Join(s, "; ")
}

func TestApplyConverges(t *testing.T) {
	ctx := context.Background()
	l := lbdtest.Start(t, controlplane.Options{})
	c := reconcile.NewDirect(l.URL, "")
	cfg := webConfig(t, "127.0.0.121", "ROUND_ROBIN", -1)

	cs, err := c.Apply(ctx, cfg, reconcile.Options{VIPSubnetID: "8ced0346-1b20-4993-b175-66a23fc579f3"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) == 0 || cs[0].Op != reconcile.OpCreate || cs[0].Kind != "load balancer" {
		t.Fatalf("first apply: %s", changes(cs))
	}
	lb, err := c.LoadBalancer(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := c.Listeners(ctx, lb.ID)
	ps, _ := c.Pools(ctx, lb.ID)
	if len(ls) != 2 || len(ps) != 1 || ls[0].DefaultPoolID != ps[0].ID || ls[1].DefaultPoolID != ps[0].ID {
		t.Fatalf("after apply: listeners %+v pools %+v; want two listeners on the one pool", ls, ps)
	}
	if ps[0].MonitorID == "" || len(ps[0].Members) != 2 {
		t.Errorf("pool = %+v, want 2 members and a monitor", ps[0])
	}
	served := l.RT.Config()
	if len(served.LoadBalancers) != 1 || len(served.LoadBalancers[0].Listeners) != 2 {
		t.Errorf("data plane serves %+v", served)
	}

	// Twice: nothing to do, and nothing written.
	writes := l.Writes.Load()
	cs, err = c.Apply(ctx, cfg, reconcile.Options{})
	if err != nil || len(cs) != 0 {
		t.Fatalf("second apply: %s, %v; want no changes", changes(cs), err)
	}
	if n := l.Writes.Load() - writes; n != 0 {
		t.Errorf("second apply sent %d changing requests", n)
	}

	// Drift made through the API is put back; extra members stay unless
	// pruned.
	pool := ps[0]
	members, _ := c.Members(ctx, pool.ID)
	w := 7
	if _, err := pools.UpdateMember(ctx, c.SC, pool.ID, members[0].ID, pools.UpdateMemberOpts{Weight: &w}).Extract(); err != nil {
		t.Fatal(err)
	}
	if err := monitors.Delete(ctx, c.SC, pool.MonitorID).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := pools.CreateMember(ctx, c.SC, pool.ID, pools.CreateMemberOpts{Address: "127.0.0.64", ProtocolPort: 8081}).Extract(); err != nil {
		t.Fatal(err)
	}
	cs, err = c.Apply(ctx, cfg, reconcile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(cs); !strings.Contains(got, "update member") || !strings.Contains(got, "create health monitor") || strings.Contains(got, "delete") {
		t.Errorf("apply after drift: %s; want the weight and the monitor put back, nothing deleted", got)
	}
	cs, err = c.Apply(ctx, cfg, reconcile.Options{Prune: true})
	if err != nil || changes(cs) != "delete member 127.0.0.64:8081" {
		t.Errorf("apply --prune: %s, %v; want the extra member deleted", changes(cs), err)
	}

	// A changed file: the listener and pool are updated in place.
	cs, err = c.Apply(ctx, webConfig(t, "127.0.0.121", "LEAST_CONNECTIONS", 100), reconcile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(cs); got != "update pool webpool; update listener http" {
		t.Errorf("apply of an edited file: %s", got)
	}
	httpID := ls[0].ID
	if ls[0].Name != "http" {
		httpID = ls[1].ID
	}
	l1, err := listeners.Get(ctx, c.SC, httpID).Extract()
	if err != nil || l1.Name != "http" || l1.ConnLimit != 100 {
		t.Errorf("listener after edit: %+v, %v", l1, err)
	}
	if cs, err := c.Apply(ctx, webConfig(t, "127.0.0.121", "LEAST_CONNECTIONS", 100), reconcile.Options{}); err != nil || len(cs) != 0 {
		t.Errorf("re-apply of the edited file: %s, %v", changes(cs), err)
	}
}

func TestApplyRefusesProtocolChange(t *testing.T) {
	ctx := context.Background()
	l := lbdtest.Start(t, controlplane.Options{})
	c := reconcile.NewDirect(l.URL, "")
	if _, err := c.Apply(ctx, webConfig(t, "127.0.0.122", "ROUND_ROBIN", -1), reconcile.Options{VIPSubnetID: "8ced0346-1b20-4993-b175-66a23fc579f3"}); err != nil {
		t.Fatal(err)
	}
	cfg := webConfig(t, "127.0.0.122", "ROUND_ROBIN", -1)
	cfg.LoadBalancers[0].Listeners[1].Protocol = octavia.ProtocolHTTPS
	_, err := c.Apply(ctx, cfg, reconcile.Options{})
	if err == nil || !strings.Contains(err.Error(), "is TCP here and HTTPS in the file") {
		t.Errorf("protocol change: %v", err)
	}
}

// TestApplyIdentities: a listener is its transport and port, so a renamed
// one is updated in place; a monitor of another type replaces the old one
// even without pruning; a VIP cannot move, and apply says so instead of
// reporting nothing to do.
func TestApplyIdentities(t *testing.T) {
	ctx := context.Background()
	l := lbdtest.Start(t, controlplane.Options{})
	c := reconcile.NewDirect(l.URL, "")
	cfg := webConfig(t, "127.0.0.123", "ROUND_ROBIN", -1)
	if _, err := c.Apply(ctx, cfg, reconcile.Options{VIPSubnetID: "8ced0346-1b20-4993-b175-66a23fc579f3"}); err != nil {
		t.Fatal(err)
	}
	lb, err := c.LoadBalancer(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	before, _ := c.Listeners(ctx, lb.ID)

	cfg = webConfig(t, "127.0.0.123", "ROUND_ROBIN", -1)
	cfg.LoadBalancers[0].Listeners[0].Name = "web"
	hm := cfg.LoadBalancers[0].Pools[0].HealthMonitor
	hm.Type, hm.HTTPMethod, hm.URLPath, hm.ExpectedCodes = octavia.MonitorTCP, "", "", ""
	cs, err := c.Apply(ctx, cfg, reconcile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Pools (with their monitors) come before listeners in a plan.
	want := `- delete health monitor "of pool webpool": replaced: type cannot change (HTTP → TCP)
+ create health monitor "of pool webpool": TCP delay 5 timeout 3 max_retries 2
~ update listener "web": name "http" → "web"`
	var got []string
	for _, ch := range cs {
		got = append(got, ch.String())
	}
	if g := strings.Join(got, "\n"); g != want {
		t.Errorf("changes:\n%s\nwant the monitor replaced and the listener renamed in place:\n%s", g, want)
	}
	after, _ := c.Listeners(ctx, lb.ID)
	ids := map[string]bool{}
	for _, l := range before {
		ids[l.ID] = true
	}
	for _, l := range after {
		if !ids[l.ID] {
			t.Errorf("listener %s (%s) is new: a rename must keep the listener", l.Name, l.ID)
		}
	}

	cfg = webConfig(t, "127.0.0.124", "ROUND_ROBIN", -1)
	cs, err = c.Apply(ctx, cfg, reconcile.Options{})
	if err == nil || !strings.Contains(err.Error(), `its VIP differs from the file: vip_address "127.0.0.123" → "127.0.0.124"`) || len(cs) != 0 {
		t.Errorf("moved VIP: %v, changes %v; want a refusal and no change", err, cs)
	}
}

// With Prune, a member the file does not list is deleted, unless Keep
// says it is someone else's (an autoscaling controller's, by its tag).
func TestPruneKeepsOthersMembers(t *testing.T) {
	ctx := context.Background()
	l := lbdtest.Start(t, controlplane.Options{})
	c := reconcile.NewDirect(l.URL, "")
	cfg := webConfig(t, "127.0.0.122", "ROUND_ROBIN", -1)
	opts := reconcile.Options{VIPSubnetID: "8ced0346-1b20-4993-b175-66a23fc579f3", Prune: true,
		Keep: func(m pools.Member) bool { return len(m.Tags) > 0 && m.Tags[0] == "lbctl-autoscale:web" }}
	if _, err := c.Apply(ctx, cfg, opts); err != nil {
		t.Fatal(err)
	}
	lb, err := c.LoadBalancer(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Pool(ctx, lb.ID, "webpool")
	if err != nil {
		t.Fatal(err)
	}
	ref := reconcile.Ref(lb)
	if _, err := c.AddMember(ctx, ref, p.ID, pools.CreateMemberOpts{Name: "scaled", Address: "127.0.0.64", ProtocolPort: 8081, Tags: []string{"lbctl-autoscale:web"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddMember(ctx, ref, p.ID, pools.CreateMemberOpts{Name: "stray", Address: "127.0.0.65", ProtocolPort: 8081}); err != nil {
		t.Fatal(err)
	}
	cs, err := c.Apply(ctx, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := changes(cs); got != "delete member stray" {
		t.Errorf("apply --prune: %q, want only the stray member deleted", got)
	}
	ms, _ := c.Members(ctx, p.ID)
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	if len(names) != 3 || !strings.Contains(strings.Join(names, ","), "scaled") {
		t.Errorf("members after: %v, want a, b and scaled", names)
	}
}
