package openstack

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"lbd/internal/octavia"
)

// treeChanges compares the file's tree with the cloud's and returns the
// changes, ordered so that each is valid when it runs: listeners that go
// away first (a new listener may take their port), then pools with their
// members and monitors, then listeners (which name their default pool),
// then pools nobody wants.
func (r *run) treeChanges(cur *current) []Change {
	lb := cur.ref()
	var out []Change
	if o, d := lbUpdate(r.spec.LB, cur.lb); len(d) > 0 {
		out = append(out, r.lbChange(lb, OpUpdate, child{kind: "load balancer", name: lb.Name}, d.String(), func(ctx context.Context) (string, error) {
			return lb.ID, loadbalancers.Update(ctx, r.c.LoadBalancer, lb.ID, o).Err
		}))
	}

	// Match listeners: by name, or by protocol and port when unnamed.
	matched := map[string]*listeners.Listener{} // file listener ID → cloud listener
	used := map[string]bool{}
	for _, l := range r.spec.LB.Listeners {
		for i := range cur.listeners {
			a := &cur.listeners[i]
			if used[a.ID] {
				continue
			}
			if (l.Name != "" && a.Name == l.Name) || (l.Name == "" && a.Name == "" && a.Protocol == string(l.Protocol) && a.ProtocolPort == l.ProtocolPort) {
				matched[l.ID], used[a.ID] = a, true
				break
			}
		}
	}
	for _, a := range cur.listeners {
		if !used[a.ID] {
			out = append(out, r.deleteListener(lb, a, "not in the file"))
		}
	}
	for _, l := range r.spec.LB.Listeners {
		a := matched[l.ID]
		switch {
		case a == nil:
		case a.ProvisioningStatus == "ERROR":
			out = append(out, r.deleteListener(lb, *a, "replaced: it is in ERROR"))
			delete(matched, l.ID)
		case a.Protocol != string(l.Protocol) || a.ProtocolPort != l.ProtocolPort:
			out = append(out, r.deleteListener(lb, *a, fmt.Sprintf("replaced: protocol and port cannot change (%s:%d → %s:%d)", a.Protocol, a.ProtocolPort, l.Protocol, l.ProtocolPort)))
			delete(matched, l.ID)
		}
	}

	// Pools, with their members and monitors.
	have := map[string]*pools.Pool{}
	for i := range cur.pools {
		have[cur.pools[i].Name] = &cur.pools[i]
		r.poolIDs[cur.pools[i].Name] = cur.pools[i].ID
	}
	fresh := map[string]bool{} // pools this plan creates: listeners must point at them
	want := map[string]bool{}
	for _, dp := range r.desiredPools() {
		want[dp.Name] = true
		a := have[dp.Name]
		switch {
		case a == nil:
		case a.ProvisioningStatus == "ERROR":
			out = append(out, r.deletePool(lb, *a, "replaced: it is in ERROR"))
			a = nil
		case a.Protocol != string(dp.Protocol):
			out = append(out, r.deletePool(lb, *a, fmt.Sprintf("replaced: protocol cannot change (%s → %s)", a.Protocol, dp.Protocol)))
			a = nil
		}
		if a == nil {
			fresh[dp.Name] = true
			out = append(out, r.createPool(lb, dp)...)
			continue
		}
		if o, d := poolUpdate(dp, a); len(d) > 0 {
			out = append(out, r.lbChange(lb, OpUpdate, r.poolChild(dp.Name), d.String(), func(ctx context.Context) (string, error) {
				return a.ID, pools.Update(ctx, r.c.LoadBalancer, a.ID, o).Err
			}))
		}
		out = append(out, r.memberChanges(lb, dp, cur.members[a.ID])...)
		out = append(out, r.monitorChanges(lb, dp, cur.monitors[a.ID])...)
	}

	// Listeners.
	for _, l := range r.spec.LB.Listeners {
		poolName := ""
		if p := r.spec.LB.ListenerPool(l); p != nil {
			poolName = p.Name
		}
		a := matched[l.ID]
		if a == nil {
			out = append(out, r.lbChange(lb, OpCreate, r.listenerChild(l.Name), fmt.Sprintf("%s:%d, default pool %q", l.Protocol, l.ProtocolPort, poolName), func(ctx context.Context) (string, error) {
				opts := listenerCreateOpts(l, lb.ID)
				opts.DefaultPoolID = r.poolIDs[poolName]
				got, err := listeners.Create(ctx, r.c.LoadBalancer, opts).Extract()
				if err != nil {
					return "", err
				}
				r.created(got.ID)
				return got.ID, nil
			}))
			continue
		}
		o, d := listenerUpdate(l, a)
		if havePool := cur.poolName(a.DefaultPoolID); havePool != poolName || (poolName != "" && fresh[poolName]) {
			d = append(d, fmt.Sprintf("default pool %q → %q", havePool, poolName))
			o.DefaultPoolID = new(string) // set when applied: a fresh pool has no ID yet
		}
		if len(d) == 0 {
			continue
		}
		out = append(out, r.lbChange(lb, OpUpdate, r.listenerChild(l.Name), d.String(), func(ctx context.Context) (string, error) {
			if o.DefaultPoolID != nil {
				*o.DefaultPoolID = r.poolIDs[poolName]
			}
			return a.ID, listeners.Update(ctx, r.c.LoadBalancer, a.ID, o).Err
		}))
	}

	for _, a := range cur.pools {
		if !want[a.Name] {
			out = append(out, r.deletePool(lb, a, "not in the file"))
		}
	}
	return out
}

func (r *run) deleteListener(lb lbRef, a listeners.Listener, why string) Change {
	return r.lbChange(lb, OpDelete, r.listenerChild(firstOf(a.Name, a.ID)), why, func(ctx context.Context) (string, error) {
		return a.ID, listeners.Delete(ctx, r.c.LoadBalancer, a.ID).Err
	})
}

func (r *run) deletePool(lb lbRef, a pools.Pool, why string) Change {
	return r.lbChange(lb, OpDelete, r.poolChild(firstOf(a.Name, a.ID)), why, func(ctx context.Context) (string, error) {
		return a.ID, pools.Delete(ctx, r.c.LoadBalancer, a.ID).Err
	})
}

// createPool creates a pool on an existing load balancer, then its members
// and monitor, one change each.
func (r *run) createPool(lb lbRef, dp *desiredPool) []Change {
	out := []Change{r.lbChange(lb, OpCreate, r.poolChild(dp.Name), fmt.Sprintf("%s %s", dp.Protocol, dp.LBAlgorithm), func(ctx context.Context) (string, error) {
		opts := poolCreateOpts(dp, false)
		opts.LoadbalancerID = lb.ID
		got, err := pools.Create(ctx, r.c.LoadBalancer, opts).Extract()
		if err != nil {
			return "", err
		}
		r.poolIDs[dp.Name] = got.ID
		r.created(got.ID)
		return got.ID, nil
	})}
	out = append(out, r.memberChanges(lb, dp, nil)...)
	return append(out, r.monitorChanges(lb, dp, nil)...)
}

func memberKey(addr string, port int) string {
	if a, err := netip.ParseAddr(addr); err == nil {
		addr = a.Unmap().String()
	}
	return fmt.Sprintf("%s/%d", addr, port)
}

func memberDetail(m *octavia.Member) string {
	s := fmt.Sprintf("%s:%d weight %d", m.Address, m.ProtocolPort, *m.Weight)
	if *m.Backup {
		s += " backup"
	}
	return s
}

// memberChanges converges a pool's members; address and port identify one.
func (r *run) memberChanges(lb lbRef, dp *desiredPool, have []pools.Member) []Change {
	var out []Change
	byKey := map[string]*pools.Member{}
	for i := range have {
		byKey[memberKey(have[i].Address, have[i].ProtocolPort)] = &have[i]
	}
	wanted := map[string]bool{}
	for _, m := range dp.Members {
		key := memberKey(m.Address, m.ProtocolPort)
		wanted[key] = true
		a := byKey[key]
		name := firstOf(m.Name, m.Address)
		if a != nil && a.ProvisioningStatus == "ERROR" {
			out = append(out, r.deleteMember(lb, dp.Name, *a, "replaced: it is in ERROR"))
			a = nil
		}
		if a == nil {
			out = append(out, r.lbChange(lb, OpCreate, r.memberChild(name, dp.Name), memberDetail(m)+" in pool "+dp.Name, func(ctx context.Context) (string, error) {
				got, err := pools.CreateMember(ctx, r.c.LoadBalancer, r.poolIDs[dp.Name], memberCreateOpts(m)).Extract()
				if err != nil {
					return "", err
				}
				r.created(got.ID)
				return got.ID, nil
			}))
			continue
		}
		if o, d := memberUpdate(m, a); len(d) > 0 {
			out = append(out, r.lbChange(lb, OpUpdate, r.memberChild(name, dp.Name), d.String()+" in pool "+dp.Name, func(ctx context.Context) (string, error) {
				return a.ID, pools.UpdateMember(ctx, r.c.LoadBalancer, r.poolIDs[dp.Name], a.ID, o).Err
			}))
		}
	}
	for _, a := range have {
		if !wanted[memberKey(a.Address, a.ProtocolPort)] {
			out = append(out, r.deleteMember(lb, dp.Name, a, fmt.Sprintf("%s:%d not in the file (pool %s)", a.Address, a.ProtocolPort, dp.Name)))
		}
	}
	return out
}

func monitorName(h *octavia.HealthMonitor, pool string) string {
	if h != nil && h.Name != "" {
		return h.Name
	}
	return "of pool " + pool
}

// monitorChanges converges a pool's health monitor; a changed type means a
// new monitor, as Octavia cannot change it.
func (r *run) monitorChanges(lb lbRef, dp *desiredPool, have *monitors.Monitor) []Change {
	want := dp.HealthMonitor
	var out []Change
	if have != nil && (want == nil || have.Type != string(want.Type) || have.ProvisioningStatus == "ERROR") {
		why := "not in the file"
		switch {
		case want == nil:
		case have.ProvisioningStatus == "ERROR":
			why = "replaced: it is in ERROR"
		default:
			why = fmt.Sprintf("replaced: type cannot change (%s → %s)", have.Type, want.Type)
		}
		out = append(out, r.deleteMonitor(lb, dp.Name, *have, why))
		have = nil
	}
	if want == nil {
		return out
	}
	if have == nil {
		detail := fmt.Sprintf("%s delay %d timeout %d max_retries %d", want.Type, *want.Delay, *want.Timeout, want.MaxRetries)
		return append(out, r.lbChange(lb, OpCreate, r.monitorChild(monitorName(want, dp.Name)), detail, func(ctx context.Context) (string, error) {
			got, err := monitors.Create(ctx, r.c.LoadBalancer, monitorCreateOpts(want, r.poolIDs[dp.Name])).Extract()
			if err != nil {
				return "", err
			}
			r.created(got.ID)
			return got.ID, nil
		}))
	}
	if o, d := monitorUpdate(want, have); len(d) > 0 {
		out = append(out, r.lbChange(lb, OpUpdate, r.monitorChild(monitorName(want, dp.Name)), d.String(), func(ctx context.Context) (string, error) {
			return have.ID, monitors.Update(ctx, r.c.LoadBalancer, have.ID, o).Err
		}))
	}
	return out
}

func (r *run) deleteMember(lb lbRef, pool string, a pools.Member, why string) Change {
	return r.lbChange(lb, OpDelete, r.memberChild(firstOf(a.Name, a.Address), pool), why, func(ctx context.Context) (string, error) {
		return a.ID, pools.DeleteMember(ctx, r.c.LoadBalancer, r.poolIDs[pool], a.ID).Err
	})
}

func (r *run) deleteMonitor(lb lbRef, pool string, a monitors.Monitor, why string) Change {
	return r.lbChange(lb, OpDelete, r.monitorChild(firstOf(a.Name, "of pool "+pool)), why, func(ctx context.Context) (string, error) {
		return a.ID, monitors.Delete(ctx, r.c.LoadBalancer, a.ID).Err
	})
}
