package reconcile

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/l7policies"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"lbd/internal/octavia"
)

// Tree is a load balancer's tree as the cloud has it.
type Tree struct {
	LB        *loadbalancers.LoadBalancer
	Listeners []listeners.Listener
	Pools     []pools.Pool
	Members   map[string][]pools.Member        // by pool ID
	Monitors  map[string]*monitors.Monitor     // by pool ID
	Policies  map[string][]l7policies.L7Policy // by listener ID, in position order
	Rules     map[string][]l7policies.Rule     // by policy ID
}

// Ref is the tree's load balancer's LBRef.
func (t *Tree) Ref() LBRef { return Ref(t.LB) }

func (t *Tree) poolName(id string) string {
	for _, p := range t.Pools {
		if p.ID == id {
			return p.Name
		}
	}
	return ""
}

// ReadTree reads the load balancer's listeners, pools, members and monitors.
func (c *Client) ReadTree(ctx context.Context, lb *loadbalancers.LoadBalancer) (*Tree, error) {
	t := &Tree{LB: lb, Members: map[string][]pools.Member{}, Monitors: map[string]*monitors.Monitor{},
		Policies: map[string][]l7policies.L7Policy{}, Rules: map[string][]l7policies.Rule{}}
	op := "read the tree of " + t.Ref().String()
	lp, err := listeners.List(c.SC, listeners.ListOpts{LoadbalancerID: lb.ID}).AllPages(ctx)
	if err != nil {
		return nil, c.describe(op, err)
	}
	if t.Listeners, err = listeners.ExtractListeners(lp); err != nil {
		return nil, c.describe(op, err)
	}
	pp, err := pools.List(c.SC, pools.ListOpts{LoadbalancerID: lb.ID}).AllPages(ctx)
	if err != nil {
		return nil, c.describe(op, err)
	}
	if t.Pools, err = pools.ExtractPools(pp); err != nil {
		return nil, c.describe(op, err)
	}
	for _, p := range t.Pools {
		mp, err := pools.ListMembers(c.SC, p.ID, pools.ListMembersOpts{}).AllPages(ctx)
		if err != nil {
			return nil, c.describe(op, err)
		}
		if t.Members[p.ID], err = pools.ExtractMembers(mp); err != nil {
			return nil, c.describe(op, err)
		}
		if p.MonitorID == "" {
			continue
		}
		m, err := monitors.Get(ctx, c.SC, p.MonitorID).Extract()
		if isCode(err, http.StatusNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, c.describe(op, err)
		}
		t.Monitors[p.ID] = m
	}
	if err := c.readL7(ctx, t, op); err != nil {
		return nil, err
	}
	return t, nil
}

// What identifies an object within its parent, and how a person names it.
// A listener is its transport and port (Octavia allows one listener per
// protocol and port, and two protocols of one transport cannot share a
// port); a pool its name; a member its address and port; a health monitor
// its pool (one each).

// ListenerKey identifies a listener in its load balancer: "tcp/80".
func ListenerKey(p octavia.Protocol, port int) string {
	return p.Transport() + "/" + strconv.Itoa(port)
}

// ListenerName is how a person names a listener: its name, else
// PROTOCOL:port.
func ListenerName(name, protocol string, port int) string {
	if name != "" {
		return name
	}
	return protocol + ":" + strconv.Itoa(port)
}

// MemberKey identifies a member in its pool: address in canonical form and
// port, "10.0.0.1:80" or "[2001:db8::1]:80".
func MemberKey(addr string, port int) string {
	if a, err := netip.ParseAddr(addr); err == nil {
		return netip.AddrPortFrom(a.Unmap(), uint16(port)).String()
	}
	return addr + ":" + strconv.Itoa(port)
}

// memberName is how a person names a member: its name, else its key.
func memberName(name, addr string, port int) string { return firstOf(name, MemberKey(addr, port)) }

// monitorName is how a person names a pool's health monitor.
func monitorName(name, pool string) string { return firstOf(name, "of pool "+pool) }

// One picks the single match of a lookup by name or ID, or says what is
// wrong: nothing matched (with the command that lists the candidates), or
// the name is ambiguous. field is where the file names it.
func One[T any](kind, ref, field, listCmd string, found []T, id func(T) string) (T, error) {
	var zero T
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return zero, &Error{Op: "find " + kind + " " + fmt.Sprintf("%q", ref), Code: http.StatusNotFound,
			Message: fmt.Sprintf("no %s is named %q (or has that ID) in this project and region", kind, ref),
			Hint:    fmt.Sprintf("`%s` lists them; fix %s in the file", listCmd, field)}
	}
	ids := make([]string, len(found))
	for i, f := range found {
		ids[i] = id(f)
	}
	return zero, &Error{Op: "find " + kind + " " + fmt.Sprintf("%q", ref), Code: http.StatusConflict,
		Message: fmt.Sprintf("%d %ss are named %q: %v", len(found), kind, ref, ids),
		Hint:    fmt.Sprintf("give the ID in %s instead of the name", field)}
}

// FindLoadBalancer finds a load balancer by name; nil when there is none.
// Deleted ones (soft-deleted rows) do not count; several is an error.
func (c *Client) FindLoadBalancer(ctx context.Context, name string) (*loadbalancers.LoadBalancer, error) {
	op := fmt.Sprintf("find load balancer %q", name)
	pages, err := loadbalancers.List(c.SC, loadbalancers.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		return nil, c.describe(op, err)
	}
	all, err := loadbalancers.ExtractLoadBalancers(pages)
	if err != nil {
		return nil, c.describe(op, err)
	}
	var live []loadbalancers.LoadBalancer
	for _, lb := range all {
		if lb.Name == name && lb.ProvisioningStatus != "DELETED" {
			live = append(live, lb)
		}
	}
	if len(live) == 0 {
		return nil, nil
	}
	lb, err := One("load balancer", name, "the load balancer's name", "openstack loadbalancer list", live, func(l loadbalancers.LoadBalancer) string { return l.ID })
	return &lb, err
}
