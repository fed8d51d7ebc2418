package reconcile

import (
	"context"
	"fmt"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"lbd/internal/octavia"
)

// Options say how far Converge may go.
type Options struct {
	// Prune deletes the listeners, pools, members and health monitors of
	// the load balancer that the file does not have.
	Prune bool
	// Replace deletes and creates again a listener or pool whose protocol
	// changed, and any object in ERROR; without it a changed protocol is
	// an error and objects in ERROR are left as they are. A health monitor
	// whose type changed is always replaced: that interrupts no traffic.
	Replace bool
	// VIPSubnetID is sent as vip_subnet_id when creating a load balancer
	// whose file names none, and VIPSubnetName is how the file named it
	// (for the plan; default the ID).
	VIPSubnetID, VIPSubnetName string
}

// Converge makes the load balancer named want.Name match want (normalized,
// defaults filled): when there is none it is created with one
// fully-populated call; then every difference between the file and the
// cloud is one change, made in an order in which each is valid, each
// followed by a wait for ACTIVE. Children a change left in ERROR get
// another pass (up to three). With run.Plan nothing changes. It returns the
// load balancer as last read (nil when only planned to be created).
func (c *Client) Converge(ctx context.Context, run *Run, want *octavia.LoadBalancer, o Options) (*loadbalancers.LoadBalancer, error) {
	w := &walker{c: c, run: run, poolIDs: map[string]string{}, again: c.Advice.again(), replace: o.Replace}
	lb, err := c.FindLoadBalancer(ctx, want.Name)
	if err != nil {
		return nil, err
	}
	if lb == nil {
		create := w.createLB(want, o, &lb)
		if err := run.Apply(ctx, []Change{create}); err != nil || run.Plan {
			return lb, err
		}
	}
	ref := Ref(lb)
	switch {
	case lb.ProvisioningStatus == "ERROR":
		return lb, &Error{Op: ref.String(), Message: "is in ERROR: Octavia will not change it",
			Hint: fmt.Sprintf("`%s` removes it (a load balancer in ERROR can be deleted), then `%s` creates it again", c.Advice.remove(), c.Advice.again())}
	case strings.HasPrefix(lb.ProvisioningStatus, "PENDING_") && run.Plan:
		c.Printf("  (%s is %s: the plan may change once it settles)", ref, lb.ProvisioningStatus)
	case strings.HasPrefix(lb.ProvisioningStatus, "PENDING_"):
		if err := c.WaitActive(ctx, ref); err != nil {
			return lb, err
		}
	}
	if err := c.checkVIP(want, o, lb); err != nil {
		return lb, err
	}
	for pass := 1; ; pass++ {
		cur, err := c.ReadTree(ctx, lb)
		if err != nil {
			return lb, err
		}
		changes, err := w.treeChanges(want, cur, o)
		if err == nil {
			err = run.Apply(ctx, changes)
		}
		if err == nil {
			break
		}
		if !w.retryPass(err, pass) {
			return lb, err
		}
	}
	if run.Plan {
		return lb, nil
	}
	// Read it again: callers want its state after the changes.
	got, err := loadbalancers.Get(ctx, c.SC, lb.ID).Extract()
	if err != nil {
		return lb, c.describe("read "+ref.String(), err)
	}
	return got, nil
}

// checkVIP refuses a file whose VIP differs from the existing load
// balancer's: Octavia cannot move a VIP.
func (c *Client) checkVIP(want *octavia.LoadBalancer, o Options, lb *loadbalancers.LoadBalancer) error {
	var d diff
	if s := firstOf(want.VIPSubnetID, o.VIPSubnetID); s != "" {
		d.str("vip_subnet_id", s, lb.VipSubnetID)
	}
	if want.VIPNetworkID != "" {
		d.str("vip_network_id", want.VIPNetworkID, lb.VipNetworkID)
	}
	if want.VIPPortID != "" {
		d.str("vip_port_id", want.VIPPortID, lb.VipPortID)
	}
	if want.VIPAddress != "" {
		d.str("vip_address", want.VIPAddress, lb.VipAddress)
	}
	if len(d) == 0 {
		return nil
	}
	return &Error{Op: fmt.Sprintf("load balancer %q (%s)", lb.Name, lb.ID), Message: "its VIP differs from the file: " + d.String(),
		Hint: fmt.Sprintf("a VIP cannot be moved: put the old value back, or `%s` then `%s` to recreate it (with a new VIP address)", c.Advice.remove(), c.Advice.again())}
}

// createLB is the fully-populated create: the load balancer, its listeners
// with their default pools, members and monitors, in one call and one wait.
// It stores the load balancer, once read back, in *out.
func (w *walker) createLB(want *octavia.LoadBalancer, o Options, out **loadbalancers.LoadBalancer) Change {
	members, mons := 0, 0
	for _, p := range want.Pools {
		members += len(p.Members)
		if p.HealthMonitor != nil {
			mons++
		}
	}
	vip := firstOf(want.VIPSubnetID, o.VIPSubnetName, o.VIPSubnetID, want.VIPNetworkID, want.VIPPortID)
	detail := fmt.Sprintf("VIP on %s; %d listener(s), %d pool(s), %d member(s), %d health monitor(s) in one call",
		vip, len(want.Listeners), len(want.Pools), members, mons)
	return Change{Op: OpCreate, Kind: "load balancer", Name: want.Name, Detail: detail, Do: func(ctx context.Context) error {
		got, err := loadbalancers.Create(ctx, w.c.SC, lbCreateOpts(want, o.VIPSubnetID)).Extract()
		if err != nil {
			return w.c.describe(fmt.Sprintf("create load balancer %q", want.Name), err)
		}
		w.run.Created(got.ID)
		*out = got
		if err := w.c.WaitActive(ctx, Ref(got)); err != nil {
			return err
		}
		*out, err = loadbalancers.Get(ctx, w.c.SC, got.ID).Extract()
		return w.c.describe(fmt.Sprintf("read load balancer %q", want.Name), err)
	}}
}

// treeChanges compares the file's tree with the cloud's and returns the
// changes, ordered so that each is valid when it runs: listeners that go
// away first (a new listener may take their port), then pools with their
// members and monitors, then listeners (which name their default pool),
// then pools nobody wants. A difference that needs Replace without it is an
// error, before anything changes.
func (w *walker) treeChanges(want *octavia.LoadBalancer, cur *Tree, o Options) ([]Change, error) {
	lb := cur.Ref()
	var out []Change
	if uo, d := lbUpdate(want, cur.LB); len(d) > 0 {
		out = append(out, w.change(lb, OpUpdate, child{kind: "load balancer", name: lb.Name}, d.String(), func(ctx context.Context) (string, error) {
			return lb.ID, loadbalancers.Update(ctx, w.c.SC, lb.ID, uo).Err
		}))
	}

	// Listeners: matched by transport and port, the same protocol first.
	matched := map[string]*listeners.Listener{} // file listener ID → cloud listener
	used := map[string]bool{}
	for _, exact := range []bool{true, false} {
		for _, l := range want.Listeners {
			if matched[l.ID] != nil {
				continue
			}
			for i := range cur.Listeners {
				a := &cur.Listeners[i]
				if !used[a.ID] && ListenerKey(octavia.Protocol(a.Protocol), a.ProtocolPort) == ListenerKey(l.Protocol, l.ProtocolPort) && (!exact || a.Protocol == string(l.Protocol)) {
					matched[l.ID], used[a.ID] = a, true
					break
				}
			}
		}
	}
	if o.Prune {
		for _, a := range cur.Listeners {
			if !used[a.ID] {
				out = append(out, w.deleteListener(lb, a, "not in the file"))
			}
		}
	}
	for _, l := range want.Listeners {
		a := matched[l.ID]
		switch {
		case a == nil:
		case a.Protocol != string(l.Protocol) && !o.Replace:
			return nil, fmt.Errorf("listener on port %d is %s here and %s in the file; a listener's protocol cannot change: delete the listener first", l.ProtocolPort, a.Protocol, l.Protocol)
		case a.Protocol != string(l.Protocol):
			out = append(out, w.deleteListener(lb, *a, fmt.Sprintf("replaced: protocol cannot change (%s → %s)", a.Protocol, l.Protocol)))
			delete(matched, l.ID)
		case a.ProvisioningStatus == "ERROR" && o.Replace:
			out = append(out, w.deleteListener(lb, *a, "replaced: it is in ERROR"))
			delete(matched, l.ID)
		}
	}

	// Pools, with their members and monitors.
	have := map[string]*pools.Pool{}
	for i := range cur.Pools {
		have[cur.Pools[i].Name] = &cur.Pools[i]
		w.poolIDs[cur.Pools[i].Name] = cur.Pools[i].ID
	}
	fresh := map[string]bool{} // pools this plan creates: listeners must point at them
	wanted := map[string]bool{}
	for _, p := range want.Pools {
		wanted[p.Name] = true
		a := have[p.Name]
		switch {
		case a == nil:
		case a.Protocol != string(p.Protocol) && !o.Replace:
			return nil, fmt.Errorf("pool %s is %s here and %s in the file; a pool's protocol cannot change: delete the pool first", p.Name, a.Protocol, p.Protocol)
		case a.Protocol != string(p.Protocol):
			out = append(out, w.deletePool(lb, *a, fmt.Sprintf("replaced: protocol cannot change (%s → %s)", a.Protocol, p.Protocol)))
			a = nil
		case a.ProvisioningStatus == "ERROR" && o.Replace:
			out = append(out, w.deletePool(lb, *a, "replaced: it is in ERROR"))
			a = nil
		}
		if a == nil {
			fresh[p.Name] = true
			out = append(out, w.createPool(lb, p)...)
			continue
		}
		if uo, d := poolUpdate(p, a); len(d) > 0 {
			out = append(out, w.change(lb, OpUpdate, w.poolChild(p.Name), d.String(), func(ctx context.Context) (string, error) {
				return a.ID, pools.Update(ctx, w.c.SC, a.ID, uo).Err
			}))
		}
		out = append(out, w.memberChanges(lb, p, cur.Members[a.ID], o)...)
		out = append(out, w.monitorChanges(lb, p, cur.Monitors[a.ID], o)...)
	}

	// Listeners.
	for _, l := range want.Listeners {
		poolName := ""
		if p := want.ListenerPool(l); p != nil {
			poolName = p.Name
		}
		name := ListenerName(l.Name, string(l.Protocol), l.ProtocolPort)
		a := matched[l.ID]
		if a == nil {
			out = append(out, w.change(lb, OpCreate, w.listenerChild(name), fmt.Sprintf("%s:%d, default pool %q", l.Protocol, l.ProtocolPort, poolName), func(ctx context.Context) (string, error) {
				opts := listenerCreateOpts(l, lb.ID)
				opts.DefaultPoolID = w.poolIDs[poolName]
				got, err := listeners.Create(ctx, w.c.SC, opts).Extract()
				if err != nil {
					return "", err
				}
				w.run.Created(got.ID)
				return got.ID, nil
			}))
			continue
		}
		uo, d := listenerUpdate(l, a)
		if havePool := cur.poolName(a.DefaultPoolID); havePool != poolName || (poolName != "" && fresh[poolName]) {
			d = append(d, fmt.Sprintf("default pool %q → %q", havePool, poolName))
			uo.DefaultPoolID = new(string) // set when applied: a fresh pool has no ID yet
		}
		if len(d) == 0 {
			continue
		}
		out = append(out, w.change(lb, OpUpdate, w.listenerChild(name), d.String(), func(ctx context.Context) (string, error) {
			if uo.DefaultPoolID != nil {
				*uo.DefaultPoolID = w.poolIDs[poolName]
			}
			return a.ID, listeners.Update(ctx, w.c.SC, a.ID, uo).Err
		}))
	}

	if o.Prune {
		for _, a := range cur.Pools {
			if !wanted[a.Name] {
				out = append(out, w.deletePool(lb, a, "not in the file"))
			}
		}
	}
	return out, nil
}

// createPool creates a pool on an existing load balancer, then its members
// and monitor, one change each.
func (w *walker) createPool(lb LBRef, p *octavia.Pool) []Change {
	out := []Change{w.change(lb, OpCreate, w.poolChild(p.Name), fmt.Sprintf("%s %s", p.Protocol, p.LBAlgorithm), func(ctx context.Context) (string, error) {
		opts := poolCreateOpts(p, false)
		opts.LoadbalancerID = lb.ID
		got, err := pools.Create(ctx, w.c.SC, opts).Extract()
		if err != nil {
			return "", err
		}
		w.poolIDs[p.Name] = got.ID
		w.run.Created(got.ID)
		return got.ID, nil
	})}
	out = append(out, w.memberChanges(lb, p, nil, Options{})...)
	return append(out, w.monitorChanges(lb, p, nil, Options{})...)
}

func memberDetail(m *octavia.Member) string {
	s := fmt.Sprintf("%s:%d weight %d", m.Address, m.ProtocolPort, intOf(m.Weight))
	if m.Backup != nil && *m.Backup {
		s += " backup"
	}
	return s
}

// memberChanges converges a pool's members; address and port identify one.
func (w *walker) memberChanges(lb LBRef, p *octavia.Pool, have []pools.Member, o Options) []Change {
	var out []Change
	byKey := map[string]*pools.Member{}
	for i := range have {
		byKey[MemberKey(have[i].Address, have[i].ProtocolPort)] = &have[i]
	}
	wanted := map[string]bool{}
	for _, m := range p.Members {
		key := MemberKey(m.Address, m.ProtocolPort)
		wanted[key] = true
		a := byKey[key]
		name := memberName(m.Name, m.Address, m.ProtocolPort)
		if a != nil && a.ProvisioningStatus == "ERROR" && o.Replace {
			out = append(out, w.deleteMember(lb, p.Name, *a, "replaced: it is in ERROR"))
			a = nil
		}
		if a == nil {
			out = append(out, w.change(lb, OpCreate, w.memberChild(name, p.Name), memberDetail(m)+" in pool "+p.Name, func(ctx context.Context) (string, error) {
				got, err := pools.CreateMember(ctx, w.c.SC, w.poolIDs[p.Name], memberCreateOpts(m)).Extract()
				if err != nil {
					return "", err
				}
				w.run.Created(got.ID)
				return got.ID, nil
			}))
			continue
		}
		if uo, d := memberUpdate(m, a); len(d) > 0 {
			out = append(out, w.change(lb, OpUpdate, w.memberChild(name, p.Name), d.String()+" in pool "+p.Name, func(ctx context.Context) (string, error) {
				return a.ID, pools.UpdateMember(ctx, w.c.SC, w.poolIDs[p.Name], a.ID, uo).Err
			}))
		}
	}
	if !o.Prune {
		return out
	}
	for _, a := range have {
		if !wanted[MemberKey(a.Address, a.ProtocolPort)] {
			out = append(out, w.deleteMember(lb, p.Name, a, fmt.Sprintf("%s not in the file (pool %s)", MemberKey(a.Address, a.ProtocolPort), p.Name)))
		}
	}
	return out
}

// monitorChanges converges a pool's health monitor; a changed type means a
// new monitor, as Octavia cannot change it.
func (w *walker) monitorChanges(lb LBRef, p *octavia.Pool, have *monitors.Monitor, o Options) []Change {
	want := p.HealthMonitor
	var out []Change
	switch {
	case have == nil:
	case want == nil && o.Prune:
		out = append(out, w.deleteMonitor(lb, p.Name, *have, "not in the file"))
		have = nil
	case want == nil:
	case have.Type != string(want.Type):
		out = append(out, w.deleteMonitor(lb, p.Name, *have, fmt.Sprintf("replaced: type cannot change (%s → %s)", have.Type, want.Type)))
		have = nil
	case have.ProvisioningStatus == "ERROR" && o.Replace:
		out = append(out, w.deleteMonitor(lb, p.Name, *have, "replaced: it is in ERROR"))
		have = nil
	}
	if want == nil {
		return out
	}
	name := monitorName(want.Name, p.Name)
	if have == nil {
		detail := fmt.Sprintf("%s delay %d timeout %d max_retries %d", want.Type, intOf(want.Delay), intOf(want.Timeout), want.MaxRetries)
		return append(out, w.change(lb, OpCreate, w.monitorChild(name), detail, func(ctx context.Context) (string, error) {
			got, err := monitors.Create(ctx, w.c.SC, monitorCreateOpts(want, w.poolIDs[p.Name])).Extract()
			if err != nil {
				return "", err
			}
			w.run.Created(got.ID)
			return got.ID, nil
		}))
	}
	if uo, d := monitorUpdate(want, have); len(d) > 0 {
		out = append(out, w.change(lb, OpUpdate, w.monitorChild(name), d.String(), func(ctx context.Context) (string, error) {
			return have.ID, monitors.Update(ctx, w.c.SC, have.ID, uo).Err
		}))
	}
	return out
}

// Apply converges the endpoint to each of cfg's load balancers, matched by
// name, as lbctl apply does: Converge with o, except that o.VIPSubnetID is
// sent only for load balancers whose file names no VIP subnet, network or
// port. It returns the changes made, also when it fails part way.
func (c *Client) Apply(ctx context.Context, cfg *octavia.Config, o Options) ([]Change, error) {
	run := NewRun(&c.Waiter, false)
	for i, lb := range cfg.LoadBalancers {
		if lb.Name == "" {
			return run.Changes, fmt.Errorf("loadbalancers[%d]: apply matches load balancers by name; give it one", i)
		}
		lo := o
		if lb.VIPSubnetID != "" || lb.VIPNetworkID != "" || lb.VIPPortID != "" {
			lo.VIPSubnetID, lo.VIPSubnetName = "", ""
		}
		if _, err := c.Converge(ctx, run, lb, lo); err != nil {
			return run.Changes, fmt.Errorf("load balancer %s: %w", lb.Name, err)
		}
	}
	return run.Changes, nil
}
