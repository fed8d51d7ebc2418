package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"
)

// Client is a load-balancer service client for an endpoint given directly.
type Client struct {
	SC *gophercloud.ServiceClient
	// Poll is the first interval between status polls; it doubles up to a
	// second. Default 50 ms, as lbd applies changes in milliseconds.
	Poll time.Duration
}

// New returns a client for endpoint (e.g. http://127.0.0.1:9876). A
// non-empty token is sent as X-Auth-Token.
func New(endpoint, token string) *Client {
	pc := &gophercloud.ProviderClient{HTTPClient: http.Client{Timeout: 30 * time.Second}}
	if token != "" {
		pc.SetToken(token)
	}
	base := strings.TrimRight(endpoint, "/") + "/"
	return &Client{
		SC:   &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: base, ResourceBase: base + "v2.0/"},
		Poll: 50 * time.Millisecond,
	}
}

// ErrNotFound is returned when no object has the name or ID asked for.
var ErrNotFound = errors.New("not found")

// LoadBalancer finds a load balancer by ID or name; several with the name
// is an error naming them.
func (c *Client) LoadBalancer(ctx context.Context, nameOrID string) (*loadbalancers.LoadBalancer, error) {
	if lb, err := loadbalancers.Get(ctx, c.SC, nameOrID).Extract(); err == nil {
		return lb, nil
	} else if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil, fmt.Errorf("get load balancer %s: %w", nameOrID, err)
	}
	pages, err := loadbalancers.List(c.SC, loadbalancers.ListOpts{Name: nameOrID}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list load balancers: %w", err)
	}
	lbs, err := loadbalancers.ExtractLoadBalancers(pages)
	if err != nil {
		return nil, fmt.Errorf("list load balancers: %w", err)
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
	} else if !gophercloud.ResponseCodeIs(err, http.StatusNotFound) {
		return nil, fmt.Errorf("get pool %s: %w", nameOrID, err)
	}
	pages, err := pools.List(c.SC, pools.ListOpts{Name: nameOrID, LoadbalancerID: lbID}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list pools: %w", err)
	}
	ps, err := pools.ExtractPools(pages)
	if err != nil {
		return nil, fmt.Errorf("list pools: %w", err)
	}
	switch len(ps) {
	case 0:
		return nil, fmt.Errorf("pool %q: %w", nameOrID, ErrNotFound)
	case 1:
		return &ps[0], nil
	}
	return nil, fmt.Errorf("%d pools are named %q: use an ID or --lb", len(ps), nameOrID)
}

// Listeners lists a load balancer's listeners.
func (c *Client) Listeners(ctx context.Context, lbID string) ([]listeners.Listener, error) {
	pages, err := listeners.List(c.SC, listeners.ListOpts{LoadbalancerID: lbID}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list listeners: %w", err)
	}
	return listeners.ExtractListeners(pages)
}

// Pools lists a load balancer's pools.
func (c *Client) Pools(ctx context.Context, lbID string) ([]pools.Pool, error) {
	pages, err := pools.List(c.SC, pools.ListOpts{LoadbalancerID: lbID}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list pools: %w", err)
	}
	return pools.ExtractPools(pages)
}

// Members lists a pool's members.
func (c *Client) Members(ctx context.Context, poolID string) ([]pools.Member, error) {
	pages, err := pools.ListMembers(c.SC, poolID, pools.ListMembersOpts{}).AllPages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	return pools.ExtractMembers(pages)
}

// WaitActive waits until the load balancer is ACTIVE (nil), ERROR (an
// error) or gone (ErrNotFound), or ctx ends.
func (c *Client) WaitActive(ctx context.Context, lbID string) error {
	d := c.Poll
	for {
		lb, err := loadbalancers.Get(ctx, c.SC, lbID).Extract()
		switch {
		case gophercloud.ResponseCodeIs(err, http.StatusNotFound):
			return fmt.Errorf("load balancer %s: %w", lbID, ErrNotFound)
		case err != nil:
			return fmt.Errorf("load balancer %s: %w", lbID, err)
		case lb.ProvisioningStatus == "ACTIVE":
			return nil
		case lb.ProvisioningStatus == "ERROR":
			return fmt.Errorf("load balancer %s went to ERROR", lbID)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for load balancer %s to be ACTIVE (%s): %w", lbID, lb.ProvisioningStatus, ctx.Err())
		case <-t.C:
		}
		d = min(2*d, time.Second)
	}
}

// WaitGone waits until the load balancer no longer exists.
func (c *Client) WaitGone(ctx context.Context, lbID string) error {
	err := c.WaitActive(ctx, lbID)
	for err == nil { // still there and ACTIVE: the delete has not started yet
		t := time.NewTimer(c.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for load balancer %s to go: %w", lbID, ctx.Err())
		case <-t.C:
		}
		err = c.WaitActive(ctx, lbID)
	}
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// FaultMessage extracts Octavia's faultstring from a gophercloud error, or
// returns the error's text.
func FaultMessage(err error) string {
	var ue gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &ue) {
		var f struct {
			FaultString string `json:"faultstring"`
		}
		if jsonUnmarshal(ue.Body, &f) == nil && f.FaultString != "" {
			return fmt.Sprintf("%d: %s", ue.Actual, f.FaultString)
		}
	}
	return err.Error()
}
