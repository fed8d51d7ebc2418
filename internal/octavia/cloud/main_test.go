package cloud

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"lbd/internal/octavia"
	"lbd/internal/octavia/peertest"
	"lbd/internal/octavia/reconcile"
)

// The tests run against the real services of shared/peers, started once for
// the package (see peertest.Main); LBD_SKIP_OPENSTACK=1 skips them.
func TestMain(m *testing.M) { peertest.Main(m) }

const tutorialFile = "../../../configs/tutorial.yaml"

// connect logs in to the peer as admin; rec, when set, records every call.
func connect(t *testing.T, rec *peertest.Recorder) *Clients {
	t.Helper()
	peertest.Need(t)
	opts := AuthOptions{Cloud: peertest.Cloud}
	if rec != nil {
		opts.WrapTransport = rec.Wrap
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Connect(ctx, opts)
	if err != nil {
		t.Fatalf("connect to the peer: %v", err)
	}
	return c
}

// provisioner polls fast (the peer settles in about a second) and logs its
// progress to the test log.
func provisioner(t *testing.T, c *Clients) *Provisioner {
	return &Provisioner{Clients: c, Waiter: reconcile.Waiter{Out: &testWriter{t: t}, Timeout: 2 * time.Minute, Poll: 200 * time.Millisecond}}
}

type testWriter struct {
	t      *testing.T
	mu     sync.Mutex
	onLine func(string)
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(line)
		if w.onLine != nil {
			w.onLine(line)
		}
	}
	return len(p), nil
}

// loadSpec parses a config (the tutorial, possibly edited) and renames what
// the cloud knows by name with a suffix unique to this run, so that tests
// sharing the peer never meet each other's resources.
func loadSpec(t *testing.T, src, sfx string) *Spec {
	t.Helper()
	cfg, err := octavia.Parse("tutorial.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := NewSpec(cfg, tutorialFile)
	if err != nil {
		t.Fatal(err)
	}
	spec.LB.Name += sfx
	if spec.OS.SecurityGroup != "" {
		spec.OS.SecurityGroup += sfx
	}
	if spec.OS.Servers != nil {
		spec.OS.Servers.Name += sfx
	}
	return spec
}

func readTutorial(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(tutorialFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// resource is one entry of an inventory: what lbctl might create or delete.
type resource struct {
	Kind, ID, Name string
	Owner          string // ports: device_id; floating IPs: description
}

// inventory lists the project's servers, security groups and their rules,
// floating IPs, load balancers and ports.
func inventory(t *testing.T, c *Clients) map[string]resource {
	t.Helper()
	ctx := context.Background()
	out := map[string]resource{}
	add := func(r resource) { out[r.Kind+" "+r.ID] = r }
	sp, err := servers.List(c.Compute, servers.ListOpts{}).AllPages(ctx)
	must(t, err)
	ss, err := servers.ExtractServers(sp)
	must(t, err)
	for _, s := range ss {
		add(resource{"server", s.ID, s.Name, ""})
	}
	gp, err := groups.List(c.Network, groups.ListOpts{}).AllPages(ctx)
	must(t, err)
	gs, err := groups.ExtractGroups(gp)
	must(t, err)
	for _, g := range gs {
		add(resource{"security group", g.ID, g.Name, ""})
		for _, r := range g.Rules {
			add(resource{"security group rule", r.ID, g.Name, r.Description})
		}
	}
	fp, err := floatingips.List(c.Network, floatingips.ListOpts{}).AllPages(ctx)
	must(t, err)
	fs, err := floatingips.ExtractFloatingIPs(fp)
	must(t, err)
	for _, f := range fs {
		add(resource{"floating IP", f.ID, f.FloatingIP, f.Description})
	}
	lp, err := loadbalancers.List(c.LoadBalancer, loadbalancers.ListOpts{}).AllPages(ctx)
	must(t, err)
	ls, err := loadbalancers.ExtractLoadBalancers(lp)
	must(t, err)
	for _, l := range ls {
		add(resource{"load balancer", l.ID, l.Name, ""})
	}
	pp, err := ports.List(c.Network, ports.ListOpts{}).AllPages(ctx)
	must(t, err)
	ps, err := ports.ExtractPorts(pp)
	must(t, err)
	for _, p := range ps {
		add(resource{"port", p.ID, p.Name, p.DeviceID})
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
