package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"lbd/internal/octavia"
)

// Change is one thing Apply did.
type Change struct {
	Action string // create, update, delete
	Kind   string // load balancer, listener, pool, member, health monitor
	Name   string // how a person names it: lb1, HTTP:80, pool1, 127.0.0.1:8081
	Detail string // for updates: the attributes that differed
}

func (c Change) String() string {
	s := c.Action + " " + c.Kind + " " + c.Name
	if c.Detail != "" {
		s += " (" + c.Detail + ")"
	}
	return s
}

// ApplyOptions tune Apply.
type ApplyOptions struct {
	// VIPSubnetID is sent when creating a load balancer whose entry names
	// no vip_subnet_id, vip_network_id or vip_port_id: Octavia's API needs
	// one, lbd only records it.
	VIPSubnetID string
	// Prune deletes the listeners, pools, members and monitors of the
	// file's load balancers that the file does not have. Load balancers
	// the file does not name are never touched.
	Prune bool
}

// Apply converges the endpoint to cfg's load balancers, matched by name:
// a missing load balancer is created in one call (fully populated), an
// existing one has what is missing created and what differs updated,
// object by object, waiting for ACTIVE after each change. Applying the
// same file twice changes nothing the second time. It returns what it
// changed, also when it fails part way.
func (c *Client) Apply(ctx context.Context, cfg *octavia.Config, o ApplyOptions) ([]Change, error) {
	a := &applier{c: c, o: o}
	for i, lb := range cfg.LoadBalancers {
		if lb.Name == "" {
			return a.changes, fmt.Errorf("loadbalancers[%d]: apply matches load balancers by name; give it one", i)
		}
		if err := a.loadBalancer(ctx, lb); err != nil {
			return a.changes, fmt.Errorf("load balancer %s: %w", lb.Name, err)
		}
	}
	return a.changes, nil
}

type applier struct {
	c       *Client
	o       ApplyOptions
	lbID    string
	changes []Change
}

func (a *applier) note(action, kind, name, detail string) {
	a.changes = append(a.changes, Change{Action: action, Kind: kind, Name: name, Detail: detail})
}

// done waits for the load balancer after a change.
func (a *applier) done(ctx context.Context, err error, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %s", what, FaultMessage(err))
	}
	return a.c.WaitActive(ctx, a.lbID)
}

func (a *applier) loadBalancer(ctx context.Context, want *octavia.LoadBalancer) error {
	cur, err := a.c.LoadBalancer(ctx, want.Name)
	if errors.Is(err, ErrNotFound) {
		lb, err := loadbalancers.Create(ctx, a.c.SC, createOpts(want, a.o.VIPSubnetID)).Extract()
		if err != nil {
			return fmt.Errorf("create: %s", FaultMessage(err))
		}
		a.lbID = lb.ID
		if err := a.c.WaitActive(ctx, lb.ID); err != nil {
			return err
		}
		a.note("create", "load balancer", want.Name, "")
		// A second listener sharing a pool is attached by the pass below;
		// normally it finds nothing to do.
		cur, err = loadbalancers.Get(ctx, a.c.SC, lb.ID).Extract()
		if err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	a.lbID = cur.ID
	if err := a.c.WaitActive(ctx, cur.ID); err != nil {
		return err
	}
	var d diff
	d.str("description", want.Description, cur.Description)
	d.flag("admin_state_up", want.Enabled(), cur.AdminStateUp)
	d.set("tags", want.Tags, cur.Tags)
	if len(d) > 0 {
		_, err := loadbalancers.Update(ctx, a.c.SC, cur.ID, loadbalancers.UpdateOpts{
			Description: &want.Description, AdminStateUp: want.AdminStateUp, Tags: &want.Tags}).Extract()
		if err := a.done(ctx, err, "update"); err != nil {
			return err
		}
		a.note("update", "load balancer", want.Name, d.String())
	}
	poolIDs, err := a.pools(ctx, want)
	if err != nil {
		return err
	}
	return a.listeners(ctx, want, poolIDs)
}

// pools reconciles the pools (by name) and returns lbd's pool ID for each
// of the file's.
func (a *applier) pools(ctx context.Context, want *octavia.LoadBalancer) (map[string]string, error) {
	have, err := a.c.Pools(ctx, a.lbID)
	if err != nil {
		return nil, err
	}
	byName := map[string]*pools.Pool{}
	for i := range have {
		byName[have[i].Name] = &have[i]
	}
	ids := map[string]string{}
	for _, wp := range want.Pools {
		hp := byName[wp.Name]
		delete(byName, wp.Name)
		if hp == nil {
			o := poolOpts(wp)
			o.LoadbalancerID = a.lbID
			p, err := pools.Create(ctx, a.c.SC, o).Extract()
			if err := a.done(ctx, err, "create pool "+wp.Name); err != nil {
				return nil, err
			}
			a.note("create", "pool", wp.Name, "")
			ids[wp.ID] = p.ID
			continue
		}
		ids[wp.ID] = hp.ID
		if hp.Protocol != string(wp.Protocol) {
			return nil, fmt.Errorf("pool %s is %s here and %s in the file; a pool's protocol cannot change: delete the pool first", wp.Name, hp.Protocol, wp.Protocol)
		}
		var d diff
		d.str("lb_algorithm", string(wp.LBAlgorithm), hp.LBMethod)
		d.str("description", wp.Description, hp.Description)
		d.flag("admin_state_up", wp.Enabled(), hp.AdminStateUp)
		d.set("tags", wp.Tags, hp.Tags)
		if len(d) > 0 {
			_, err := pools.Update(ctx, a.c.SC, hp.ID, pools.UpdateOpts{LBMethod: pools.LBMethod(wp.LBAlgorithm),
				Description: &wp.Description, AdminStateUp: wp.AdminStateUp, Tags: &wp.Tags}).Extract()
			if err := a.done(ctx, err, "update pool "+wp.Name); err != nil {
				return nil, err
			}
			a.note("update", "pool", wp.Name, d.String())
		}
		if err := a.members(ctx, hp.ID, wp); err != nil {
			return nil, err
		}
		if err := a.monitor(ctx, hp, wp); err != nil {
			return nil, err
		}
	}
	// With Prune, pools left over are deleted by listeners, once no
	// listener uses them any more.
	return ids, nil
}

func (a *applier) members(ctx context.Context, poolID string, wp *octavia.Pool) error {
	have, err := a.c.Members(ctx, poolID)
	if err != nil {
		return err
	}
	byKey := map[string]*pools.Member{}
	for i := range have {
		byKey[memberKey(have[i].Address, have[i].ProtocolPort)] = &have[i]
	}
	for _, wm := range wp.Members {
		k := memberKey(wm.Address, wm.ProtocolPort)
		hm := byKey[k]
		delete(byKey, k)
		if hm == nil {
			_, err := pools.CreateMember(ctx, a.c.SC, poolID, memberOpts(wm)).Extract()
			if err := a.done(ctx, err, "create member "+k); err != nil {
				return err
			}
			a.note("create", "member", k, "pool "+wp.Name)
			continue
		}
		var d diff
		d.str("name", wm.Name, hm.Name)
		d.num("weight", octavia.IntOr(wm.Weight, octavia.DefaultWeight), hm.Weight)
		d.flag("backup", wm.Backup != nil && *wm.Backup, hm.Backup)
		d.flag("admin_state_up", wm.Enabled(), hm.AdminStateUp)
		d.str("monitor_address", wm.MonitorAddress, hm.MonitorAddress)
		d.num("monitor_port", octavia.IntOr(wm.MonitorPort, 0), hm.MonitorPort)
		d.set("tags", wm.Tags, hm.Tags)
		if len(d) == 0 {
			continue
		}
		uo := pools.UpdateMemberOpts{Name: &wm.Name, Weight: wm.Weight, Backup: wm.Backup, AdminStateUp: wm.AdminStateUp,
			MonitorAddress: &wm.MonitorAddress, MonitorPort: wm.MonitorPort, Tags: wm.Tags}
		if wm.MonitorAddress == "" {
			uo.MonitorAddress = nil
		}
		_, err := pools.UpdateMember(ctx, a.c.SC, poolID, hm.ID, uo).Extract()
		if err := a.done(ctx, err, "update member "+k); err != nil {
			return err
		}
		a.note("update", "member", k, d.String())
	}
	if a.o.Prune {
		for k, hm := range byKey {
			err := pools.DeleteMember(ctx, a.c.SC, poolID, hm.ID).ExtractErr()
			if err := a.done(ctx, err, "delete member "+k); err != nil {
				return err
			}
			a.note("delete", "member", k, "pool "+wp.Name)
		}
	}
	return nil
}

func (a *applier) monitor(ctx context.Context, hp *pools.Pool, wp *octavia.Pool) error {
	want := wp.HealthMonitor
	if hp.MonitorID == "" {
		if want == nil {
			return nil
		}
		o := monitorOpts(want)
		o.PoolID = hp.ID
		_, err := monitors.Create(ctx, a.c.SC, o).Extract()
		if err := a.done(ctx, err, "create health monitor of pool "+wp.Name); err != nil {
			return err
		}
		a.note("create", "health monitor", string(want.Type), "pool "+wp.Name)
		return nil
	}
	have, err := monitors.Get(ctx, a.c.SC, hp.MonitorID).Extract()
	if err != nil {
		return fmt.Errorf("get health monitor %s: %w", hp.MonitorID, err)
	}
	if want == nil || have.Type != string(want.Type) {
		if want != nil || a.o.Prune {
			err := monitors.Delete(ctx, a.c.SC, have.ID).ExtractErr()
			if err := a.done(ctx, err, "delete health monitor of pool "+wp.Name); err != nil {
				return err
			}
			a.note("delete", "health monitor", have.Type, "pool "+wp.Name)
		}
		if want != nil {
			hp.MonitorID = ""
			return a.monitor(ctx, hp, wp)
		}
		return nil
	}
	var d diff
	d.num("delay", octavia.IntOr(want.Delay, 0), have.Delay)
	d.num("timeout", octavia.IntOr(want.Timeout, 0), have.Timeout)
	d.num("max_retries", want.MaxRetries, have.MaxRetries)
	d.num("max_retries_down", octavia.IntOr(want.MaxRetriesDown, octavia.DefaultMaxRetriesDown), have.MaxRetriesDown)
	d.str("http_method", want.HTTPMethod, have.HTTPMethod)
	d.str("url_path", want.URLPath, have.URLPath)
	d.str("expected_codes", want.ExpectedCodes, have.ExpectedCodes)
	d.str("domain_name", want.DomainName, have.DomainName)
	d.str("name", want.Name, have.Name)
	d.flag("admin_state_up", want.Enabled(), have.AdminStateUp)
	if len(d) == 0 {
		return nil
	}
	uo := monitors.UpdateOpts{Delay: octavia.IntOr(want.Delay, 0), Timeout: octavia.IntOr(want.Timeout, 0),
		MaxRetries: want.MaxRetries, MaxRetriesDown: octavia.IntOr(want.MaxRetriesDown, octavia.DefaultMaxRetriesDown),
		URLPath: want.URLPath, HTTPMethod: want.HTTPMethod, ExpectedCodes: want.ExpectedCodes,
		Name: &want.Name, AdminStateUp: want.AdminStateUp}
	if want.DomainName != "" {
		uo.DomainName = &want.DomainName
	}
	if v := httpVersion(want.HTTPVersion); v != "" {
		uo.HTTPVersion = &v
	}
	_, err = monitors.Update(ctx, a.c.SC, have.ID, uo).Extract()
	if err := a.done(ctx, err, "update health monitor of pool "+wp.Name); err != nil {
		return err
	}
	a.note("update", "health monitor", have.Type, "pool "+wp.Name+": "+d.String())
	return nil
}

func (a *applier) listeners(ctx context.Context, want *octavia.LoadBalancer, poolIDs map[string]string) error {
	have, err := a.c.Listeners(ctx, a.lbID)
	if err != nil {
		return err
	}
	byPort := map[string]*listeners.Listener{}
	for i := range have {
		byPort[portKey(octavia.Protocol(have[i].Protocol), have[i].ProtocolPort)] = &have[i]
	}
	for _, wl := range want.Listeners {
		k := portKey(wl.Protocol, wl.ProtocolPort)
		name := listenerName(wl.Name, string(wl.Protocol), wl.ProtocolPort)
		hl := byPort[k]
		delete(byPort, k)
		poolID := poolIDs[wl.DefaultPoolID]
		if hl == nil {
			o := listenerOpts(wl)
			o.LoadbalancerID, o.DefaultPoolID = a.lbID, poolID
			_, err := listeners.Create(ctx, a.c.SC, o).Extract()
			if err := a.done(ctx, err, "create listener "+name); err != nil {
				return err
			}
			a.note("create", "listener", name, "")
			continue
		}
		if hl.Protocol != string(wl.Protocol) {
			return fmt.Errorf("listener on port %d is %s here and %s in the file; a listener's protocol cannot change: delete the listener first", wl.ProtocolPort, hl.Protocol, wl.Protocol)
		}
		var d diff
		d.str("name", wl.Name, hl.Name)
		d.str("description", wl.Description, hl.Description)
		d.flag("admin_state_up", wl.Enabled(), hl.AdminStateUp)
		d.num("connection_limit", octavia.IntOr(wl.ConnectionLimit, octavia.DefaultConnectionLimit), hl.ConnLimit)
		d.num("timeout_client_data", octavia.IntOr(wl.TimeoutClientData, octavia.DefaultTimeoutClientData), hl.TimeoutClientData)
		d.num("timeout_member_connect", octavia.IntOr(wl.TimeoutMemberConnect, octavia.DefaultTimeoutMemberConnect), hl.TimeoutMemberConnect)
		d.num("timeout_member_data", octavia.IntOr(wl.TimeoutMemberData, octavia.DefaultTimeoutMemberData), hl.TimeoutMemberData)
		d.num("timeout_tcp_inspect", octavia.IntOr(wl.TimeoutTCPInspect, octavia.DefaultTimeoutTCPInspect), hl.TimeoutTCPInspect)
		d.headers("insert_headers", wl.InsertHeaders, hl.InsertHeaders)
		d.set("allowed_cidrs", wl.AllowedCIDRs, hl.AllowedCIDRs)
		d.set("tags", wl.Tags, hl.Tags)
		d.str("default_pool_id", poolID, hl.DefaultPoolID)
		if len(d) == 0 {
			continue
		}
		headers, cidrs, tags := wl.InsertHeaders, wl.AllowedCIDRs, wl.Tags
		if headers == nil {
			headers = map[string]string{}
		}
		uo := listeners.UpdateOpts{Name: &wl.Name, Description: &wl.Description, AdminStateUp: wl.AdminStateUp,
			ConnLimit: wl.ConnectionLimit, TimeoutClientData: wl.TimeoutClientData, TimeoutMemberConnect: wl.TimeoutMemberConnect,
			TimeoutMemberData: wl.TimeoutMemberData, TimeoutTCPInspect: wl.TimeoutTCPInspect,
			InsertHeaders: &headers, AllowedCIDRs: &cidrs, Tags: &tags, DefaultPoolID: &poolID}
		_, err := listeners.Update(ctx, a.c.SC, hl.ID, uo).Extract()
		if err := a.done(ctx, err, "update listener "+name); err != nil {
			return err
		}
		a.note("update", "listener", name, d.String())
	}
	if !a.o.Prune {
		return nil
	}
	for _, hl := range byPort {
		err := listeners.Delete(ctx, a.c.SC, hl.ID).ExtractErr()
		name := listenerName(hl.Name, hl.Protocol, hl.ProtocolPort)
		if err := a.done(ctx, err, "delete listener "+name); err != nil {
			return err
		}
		a.note("delete", "listener", name, "")
	}
	keep := map[string]bool{}
	for _, id := range poolIDs {
		keep[id] = true
	}
	have2, err := a.c.Pools(ctx, a.lbID)
	if err != nil {
		return err
	}
	for _, hp := range have2 {
		if keep[hp.ID] {
			continue
		}
		err := pools.Delete(ctx, a.c.SC, hp.ID).ExtractErr()
		if err := a.done(ctx, err, "delete pool "+hp.Name); err != nil {
			return err
		}
		a.note("delete", "pool", hp.Name, "")
	}
	return nil
}

func portKey(p octavia.Protocol, port int) string { return p.Transport() + "/" + strconv.Itoa(port) }

func listenerName(name, protocol string, port int) string {
	if name != "" {
		return name
	}
	return protocol + ":" + strconv.Itoa(port)
}
