package reconcile

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
)

// Client talks to one load-balancer endpoint: SC is gophercloud's service
// client for it (from a Keystone catalog, or NewDirect's for an endpoint
// given by URL).
type Client struct {
	SC *gophercloud.ServiceClient
	Waiter
	// Hint adds what to do to a failed call's error; nil adds nothing.
	Hint HintFunc
	// Advice names the commands that errors tell a person to run next.
	Advice Advice
}

// Advice names, in errors, the commands a person runs next.
type Advice struct {
	Again  string // resumes or repeats the run, e.g. "lbctl up"
	Remove string // removes the load balancer, e.g. "lbctl down -f tutorial.yaml"
}

func (a Advice) again() string  { return firstOf(a.Again, "lbctl") }
func (a Advice) remove() string { return firstOf(a.Remove, "lbctl") }

// NewDirect returns a client for an endpoint given by URL (e.g. a local
// lbd's http://127.0.0.1:9876), not found in a catalog. A non-empty token
// is sent as X-Auth-Token. It polls from 50 ms on, as lbd applies a change
// in milliseconds.
func NewDirect(endpoint, token string) *Client {
	pc := &gophercloud.ProviderClient{HTTPClient: http.Client{Timeout: 30 * time.Second}}
	if token != "" {
		pc.SetToken(token)
	}
	return &Client{SC: ServiceClient(pc, endpoint), Waiter: Waiter{Poll: 50 * time.Millisecond}}
}

// ServiceClient is NewLoadBalancerV2 for an endpoint given by hand: the same
// resource base (gophercloud always calls /v2.0/lbaas/...), whether the URL
// ends in /, /v2 or /v2.0.
func ServiceClient(pc *gophercloud.ProviderClient, endpoint string) *gophercloud.ServiceClient {
	endpoint = strings.TrimSuffix(strings.TrimSuffix(endpoint, "/"), "/v2.0")
	endpoint = strings.TrimSuffix(endpoint, "/v2") + "/"
	return &gophercloud.ServiceClient{ProviderClient: pc, Endpoint: endpoint, ResourceBase: endpoint + "v2.0/", Type: "load-balancer"}
}

// describe is Describe with the client's hints.
func (c *Client) describe(op string, err error) error { return Describe(op, err, c.Hint) }

// LBRef names a load balancer in messages and waits.
type LBRef struct {
	ID, Name string
}

func (r LBRef) String() string { return fmt.Sprintf("load balancer %q (%s)", r.Name, r.ID) }

// Ref is the LBRef of a load balancer.
func Ref(lb *loadbalancers.LoadBalancer) LBRef { return LBRef{ID: lb.ID, Name: lb.Name} }

// WaitActive waits for the load balancer's provisioning_status to be ACTIVE.
func (c *Client) WaitActive(ctx context.Context, lb LBRef) error {
	return c.WaitFor(ctx, lb.String(), "ACTIVE", []string{"ERROR"},
		"Octavia could not provision it; `openstack loadbalancer show "+lb.ID+"` and the Octavia worker's log say why; `"+c.Advice.remove()+"` removes it",
		func(ctx context.Context) (string, bool, error) {
			got, err := loadbalancers.Get(ctx, c.SC, lb.ID).Extract()
			if err != nil {
				return "", false, c.describe("read "+lb.String(), err)
			}
			return got.ProvisioningStatus, got.ProvisioningStatus == "ACTIVE", nil
		})
}

// WaitGone waits until the load balancer is deleted.
func (c *Client) WaitGone(ctx context.Context, lb LBRef) error {
	return c.WaitFor(ctx, lb.String(), "deleted", []string{"ERROR"},
		"Octavia could not delete it; `openstack loadbalancer show "+lb.ID+"` and the Octavia worker's log say why; run "+c.Advice.remove()+" again (with --cascade)",
		func(ctx context.Context) (string, bool, error) {
			got, err := loadbalancers.Get(ctx, c.SC, lb.ID).Extract()
			if isCode(err, http.StatusNotFound) {
				return "deleted", true, nil
			}
			if err != nil {
				return "", false, c.describe("read "+lb.String(), err)
			}
			return got.ProvisioningStatus, got.ProvisioningStatus == "DELETED", nil
		})
}

// Mutate runs one change of the load balancer's tree and waits for the load
// balancer to be ACTIVE again. A 409 because something is PENDING_* (or a
// 503 "busy") is waited out and retried with back-off until the bound, never
// shown. For deletes (gone true), a 404 means the object is already gone.
// op names the change in errors.
func (c *Client) Mutate(ctx context.Context, lb LBRef, op string, gone bool, call func(ctx context.Context) error) error {
	start := time.Now()
	backoff := c.FirstPoll()
	for attempt := 1; ; attempt++ {
		err := call(ctx)
		switch {
		case err == nil:
			return c.WaitActive(ctx, lb)
		case gone && isCode(err, http.StatusNotFound):
			c.Logger().Debug("already gone", "op", op)
			return nil
		case !IsBusy(err):
			return c.describe(op, err)
		}
		if time.Since(start) > c.Bound() {
			return &Error{Op: op, Code: http.StatusConflict, Message: fmt.Sprintf("%s stayed busy (PENDING_*) for %s", lb, time.Since(start).Round(time.Second)),
				Hint: "another client keeps changing it, or Octavia's worker is stuck; check `openstack loadbalancer show " + lb.ID + "`, then run " + c.Advice.again() + " again", Err: err}
		}
		c.Logger().Debug("load balancer busy, waiting before retrying", "op", op, "attempt", attempt, "err", faultOf(err))
		if err := c.WaitActive(ctx, lb); err != nil {
			return err
		}
		if err := Sleep(ctx, backoff); err != nil {
			return c.describe(op, err)
		}
		backoff = min(backoff*2, MaxPoll)
	}
}

func faultOf(err error) string {
	if e, ok := Describe("", err, nil).(*Error); ok {
		return e.Message
	}
	return err.Error()
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
