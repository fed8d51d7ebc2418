package reconcile

import (
	"context"
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"lbd/internal/octavia"
)

// The plan of one pass over an existing load balancer's tree: the changes
// that take the cloud's tree to the file's, in an order in which each is
// valid when it runs.

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
	matched, gone, err := w.listenerDeletes(want, cur, o)
	if err != nil {
		return nil, err
	}
	out = append(out, gone...)
	pools, fresh, err := w.poolChanges(want, cur, o)
	if err != nil {
		return nil, err
	}
	out = append(out, pools...)
	out = append(out, w.listenerChanges(want, cur, matched, fresh)...)
	// L7 policies, once their listeners and pools exist.
	for _, l := range want.Listeners {
		haveID := ""
		if a := matched[l.ID]; a != nil {
			haveID = a.ID
		}
		out = append(out, w.l7Changes(want, l, cur, haveID, o)...)
	}
	if !o.Prune {
		return out, nil
	}
	wanted := map[string]bool{}
	for _, p := range want.Pools {
		wanted[p.Name] = true
	}
	for _, a := range cur.Pools {
		if !wanted[a.Name] {
			out = append(out, w.deletePool(lb, a, "not in the file"))
		}
	}
	return out, nil
}

// listenerDeletes matches the file's listeners with the cloud's (by
// transport and port, the same protocol first) and returns the matches
// (file listener ID → cloud listener) and the deletes: listeners not in the
// file (with Prune) and those to replace.
func (w *walker) listenerDeletes(want *octavia.LoadBalancer, cur *Tree, o Options) (map[string]*listeners.Listener, []Change, error) {
	lb := cur.Ref()
	matched := map[string]*listeners.Listener{}
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
	var out []Change
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
			return nil, nil, fmt.Errorf("listener on port %d is %s here and %s in the file; a listener's protocol cannot change: delete the listener first", l.ProtocolPort, a.Protocol, l.Protocol)
		case a.Protocol != string(l.Protocol):
			out = append(out, w.deleteListener(lb, *a, fmt.Sprintf("replaced: protocol cannot change (%s → %s)", a.Protocol, l.Protocol)))
			delete(matched, l.ID)
		case a.ProvisioningStatus == "ERROR" && o.Replace:
			out = append(out, w.deleteListener(lb, *a, "replaced: it is in ERROR"))
			delete(matched, l.ID)
		}
	}
	return matched, out, nil
}

// poolChanges converges the file's pools, with their members and monitors,
// and returns the names of the pools it creates (fresh: the listeners
// must be pointed at them).
func (w *walker) poolChanges(want *octavia.LoadBalancer, cur *Tree, o Options) ([]Change, map[string]bool, error) {
	lb := cur.Ref()
	have := map[string]*pools.Pool{}
	for i := range cur.Pools {
		have[cur.Pools[i].Name] = &cur.Pools[i]
		w.poolIDs[cur.Pools[i].Name] = cur.Pools[i].ID
	}
	var out []Change
	fresh := map[string]bool{}
	for _, p := range want.Pools {
		a := have[p.Name]
		switch {
		case a == nil:
		case a.Protocol != string(p.Protocol) && !o.Replace:
			return nil, nil, fmt.Errorf("pool %s is %s here and %s in the file; a pool's protocol cannot change: delete the pool first", p.Name, a.Protocol, p.Protocol)
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
	return out, fresh, nil
}

// listenerChanges creates the file's listeners that have no match and
// updates the matched ones, default pool included.
func (w *walker) listenerChanges(want *octavia.LoadBalancer, cur *Tree, matched map[string]*listeners.Listener, fresh map[string]bool) []Change {
	lb := cur.Ref()
	var out []Change
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
				w.listenerIDs[l.ID] = got.ID
				return got.ID, nil
			}))
			continue
		}
		w.listenerIDs[l.ID] = a.ID
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
	return out
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
		if !wanted[MemberKey(a.Address, a.ProtocolPort)] && (o.Keep == nil || !o.Keep(a)) {
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
