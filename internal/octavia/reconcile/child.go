package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"
)

// walker makes the changes of one load balancer's tree: it knows the pools'
// IDs as they are found or created, and what to tell a person whose change
// failed.
type walker struct {
	c       *Client
	run     *Run
	poolIDs map[string]string // pool name → ID
	// listenerIDs maps the file's listener IDs to the cloud's, as they are
	// matched or created.
	listenerIDs map[string]string
	again       string // the command that resumes, for hints
	replace     bool   // objects in ERROR are replaced (hints say so)
}

// child is an object of a load balancer's tree as a change sees it: its
// kind and name for messages, and how to read its provisioning_status by
// ID. When Octavia fails a change, the load balancer returns to ACTIVE but
// the child is left in ERROR, so the load balancer's status alone does not
// tell whether the change worked.
type child struct {
	kind, name string
	get        func(ctx context.Context, id string) (string, error) // nil: nothing to read back
}

func (w *walker) listenerChild(name string) child {
	return child{"listener", name, func(ctx context.Context, id string) (string, error) {
		l, err := listeners.Get(ctx, w.c.SC, id).Extract()
		if err != nil {
			return "", err
		}
		return l.ProvisioningStatus, nil
	}}
}

func (w *walker) poolChild(name string) child {
	return child{"pool", name, func(ctx context.Context, id string) (string, error) {
		p, err := pools.Get(ctx, w.c.SC, id).Extract()
		if err != nil {
			return "", err
		}
		return p.ProvisioningStatus, nil
	}}
}

// memberChild reads a member of the pool named pool, whose ID is known only
// when the change runs (the pool may be created by the same plan).
func (w *walker) memberChild(name, pool string) child {
	return child{"member", name, func(ctx context.Context, id string) (string, error) {
		m, err := pools.GetMember(ctx, w.c.SC, w.poolIDs[pool], id).Extract()
		if err != nil {
			return "", err
		}
		return m.ProvisioningStatus, nil
	}}
}

func (w *walker) monitorChild(name string) child {
	return child{"health monitor", name, func(ctx context.Context, id string) (string, error) {
		m, err := monitors.Get(ctx, w.c.SC, id).Extract()
		if err != nil {
			return "", err
		}
		return m.ProvisioningStatus, nil
	}}
}

// change is one change of the load balancer's tree: the call (which
// returns the child's ID), retried while the load balancer is busy, the
// wait for the load balancer to be ACTIVE again, then a look at the child.
func (w *walker) change(lb LBRef, op Op, ch child, detail string, call func(ctx context.Context) (string, error)) Change {
	what := fmt.Sprintf("%s %s %q", op, ch.kind, ch.name)
	return Change{Op: op, Kind: ch.kind, Name: ch.name, Detail: detail, Do: func(ctx context.Context) error {
		var id string
		err := w.c.Mutate(ctx, lb, what, op == OpDelete, func(ctx context.Context) error {
			var err error
			id, err = call(ctx)
			return err
		})
		if err != nil || ch.get == nil || id == "" {
			return err
		}
		status, err := ch.get(ctx, id)
		again := "run " + w.again + " again"
		switch {
		case op == OpDelete && isCode(err, http.StatusNotFound):
			return nil
		case err != nil:
			return w.c.describe(fmt.Sprintf("read %s %q back", ch.kind, ch.name), err)
		case status == "ERROR" && op == OpDelete:
			return &childFailed{&Error{Op: what, Message: "the " + ch.kind + " went to ERROR instead of going away",
				Hint: "Octavia could not delete it (its worker's log says why); " + again + ", or with --cascade"}}
		case status == "ERROR":
			if w.replace {
				again += ": it replaces objects in ERROR"
			}
			return &childFailed{&Error{Op: what, Message: "the " + ch.kind + " went to ERROR",
				Hint: "Octavia could not apply the change (its worker's log says why); " + again}}
		case op == OpDelete:
			return &Error{Op: what, Message: fmt.Sprintf("the %s is still there (%s)", ch.kind, status), Hint: again}
		}
		return nil
	}}
}

// childFailed is a change Octavia accepted but failed to carry out: the
// child is in ERROR. A new pass over the tree (objects in ERROR are replaced
// or deleted again) often succeeds, as such failures are mostly transient (a
// database deadlock in the worker).
type childFailed struct{ err *Error }

func (e *childFailed) Error() string { return e.err.Error() }
func (e *childFailed) Unwrap() error { return e.err }

// maxPasses bounds the passes over a tree whose children went to ERROR.
const maxPasses = 3

// retryPass reports whether err is worth another pass over the tree, and
// says so.
func (w *walker) retryPass(err error, pass int) bool {
	var cf *childFailed
	if !errors.As(err, &cf) || pass >= maxPasses {
		return false
	}
	w.c.Printf("  %v\n  another pass over the tree (%d of %d)", cf.err, pass+1, maxPasses)
	return true
}

func (w *walker) deleteListener(lb LBRef, a listeners.Listener, why string) Change {
	return w.change(lb, OpDelete, w.listenerChild(ListenerName(a.Name, a.Protocol, a.ProtocolPort)), why, func(ctx context.Context) (string, error) {
		return a.ID, listeners.Delete(ctx, w.c.SC, a.ID).Err
	})
}

func (w *walker) deletePool(lb LBRef, a pools.Pool, why string) Change {
	return w.change(lb, OpDelete, w.poolChild(firstOf(a.Name, a.ID)), why, func(ctx context.Context) (string, error) {
		return a.ID, pools.Delete(ctx, w.c.SC, a.ID).Err
	})
}

func (w *walker) deleteMember(lb LBRef, pool string, a pools.Member, why string) Change {
	return w.change(lb, OpDelete, w.memberChild(memberName(a.Name, a.Address, a.ProtocolPort), pool), why, func(ctx context.Context) (string, error) {
		return a.ID, pools.DeleteMember(ctx, w.c.SC, w.poolIDs[pool], a.ID).Err
	})
}

func (w *walker) deleteMonitor(lb LBRef, pool string, a monitors.Monitor, why string) Change {
	return w.change(lb, OpDelete, w.monitorChild(monitorName(a.Name, pool)), why, func(ctx context.Context) (string, error) {
		return a.ID, monitors.Delete(ctx, w.c.SC, a.ID).Err
	})
}
