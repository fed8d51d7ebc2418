package openstack

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"
)

// child is an object of a load balancer's tree as a change sees it: its
// kind and name for messages, and how to read its provisioning_status by ID.
// When Octavia fails a change, the load balancer returns to ACTIVE but the
// child is left in ERROR, so the load balancer's status alone does not tell
// whether the change worked.
type child struct {
	kind, name string
	get        func(ctx context.Context, id string) (string, error) // nil: nothing to read back
}

func (r *run) listenerChild(name string) child {
	return child{"listener", name, func(ctx context.Context, id string) (string, error) {
		l, err := listeners.Get(ctx, r.c.LoadBalancer, id).Extract()
		if err != nil {
			return "", err
		}
		return l.ProvisioningStatus, nil
	}}
}

func (r *run) poolChild(name string) child {
	return child{"pool", name, func(ctx context.Context, id string) (string, error) {
		p, err := pools.Get(ctx, r.c.LoadBalancer, id).Extract()
		if err != nil {
			return "", err
		}
		return p.ProvisioningStatus, nil
	}}
}

// memberChild reads a member of the pool named pool, whose ID is known only
// when the change runs (the pool may be created by the same plan).
func (r *run) memberChild(name, pool string) child {
	return child{"member", name, func(ctx context.Context, id string) (string, error) {
		m, err := pools.GetMember(ctx, r.c.LoadBalancer, r.poolIDs[pool], id).Extract()
		if err != nil {
			return "", err
		}
		return m.ProvisioningStatus, nil
	}}
}

func (r *run) monitorChild(name string) child {
	return child{"health monitor", name, func(ctx context.Context, id string) (string, error) {
		m, err := monitors.Get(ctx, r.c.LoadBalancer, id).Extract()
		if err != nil {
			return "", err
		}
		return m.ProvisioningStatus, nil
	}}
}

// lbChange is one change of the load balancer's tree: the call (which
// returns the child's ID), retried while the load balancer is busy, the wait
// for the load balancer to be ACTIVE again, then a look at the child.
func (r *run) lbChange(lb lbRef, op Op, ch child, detail string, call func(ctx context.Context) (string, error)) Change {
	what := fmt.Sprintf("%s %s %q", op, ch.kind, ch.name)
	return Change{Op: op, Kind: ch.kind, Name: ch.name, Detail: detail, apply: func(ctx context.Context) error {
		var id string
		err := r.p.mutate(ctx, lb, what, op == OpDelete, func(ctx context.Context) error {
			var err error
			id, err = call(ctx)
			return err
		})
		if err != nil || ch.get == nil || id == "" {
			return err
		}
		status, err := ch.get(ctx, id)
		switch {
		case op == OpDelete && isCode(err, http.StatusNotFound):
			return nil
		case err != nil:
			return describe(fmt.Sprintf("read %s %q back", ch.kind, ch.name), err)
		case status == "ERROR" && op == OpDelete:
			return &childFailed{&Error{Op: what, Message: "the " + ch.kind + " went to ERROR instead of going away",
				Hint: "Octavia could not delete it (its worker's log says why); run lbctl down again, or with --cascade"}}
		case status == "ERROR":
			return &childFailed{&Error{Op: what, Message: "the " + ch.kind + " went to ERROR",
				Hint: "Octavia could not apply the change (its worker's log says why); run lbctl up again: it replaces objects in ERROR"}}
		case op == OpDelete:
			return &Error{Op: what, Message: fmt.Sprintf("the %s is still there (%s)", ch.kind, status), Hint: "run lbctl down again"}
		}
		return nil
	}}
}

// childFailed is a change Octavia accepted but failed to carry out: the
// child is in ERROR. A new pass over the tree (up replaces children in
// ERROR; down deletes them again) often succeeds, as such failures are
// mostly transient (a database deadlock in the worker).
type childFailed struct{ err *Error }

func (e *childFailed) Error() string { return e.err.Error() }
func (e *childFailed) Unwrap() error { return e.err }

// maxPasses bounds the passes over a tree whose children went to ERROR.
const maxPasses = 3

// retryPass reports whether err is worth another pass over the tree, and
// says so.
func (r *run) retryPass(err error, pass int) bool {
	var cf *childFailed
	if !errors.As(err, &cf) || pass >= maxPasses {
		return false
	}
	r.p.printf("  %v\n  another pass over the tree (%d of %d)", cf.err, pass+1, maxPasses)
	return true
}
