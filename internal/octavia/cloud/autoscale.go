package cloud

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/ports"

	"lbd/internal/autoscale"
	"lbd/internal/octavia"
	"lbd/internal/octavia/reconcile"
)

// Autoscaling is the file's openstack.autoscaling, ready for the
// controller: its policy with the defaults filled, the pools every server
// joins and how new servers are named.
type Autoscaling struct {
	// Group names the group: the load balancer's name. Servers carry it
	// (GroupKey), members its tag (autoscale.Tag).
	Group       string
	Policy      autoscale.Policy
	Memberships []autoscale.Membership
	Pattern     string // openstack.servers.name
}

// GroupKey is the Nova metadata key naming a server's autoscaling group.
const GroupKey = "lbctl-autoscale"

func newAutoscaling(s *Spec) *Autoscaling {
	a, srv := s.OS.Autoscaling, s.OS.Servers
	if a == nil || srv == nil || len(srv.Members) == 0 {
		return nil
	}
	as := &Autoscaling{Group: s.LB.Name, Policy: autoscale.NewPolicy(a, srv.Members[0].Pool), Pattern: srv.Name}
	for _, m := range srv.Members {
		mb := autoscale.Membership{Pool: m.Pool, Port: m.ProtocolPort, Weight: 1, MonitorPort: m.MonitorPort, Warmup: warmup(s.LB, m.Pool)}
		if m.Weight != nil {
			mb.Weight = *m.Weight
		}
		if m.Backup != nil {
			mb.Backup = *m.Backup
		}
		as.Memberships = append(as.Memberships, mb)
	}
	return as
}

// warmup is how long a new member of the named pool waits, warming, for
// its first health check's verdict (autoscale.Membership.Warmup): 2×delay
// + timeout of the pool's monitor, 0 without an enabled one.
func warmup(lb *octavia.LoadBalancer, pool string) time.Duration {
	for _, p := range lb.Pools {
		if p.Name != pool || p.HealthMonitor == nil || !p.HealthMonitor.Enabled() {
			continue
		}
		h := p.HealthMonitor
		var delay, timeout int
		if h.Delay != nil {
			delay = *h.Delay
		}
		if h.Timeout != nil {
			timeout = *h.Timeout
		}
		return time.Duration(2*delay+timeout) * time.Second
	}
	return 0
}

// Group is the autoscaler's Provider on Nova: the servers it creates are
// the file's openstack.servers (image, flavor, key pair, network, security
// group, user data), with the metadata GroupKey naming the group and
// MetadataKey the load balancer, so that Servers finds them by listing and
// `lbctl down` removes them.
type Group struct {
	r         *run
	networkID string
	subnetID  string
	create    func(name string) servers.CreateOptsBuilder
}

var _ autoscale.Provider = (*Group)(nil)

// LBClient is the load-balancer client for spec, with lbctl's words in
// its errors.
func (p *Provisioner) LBClient(spec *Spec) *reconcile.Client { return p.lbClient(spec) }

// AutoscaleGroup resolves, once, what creating a server needs (network,
// subnet, image, flavor, key pair) and returns the group's Provider.
func (p *Provisioner) AutoscaleGroup(ctx context.Context, spec *Spec) (*Group, error) {
	if spec.Autoscaling == nil {
		return nil, fmt.Errorf("%s: no openstack.autoscaling section", spec.File)
	}
	if p.Clients.Compute == nil {
		return nil, fmt.Errorf("the cloud's catalog has no compute service (Nova), which openstack.servers needs")
	}
	r := p.newRun(spec, false)
	cfg := spec.OS.Servers
	net, err := r.network(ctx, cfg.Network, "openstack.servers.network")
	if err != nil {
		return nil, err
	}
	g := &Group{r: r, networkID: net.ID}
	if cfg.Subnet != "" {
		sub, err := r.subnet(ctx, cfg.Subnet, net.ID, "openstack.servers.subnet")
		if err != nil {
			return nil, err
		}
		g.subnetID = sub.ID
	}
	if g.create, err = r.serverCreateOpts(ctx, net.ID); err != nil {
		return nil, err
	}
	return g, nil
}

// Servers lists the group's servers with their fixed IPs (one listing of
// servers and one of the network's ports). A server Nova is deleting is
// DELETING.
func (g *Group) Servers(ctx context.Context) ([]autoscale.Server, error) {
	all, err := g.r.listServers(ctx)
	if err != nil {
		return nil, err
	}
	group := g.r.spec.Autoscaling.Group
	var mine []servers.Server
	for _, s := range all {
		if s.Metadata[GroupKey] == group {
			mine = append(mine, s)
		}
	}
	if len(mine) == 0 {
		return nil, nil
	}
	pages, err := ports.List(g.r.c.Network, ports.ListOpts{NetworkID: g.networkID}).AllPages(ctx)
	if err != nil {
		return nil, describe("list the servers' ports", err)
	}
	ps, err := ports.ExtractPorts(pages)
	if err != nil {
		return nil, describe("list the servers' ports", err)
	}
	addr := map[string]string{}
	for _, p := range ps {
		for _, ip := range p.FixedIPs {
			if _, done := addr[p.DeviceID]; !done && (g.subnetID == "" || ip.SubnetID == g.subnetID) {
				addr[p.DeviceID] = ip.IPAddress
			}
		}
	}
	out := make([]autoscale.Server, 0, len(mine))
	for _, s := range mine {
		as := autoscale.Server{ID: s.ID, Name: s.Name, Status: s.Status, Created: s.Created, Fault: s.Fault.Message}
		switch {
		case s.TaskState == "deleting" || s.Status == "DELETED" || s.Status == "SOFT_DELETED":
			as.Status = autoscale.StatusDeleting
		case s.Status == "ACTIVE":
			as.Address = addr[s.ID]
			if as.Address == "" {
				as.Status = autoscale.StatusBuild // no fixed IP yet
			}
		case s.Status == "ERROR":
		default:
			as.Status = autoscale.StatusBuild
		}
		out = append(out, as)
	}
	return out, nil
}

// Create asks Nova for a server and returns at once (BUILD).
func (g *Group) Create(ctx context.Context, name string) (autoscale.Server, error) {
	got, err := servers.Create(ctx, g.r.c.Compute, g.create(name), nil).Extract()
	if err != nil {
		return autoscale.Server{}, describe(fmt.Sprintf("create server %q", name), err)
	}
	return autoscale.Server{ID: got.ID, Name: name, Status: autoscale.StatusBuild, Created: time.Now()}, nil
}

// Delete asks Nova to delete a server; already gone is fine.
func (g *Group) Delete(ctx context.Context, s autoscale.Server) error {
	err := servers.Delete(ctx, g.r.c.Compute, s.ID).ExtractErr()
	if isCode(err, http.StatusNotFound) {
		return nil
	}
	return describe(fmt.Sprintf("delete server %q (%s)", s.Name, s.ID), err)
}
