package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/amphorae"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"
)

// The lookups and listings of lbctl's get, status, member and delete
// commands: objects found by name or ID as a person types them.

// ErrNotFound is returned when no object has the name or ID asked for.
var ErrNotFound = errors.New("not found")

// LoadBalancer finds a load balancer by ID or name; several with the name
// is an error naming them.
func (c *Client) LoadBalancer(ctx context.Context, nameOrID string) (*loadbalancers.LoadBalancer, error) {
	if lb, err := loadbalancers.Get(ctx, c.SC, nameOrID).Extract(); err == nil {
		return lb, nil
	} else if !isCode(err, http.StatusNotFound) {
		return nil, c.describe(fmt.Sprintf("get load balancer %s", nameOrID), err)
	}
	lbs, err := c.LoadBalancers(ctx, nameOrID)
	if err != nil {
		return nil, err
	}
	switch len(lbs) {
	case 0:
		return nil, fmt.Errorf("load balancer %q: %w", nameOrID, ErrNotFound)
	case 1:
		return &lbs[0], nil
	}
	ids := make([]string, len(lbs))
	for i, lb := range lbs {
		ids[i] = lb.ID
	}
	return nil, fmt.Errorf("%d load balancers are named %q (%s): use an ID", len(lbs), nameOrID, strings.Join(ids, ", "))
}

// Pool finds a pool by ID or name, within the load balancer lbID when it
// is not empty.
func (c *Client) Pool(ctx context.Context, lbID, nameOrID string) (*pools.Pool, error) {
	if p, err := pools.Get(ctx, c.SC, nameOrID).Extract(); err == nil {
		return p, nil
	} else if !isCode(err, http.StatusNotFound) {
		return nil, c.describe(fmt.Sprintf("get pool %s", nameOrID), err)
	}
	pages, err := pools.List(c.SC, pools.ListOpts{Name: nameOrID, LoadbalancerID: lbID}).AllPages(ctx)
	if err != nil {
		return nil, c.describe("list pools", err)
	}
	ps, err := pools.ExtractPools(pages)
	if err != nil {
		return nil, c.describe("list pools", err)
	}
	switch len(ps) {
	case 0:
		return nil, fmt.Errorf("pool %q: %w", nameOrID, ErrNotFound)
	case 1:
		return &ps[0], nil
	}
	return nil, fmt.Errorf("%d pools are named %q: use an ID or --lb", len(ps), nameOrID)
}

// LoadBalancers lists the load balancers, those named name when it is not
// empty.
func (c *Client) LoadBalancers(ctx context.Context, name string) ([]loadbalancers.LoadBalancer, error) {
	pages, err := loadbalancers.List(c.SC, loadbalancers.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		return nil, c.describe("list load balancers", err)
	}
	all, err := loadbalancers.ExtractLoadBalancers(pages)
	return all, c.describe("list load balancers", err)
}

// Listeners lists the listeners, of the load balancer lbID when it is not
// empty.
func (c *Client) Listeners(ctx context.Context, lbID string) ([]listeners.Listener, error) {
	pages, err := listeners.List(c.SC, listeners.ListOpts{LoadbalancerID: lbID}).AllPages(ctx)
	if err != nil {
		return nil, c.describe("list listeners", err)
	}
	all, err := listeners.ExtractListeners(pages)
	return all, c.describe("list listeners", err)
}

// Pools lists the pools, of the load balancer lbID when it is not empty.
func (c *Client) Pools(ctx context.Context, lbID string) ([]pools.Pool, error) {
	pages, err := pools.List(c.SC, pools.ListOpts{LoadbalancerID: lbID}).AllPages(ctx)
	if err != nil {
		return nil, c.describe("list pools", err)
	}
	all, err := pools.ExtractPools(pages)
	return all, c.describe("list pools", err)
}

// Members lists a pool's members.
func (c *Client) Members(ctx context.Context, poolID string) ([]pools.Member, error) {
	pages, err := pools.ListMembers(c.SC, poolID, pools.ListMembersOpts{}).AllPages(ctx)
	if err != nil {
		return nil, c.describe("list members", err)
	}
	all, err := pools.ExtractMembers(pages)
	return all, c.describe("list members", err)
}

// Amphorae lists the amphorae of the load balancer lbID: with
// ACTIVE_STANDBY, the MASTER and the BACKUP (on lbd, one per instance
// sharing the state). Only administrators may list them; Octavia answers
// others 403.
func (c *Client) Amphorae(ctx context.Context, lbID string) ([]amphorae.Amphora, error) {
	pages, err := amphorae.List(c.SC, amphorae.ListOpts{LoadbalancerID: lbID}).AllPages(ctx)
	if err != nil {
		return nil, c.describe("list amphorae", err)
	}
	all, err := amphorae.ExtractAmphorae(pages)
	return all, c.describe("list amphorae", err)
}

// Monitors lists the health monitors.
func (c *Client) Monitors(ctx context.Context) ([]monitors.Monitor, error) {
	pages, err := monitors.List(c.SC, monitors.ListOpts{}).AllPages(ctx)
	if err != nil {
		return nil, c.describe("list health monitors", err)
	}
	all, err := monitors.ExtractMonitors(pages)
	return all, c.describe("list health monitors", err)
}

// Raw returns the objects at path (under the API's lbaas/, e.g.
// "pools/ID/members") with the given IDs as the API renders them, without
// gophercloud's structs, which add empty fields.
func (c *Client) Raw(ctx context.Context, path string, ids []string) ([]any, error) {
	url := c.SC.ServiceURL("lbaas", path)
	out := []any{}
	for _, id := range ids {
		var body map[string]any
		u := url + "/" + id
		if _, err := c.SC.Get(ctx, u, &body, nil); err != nil {
			return nil, c.describe("get "+u, err)
		}
		for _, v := range body {
			out = append(out, v)
		}
	}
	return out, nil
}
