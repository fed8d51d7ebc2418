package openstack

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"
)

// current is a load balancer's tree as the cloud has it.
type current struct {
	lb        *loadbalancers.LoadBalancer
	listeners []listeners.Listener
	pools     []pools.Pool
	members   map[string][]pools.Member    // by pool ID
	monitors  map[string]*monitors.Monitor // by pool ID
}

func (c *current) ref() lbRef { return lbRef{ID: c.lb.ID, Name: c.lb.Name} }

func (c *current) poolName(id string) string {
	for _, p := range c.pools {
		if p.ID == id {
			return p.Name
		}
	}
	return ""
}

// findLB finds the file's load balancer by name; nil when there is none.
// Deleted ones (soft-deleted rows) do not count.
func (r *run) findLB(ctx context.Context) (*loadbalancers.LoadBalancer, error) {
	name := r.spec.LB.Name
	op := fmt.Sprintf("find load balancer %q", name)
	pages, err := loadbalancers.List(r.c.LoadBalancer, loadbalancers.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		return nil, describe(op, err)
	}
	all, err := loadbalancers.ExtractLoadBalancers(pages)
	if err != nil {
		return nil, describe(op, err)
	}
	var live []loadbalancers.LoadBalancer
	for _, lb := range all {
		if lb.Name == name && lb.ProvisioningStatus != "DELETED" {
			live = append(live, lb)
		}
	}
	switch len(live) {
	case 0:
		return nil, nil
	case 1:
		return &live[0], nil
	}
	lb, err := one("load balancer", name, "the load balancer's name", "openstack loadbalancer list", live, func(l loadbalancers.LoadBalancer) string { return l.ID })
	return &lb, err
}

// readTree reads the load balancer's listeners, pools, members and monitors.
func (r *run) readTree(ctx context.Context, lb *loadbalancers.LoadBalancer) (*current, error) {
	c := &current{lb: lb, members: map[string][]pools.Member{}, monitors: map[string]*monitors.Monitor{}}
	op := "read the tree of " + c.ref().String()
	lp, err := listeners.List(r.c.LoadBalancer, listeners.ListOpts{LoadbalancerID: lb.ID}).AllPages(ctx)
	if err != nil {
		return nil, describe(op, err)
	}
	if c.listeners, err = listeners.ExtractListeners(lp); err != nil {
		return nil, describe(op, err)
	}
	pp, err := pools.List(r.c.LoadBalancer, pools.ListOpts{LoadbalancerID: lb.ID}).AllPages(ctx)
	if err != nil {
		return nil, describe(op, err)
	}
	if c.pools, err = pools.ExtractPools(pp); err != nil {
		return nil, describe(op, err)
	}
	for _, p := range c.pools {
		mp, err := pools.ListMembers(r.c.LoadBalancer, p.ID, pools.ListMembersOpts{}).AllPages(ctx)
		if err != nil {
			return nil, describe(op, err)
		}
		if c.members[p.ID], err = pools.ExtractMembers(mp); err != nil {
			return nil, describe(op, err)
		}
		if p.MonitorID == "" {
			continue
		}
		m, err := monitors.Get(ctx, r.c.LoadBalancer, p.MonitorID).Extract()
		if isCode(err, http.StatusNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, describe(op, err)
		}
		c.monitors[p.ID] = m
	}
	return c, nil
}
