package cloud

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/layer3/floatingips"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/extensions/security/rules"

	"lbd/internal/octavia/peertest"
)

// TestTutorial runs configs/tutorial.yaml through its whole life on the real
// peer: up, up again (nothing changes), an edited file (a server and member
// added, weights and the monitor changed), a plan of it, down, down again.
func TestTutorial(t *testing.T) {
	rec := &peertest.Recorder{}
	c := connect(t, rec)
	p := provisioner(t, c)
	ctx := context.Background()
	sfx := peertest.Suffix()
	src := readTutorial(t)
	spec := loadSpec(t, src, sfx)
	decoys := plantDecoys(t, c, spec)
	before := inventory(t, c)

	res, err := p.Up(ctx, spec, false)
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	var out strings.Builder
	res.Print(&out)
	t.Logf("up:\n%s", out.String())
	net, err := p.newRun(spec, true).network(ctx, "Internal2", "")
	must(t, err)
	sub, err := p.newRun(spec, true).subnet(ctx, "Internal2-subnet", net.ID, "")
	must(t, err)
	checkTutorial(t, c, spec, res, sub.ID, 2, 1, 4)

	t.Run("second up changes nothing", func(t *testing.T) {
		rec.Reset()
		res, err := p.Up(ctx, spec, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Changes) != 0 || len(rec.Mutations()) != 0 {
			t.Errorf("changes %v, mutating calls %v; want none", res.Changes, rec.Mutations())
		}
	})

	edited := strings.NewReplacer("count: 2", "count: 3", "{pool: pool1, protocol_port: 80}", "{pool: pool1, protocol_port: 80, weight: 3}",
		"max_retries: 4", "max_retries: 5").Replace(src)
	spec2 := loadSpec(t, edited, sfx)
	t.Run("plan of the edited file", func(t *testing.T) {
		rec.Reset()
		res, err := p.Up(ctx, spec2, true)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ch := range res.Changes {
			got = append(got, ch.String())
		}
		s1, s2, s3 := "Server1"+sfx, "Server2"+sfx, "Server3"+sfx
		want := []string{
			fmt.Sprintf(`+ create server %q: image centos7, flavor m2.small, network Internal2`, s3),
			fmt.Sprintf(`~ update member %q: weight 1 → 3 in pool pool1`, s1),
			fmt.Sprintf(`~ update member %q: weight 1 → 3 in pool pool1`, s2),
			fmt.Sprintf(`+ create member %q: <address of %s>:80 weight 3 in pool pool1`, s3, s3),
			`~ update health monitor "of pool pool1": max_retries 4 → 5`,
		}
		if !slices.Equal(got, want) {
			t.Errorf("plan:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
		if m := rec.Mutations(); len(m) != 0 {
			t.Errorf("--plan made mutating calls: %v", m)
		}
	})

	t.Run("edited file converges", func(t *testing.T) {
		res, err := p.Up(ctx, spec2, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Changes) < 5 { // more when a pass was repeated (a child the peer's worker failed)
			t.Errorf("%d changes, want the 5 planned: %v", len(res.Changes), res.Changes)
		}
		checkTutorial(t, c, spec2, res, sub.ID, 3, 3, 5)
		rec.Reset()
		if res, err := p.Up(ctx, spec2, false); err != nil || len(res.Changes) != 0 || len(rec.Mutations()) != 0 {
			t.Errorf("up again: err %v, changes %v, mutating calls %v; want none", err, res.Changes, rec.Mutations())
		}
	})

	t.Run("busy load balancer is waited out", func(t *testing.T) {
		r := p.newRun(spec2, false)
		lb, err := r.lbc.FindLoadBalancer(ctx, spec2.LB.Name)
		must(t, err)
		cur, err := r.lbc.ReadTree(ctx, lb)
		must(t, err)
		pool := cur.Pools[0]
		m1, m2 := cur.Members[pool.ID][0], cur.Members[pool.ID][1]
		// The first update puts the load balancer in PENDING_UPDATE; the
		// second, sent at once, meets Octavia's 409 and must wait and retry.
		// The peer's worker is fast enough to win the race now and then, so
		// the pair is repeated until a 409 was met.
		conflicts := 0
		for attempt := 0; attempt < 8 && conflicts == 0; attempt++ {
			w := 7 + attempt%2 // differs each time: Octavia may skip an update that changes nothing
			rec.Reset()
			must(t, pools.UpdateMember(ctx, c.LoadBalancer, pool.ID, m1.ID, pools.UpdateMemberOpts{Weight: &w}).Err)
			err = r.lbc.Mutate(ctx, cur.Ref(), "update member", false, func(ctx context.Context) error {
				return pools.UpdateMember(ctx, c.LoadBalancer, pool.ID, m2.ID, pools.UpdateMemberOpts{Weight: &w}).Err
			})
			if err != nil {
				t.Fatalf("mutate: %v", err)
			}
			for _, call := range rec.Calls() {
				if call.Method == http.MethodPut && call.Status == http.StatusConflict {
					conflicts++
				}
			}
			got, err := pools.GetMember(ctx, c.LoadBalancer, pool.ID, m2.ID).Extract()
			must(t, err)
			if got.Weight != w {
				t.Fatalf("member weight %d after the retried update, want %d", got.Weight, w)
			}
		}
		if conflicts == 0 {
			t.Errorf("no 409 was met in 8 tries, so the retry was not exercised")
		}
	})

	t.Run("a smaller file removes the extra server after its member", func(t *testing.T) {
		res, err := p.Up(ctx, spec, false)
		if err != nil {
			t.Fatal(err)
		}
		s3 := "Server3" + sfx
		var kinds []string
		for _, ch := range res.Changes {
			if ch.Name == s3 {
				kinds = append(kinds, string(ch.Op)+" "+ch.Kind)
			}
		}
		if !slices.Equal(kinds, []string{"delete member", "delete server"}) {
			t.Errorf("changes of %s: %v; want its member deleted, then the server (all: %v)", s3, kinds, res.Changes)
		}
		checkTutorial(t, c, spec, res, sub.ID, 2, 1, 4)
	})

	t.Run("down removes what up created and nothing else", func(t *testing.T) {
		afterUp := inventory(t, c)
		res, err := p.Down(ctx, spec2, false, false)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, ch := range res.Changes {
			if len(kinds) == 0 || kinds[len(kinds)-1] != ch.Kind {
				kinds = append(kinds, ch.Kind)
			}
		}
		wantKinds := []string{"member", "health monitor", "pool", "listener", "load balancer", "floating IP", "server", "security group"}
		if !slices.Equal(kinds, wantKinds) {
			t.Errorf("down order %v, want the tutorial's %v", kinds, wantKinds)
		}
		after := inventory(t, c)
		for _, d := range decoys {
			if _, ok := after[d]; !ok {
				t.Errorf("down removed the decoy %s", d)
			}
		}
		checkFixtures(t, p.newRun(spec2, true))
		ours := map[string]bool{}
		for k, r := range afterUp {
			if _, old := before[k]; !old && (strings.Contains(r.Name, sfx) || r.Owner == spec2.marker()) {
				ours[r.ID] = true
			}
		}
		for k, r := range afterUp {
			if _, old := before[k]; !old && (ours[r.Owner] || (r.Kind == "port" && strings.HasPrefix(r.Name, "octavia-lb-") && ours[strings.TrimPrefix(r.Name, "octavia-lb-")])) {
				ours[r.ID] = true
			}
		}
		if len(ours) < 9 { // 3 servers and their ports, security group, load balancer and its VIP port, floating IP
			t.Errorf("only %d resources of this run found after up: %v", len(ours), ours)
		}
		for k, r := range after {
			if ours[r.ID] {
				t.Errorf("down left %s", k)
			}
		}
		rec.Reset()
		if res, err := p.Down(ctx, spec2, false, false); err != nil || len(res.Changes) != 0 || len(rec.Mutations()) != 0 {
			t.Errorf("down again: err %v, changes %v, mutating calls %v; want none", err, res.Changes, rec.Mutations())
		}
	})
}

// checkFixtures asserts that what the tutorial uses but does not own is
// still there: its networks, image, flavor, key pair, the default group.
func checkFixtures(t *testing.T, r *run) {
	t.Helper()
	ctx := context.Background()
	net, err := r.network(ctx, "Internal2", "")
	if err == nil {
		_, err = r.subnet(ctx, "Internal2-subnet", net.ID, "")
	}
	if err == nil {
		_, err = r.network(ctx, "External", "")
	}
	if err == nil {
		_, err = r.image(ctx, "centos7")
	}
	if err == nil {
		_, err = r.flavor(ctx, "m2.small")
	}
	if err == nil {
		err = r.checkKeyPair(ctx, "key2")
	}
	if err != nil {
		t.Errorf("a fixture the tutorial uses is gone: %v", err)
	}
	if sg, err := r.findSecurityGroup(ctx, "default"); sg == nil || err != nil {
		t.Errorf("security group default is gone: %v", err)
	}
}

// plantDecoys creates what down could mistake for its own, all without
// lbctl's marker: a server named by the file's pattern (beyond its count), a
// security group with a rule like lbctl's, a floating IP on the external
// network. Up and down must leave them. It returns their inventory keys.
func plantDecoys(t *testing.T, c *Clients, spec *Spec) []string {
	t.Helper()
	ctx := context.Background()
	r := &run{c: c, spec: spec}
	ext, err := r.network(ctx, "External", "")
	must(t, err)
	net, err := r.network(ctx, "Internal2", "")
	must(t, err)
	g, err := groups.Create(ctx, c.Network, groups.CreateOpts{Name: spec.OS.SecurityGroup + "-decoy"}).Extract()
	must(t, err)
	rule, err := rules.Create(ctx, c.Network, rules.CreateOpts{Direction: rules.DirIngress, EtherType: rules.EtherType4, SecGroupID: g.ID,
		Protocol: rules.ProtocolTCP, PortRangeMin: 80, PortRangeMax: 80, RemoteIPPrefix: "0.0.0.0/0"}).Extract()
	must(t, err)
	f, err := floatingips.Create(ctx, c.Network, floatingips.CreateOpts{FloatingNetworkID: ext.ID, Description: "decoy of " + spec.LB.Name}).Extract()
	must(t, err)
	create, err := r.serverCreateOpts(ctx, net.ID)
	must(t, err)
	opts := create(strings.Replace(spec.OS.Servers.Name, "%d", "9", 1)).(keypairs.CreateOptsExt)
	inner := opts.CreateOptsBuilder.(servers.CreateOpts)
	inner.Metadata, inner.SecurityGroups = nil, nil
	srv, err := servers.Create(ctx, c.Compute, inner, nil).Extract()
	must(t, err)
	t.Cleanup(func() {
		ctx := context.Background()
		servers.Delete(ctx, c.Compute, srv.ID)
		floatingips.Delete(ctx, c.Network, f.ID)
		groups.Delete(ctx, c.Network, g.ID)
	})
	return []string{"server " + srv.ID, "security group " + g.ID, "floating IP " + f.ID, "security group rule " + rule.ID}
}

// checkTutorial asserts what up built: the status tree, the objects' fields,
// the floating IP on the VIP port, the servers and their security group.
func checkTutorial(t *testing.T, c *Clients, spec *Spec, res *Result, subnetID string, nServers, weight, retries int) {
	t.Helper()
	ctx := context.Background()
	lb := res.LoadBalancer
	if lb == nil || lb.ProvisioningStatus != "ACTIVE" || lb.VipSubnetID != subnetID || lb.VipPortID == "" {
		t.Fatalf("load balancer %+v: want ACTIVE on subnet %s with a VIP port", lb, subnetID)
	}
	addrs := map[string]string{}
	if len(res.Servers) != nServers {
		t.Fatalf("%d servers, want %d", len(res.Servers), nServers)
	}
	userData, err := os.ReadFile("../../../configs/configure-httpd")
	must(t, err)
	nova := *c.Compute
	nova.Microversion = "2.3" // shows user_data to admins
	for i, s := range res.Servers {
		if want := fmt.Sprintf("Server%d%s", i+1, strings.TrimPrefix(spec.OS.Servers.Name, "Server%d")); s.Name != want || s.Status != "ACTIVE" || s.Address == "" || s.SubnetID != subnetID {
			t.Errorf("server %+v: want %s ACTIVE with an address on %s", s, want, subnetID)
		}
		addrs[s.Name] = s.Address
		got, err := servers.Get(ctx, &nova, s.ID).Extract()
		must(t, err)
		if got.KeyName != "key2" || got.Metadata[MetadataKey] != spec.LB.Name || len(got.SecurityGroups) != 1 || got.SecurityGroups[0]["name"] != spec.OS.SecurityGroup {
			t.Errorf("server %s: key %q, metadata %v, security groups %v", s.Name, got.KeyName, got.Metadata, got.SecurityGroups)
		}
		if got.Userdata == nil {
			t.Errorf("server %s has no user data", s.Name)
		} else if ud, _ := base64.StdEncoding.DecodeString(*got.Userdata); string(ud) != string(userData) {
			t.Errorf("server %s user data differs from configs/configure-httpd", s.Name)
		}
	}
	tree := res.Status.LoadBalancer
	if tree.Name != spec.LB.Name || tree.ProvisioningStatus != "ACTIVE" || len(tree.Listeners) != 1 {
		t.Fatalf("status tree %+v", tree)
	}
	l := tree.Listeners[0]
	if l.Name != "listener1" || l.ProvisioningStatus != "ACTIVE" || len(l.Pools) != 1 {
		t.Fatalf("listener status %+v", l)
	}
	pool := l.Pools[0]
	if hm := pool.Monitor(); pool.Name != "pool1" || pool.ProvisioningStatus != "ACTIVE" || hm == nil || hm.Type != "PING" || hm.ProvisioningStatus != "ACTIVE" {
		t.Fatalf("pool status %+v, monitor %+v", pool, hm)
	}
	if len(pool.Members) != nServers {
		t.Fatalf("%d members in the status tree, want %d", len(pool.Members), nServers)
	}
	for _, m := range pool.Members {
		if addrs[m.Name] != m.Address || m.ProtocolPort != 80 || m.ProvisioningStatus != "ACTIVE" {
			t.Errorf("member %+v: want the address of server %s (%s):80, ACTIVE", m, m.Name, addrs[m.Name])
		}
	}
	gotL, err := listeners.Get(ctx, c.LoadBalancer, l.ID).Extract()
	must(t, err)
	gotP, err := pools.Get(ctx, c.LoadBalancer, pool.ID).Extract()
	must(t, err)
	gotM, err := monitors.Get(ctx, c.LoadBalancer, pool.Monitor().ID).Extract()
	must(t, err)
	if gotL.Protocol != "HTTP" || gotL.ProtocolPort != 80 || gotP.LBMethod != "ROUND_ROBIN" || gotP.Protocol != "HTTP" ||
		gotM.Delay != 5 || gotM.Timeout != 10 || gotM.MaxRetries != retries {
		t.Errorf("listener %s:%d, pool %s %s, monitor delay %d timeout %d max_retries %d (want %d)",
			gotL.Protocol, gotL.ProtocolPort, gotP.Protocol, gotP.LBMethod, gotM.Delay, gotM.Timeout, gotM.MaxRetries, retries)
	}
	for _, m := range gotP.Members {
		full, err := pools.GetMember(ctx, c.LoadBalancer, pool.ID, m.ID).Extract()
		must(t, err)
		if full.Weight != weight || full.SubnetID != subnetID {
			t.Errorf("member %s: weight %d subnet %s, want %d %s", full.Name, full.Weight, full.SubnetID, weight, subnetID)
		}
	}
	fp, err := floatingips.List(c.Network, floatingips.ListOpts{PortID: lb.VipPortID}).AllPages(ctx)
	must(t, err)
	fips, err := floatingips.ExtractFloatingIPs(fp)
	must(t, err)
	ext, err := (&run{c: c}).network(ctx, "External", "")
	must(t, err)
	if len(fips) != 1 || fips[0].FloatingNetworkID != ext.ID || res.FloatingIP == nil || res.FloatingIP.ID != fips[0].ID {
		t.Errorf("floating IPs on the VIP port %s: %+v (result %+v); want one on External", lb.VipPortID, fips, res.FloatingIP)
	}
	sg, err := (&run{c: c, spec: spec}).findSecurityGroup(ctx, spec.OS.SecurityGroup)
	must(t, err)
	if sg == nil || sg.Description != spec.marker() {
		t.Fatalf("security group %q: %+v", spec.OS.SecurityGroup, sg)
	}
	for _, w := range []ruleSpec{{"tcp", 80}, {"icmp", 0}} {
		if !slices.ContainsFunc(sg.Rules, w.matches) {
			t.Errorf("security group lacks %s: %+v", w, sg.Rules)
		}
	}
}
