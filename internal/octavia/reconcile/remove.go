package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
)

// Remove deletes the load balancer named name, as the tutorial does: pool
// by pool its members, monitor and pool, then its listeners, then the load
// balancer; or all at once with cascade. One in ERROR is deleted with
// cascade, the one way Octavia allows. None by that name is fine. With
// run.Plan nothing changes.
func (c *Client) Remove(ctx context.Context, run *Run, name string, cascade bool) error {
	lb, err := c.FindLoadBalancer(ctx, name)
	if err != nil || lb == nil {
		return err
	}
	ref := Ref(lb)
	if lb.ProvisioningStatus == "PENDING_DELETE" {
		if run.Plan {
			return nil
		}
		return c.WaitGone(ctx, ref)
	}
	if !cascade && lb.ProvisioningStatus != "ERROR" {
		if strings.HasPrefix(lb.ProvisioningStatus, "PENDING_") && !run.Plan {
			if err := c.WaitActive(ctx, ref); err != nil {
				return err
			}
		}
		w := &walker{c: c, run: run, poolIDs: map[string]string{}, again: c.Advice.remove()}
		for pass := 1; ; pass++ {
			cur, err := c.ReadTree(ctx, lb)
			if err != nil {
				return err
			}
			err = run.Apply(ctx, w.childDeletes(cur))
			if err == nil {
				break
			}
			if !w.retryPass(err, pass) {
				return err
			}
		}
	}
	why := ""
	switch {
	case lb.ProvisioningStatus == "ERROR":
		why, cascade = "in ERROR: deleted with its children (cascade)", true
	case cascade:
		why = "with its children (cascade)"
	}
	return run.Apply(ctx, []Change{{Op: OpDelete, Kind: "load balancer", Name: lb.Name, Detail: why, Do: func(ctx context.Context) error {
		return c.DeleteLoadBalancer(ctx, ref, cascade)
	}}})
}

// childDeletes are the tutorial's teardown, pool by pool: members, monitor,
// pool; then the listeners.
func (w *walker) childDeletes(cur *Tree) []Change {
	lb := cur.Ref()
	var out []Change
	for _, p := range cur.Pools {
		w.poolIDs[p.Name] = p.ID
		for _, m := range cur.Members[p.ID] {
			out = append(out, w.deleteMember(lb, p.Name, m, fmt.Sprintf("%s:%d in pool %s", m.Address, m.ProtocolPort, p.Name)))
		}
		if hm := cur.Monitors[p.ID]; hm != nil {
			out = append(out, w.deleteMonitor(lb, p.Name, *hm, ""))
		}
		out = append(out, w.deletePool(lb, p, ""))
	}
	for _, l := range cur.Listeners {
		out = append(out, w.deleteListener(lb, l, ""))
	}
	return out
}

// DeleteLoadBalancer deletes the load balancer (with cascade, its children
// too) and waits until it is gone. While it is PENDING_* Octavia answers
// 409; that is waited out (ERROR counts as settled: a load balancer in ERROR
// can be deleted). A delete the worker fails leaves it in ERROR, and it is
// deleted again, with cascade, up to three times. Already gone is fine.
func (c *Client) DeleteLoadBalancer(ctx context.Context, ref LBRef, cascade bool) error {
	start := time.Now()
	backoff := c.FirstPoll()
	for pass := 1; ; {
		err := loadbalancers.Delete(ctx, c.SC, ref.ID, loadbalancers.DeleteOpts{Cascade: cascade}).ExtractErr()
		switch {
		case err == nil:
			err := c.WaitGone(ctx, ref)
			var we *WaitError
			if errors.As(err, &we) && we.Failed && pass < maxPasses {
				c.Printf("  %v\n  deleting it again, with its children (%d of %d)", err, pass+1, maxPasses)
				pass, cascade = pass+1, true
				continue
			}
			return err
		case isCode(err, http.StatusNotFound):
			return nil
		case !IsBusy(err) || time.Since(start) > c.Bound():
			e := c.describe("delete "+ref.String(), err)
			if isCode(err, http.StatusBadRequest) && !cascade {
				e.(*Error).Hint = "it still has children lbctl did not remove; run " + c.Advice.remove() + " with --cascade"
			}
			return e
		}
		err = c.WaitFor(ctx, ref.String(), "ACTIVE or ERROR", nil, "", func(ctx context.Context) (string, bool, error) {
			got, err := loadbalancers.Get(ctx, c.SC, ref.ID).Extract()
			if isCode(err, http.StatusNotFound) {
				return "deleted", true, nil
			}
			if err != nil {
				return "", false, c.describe("read "+ref.String(), err)
			}
			return got.ProvisioningStatus, !strings.HasPrefix(got.ProvisioningStatus, "PENDING_"), nil
		})
		if err != nil {
			return err
		}
		if err := Sleep(ctx, backoff); err != nil {
			return c.describe("delete "+ref.String(), err)
		}
		backoff = min(backoff*2, MaxPoll)
	}
}
