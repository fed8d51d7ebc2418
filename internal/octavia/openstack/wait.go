package openstack

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
)

// Provisioner runs Up and Down against one cloud. The zero values of the
// durations mean their defaults.
type Provisioner struct {
	Clients *Clients
	Out     io.Writer     // the plan and progress, for people; nil discards
	Log     *slog.Logger  // details for debugging; nil discards
	Timeout time.Duration // bound of every single wait and retry loop (default 10m)
	Poll    time.Duration // first poll interval (default 1s); later polls back off to 5s
}

const (
	defaultTimeout = 10 * time.Minute
	defaultPoll    = time.Second
	maxPoll        = 5 * time.Second
	heartbeat      = 15 * time.Second // how often a long wait says it is still waiting
)

func (p *Provisioner) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return defaultTimeout
}

func (p *Provisioner) poll() time.Duration {
	if p.Poll > 0 {
		return p.Poll
	}
	return defaultPoll
}

func (p *Provisioner) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (p *Provisioner) printf(format string, args ...any) {
	if p.Out != nil {
		fmt.Fprintf(p.Out, format+"\n", args...)
	}
}

// probe reports a resource's status and whether the wait is over.
type probe func(ctx context.Context) (status string, done bool, err error)

// waitFor polls check until it is done, the status is one of failed, the
// bound (Timeout) passes or ctx ends. Status changes are printed as they are
// seen, and a long wait says every so often that it is still waiting.
func (p *Provisioner) waitFor(ctx context.Context, what, want string, failed []string, hint string, check probe) error {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	interval := p.poll()
	last, lastSaid := "", start
	for {
		status, done, err := check(wctx)
		switch {
		case err != nil && wctx.Err() == nil && transient(err):
			p.log().Debug("read failed while waiting; trying again", "what", what, "err", err)
		case err != nil && wctx.Err() == nil:
			return err
		case err == nil:
			switch {
			case status != last:
				p.printf("    %s: %s (%s)", what, status, time.Since(start).Round(100*time.Millisecond))
				last, lastSaid = status, time.Now()
			case time.Since(lastSaid) >= heartbeat:
				p.printf("    %s: still %s (%s)", what, status, time.Since(start).Round(time.Second))
				lastSaid = time.Now()
			}
			if done {
				return nil
			}
			if slices.Contains(failed, status) {
				return &WaitError{What: what, Want: want, Status: status, After: time.Since(start), Failed: true, Hint: hint}
			}
		}
		t := time.NewTimer(interval)
		select {
		case <-wctx.Done():
			t.Stop()
			we := &WaitError{What: what, Want: want, Status: last, After: time.Since(start)}
			if ctx.Err() != nil {
				we.Err = ctx.Err()
			} else {
				we.Hint = "raise --timeout, or run the same command again later: it resumes where this stopped"
			}
			return we
		case <-t.C:
		}
		interval = min(interval*3/2, maxPoll)
	}
}

// lbRef names a load balancer in messages and waits.
type lbRef struct {
	ID, Name string
}

func (r lbRef) String() string { return fmt.Sprintf("load balancer %q (%s)", r.Name, r.ID) }

// waitLB waits for the load balancer's provisioning_status to be ACTIVE.
func (p *Provisioner) waitLB(ctx context.Context, lb lbRef) error {
	return p.waitFor(ctx, lb.String(), "ACTIVE", []string{"ERROR"},
		"Octavia could not provision it; `openstack loadbalancer show "+lb.ID+"` and the Octavia worker's log say why; `lbctl down` removes it",
		func(ctx context.Context) (string, bool, error) {
			got, err := loadbalancers.Get(ctx, p.Clients.LoadBalancer, lb.ID).Extract()
			if err != nil {
				return "", false, describe("read "+lb.String(), err)
			}
			return got.ProvisioningStatus, got.ProvisioningStatus == "ACTIVE", nil
		})
}

// waitLBGone waits until the load balancer is deleted.
func (p *Provisioner) waitLBGone(ctx context.Context, lb lbRef) error {
	return p.waitFor(ctx, lb.String(), "deleted", []string{"ERROR"},
		"Octavia could not delete it; `openstack loadbalancer show "+lb.ID+"` and the Octavia worker's log say why; run lbctl down again (with --cascade)",
		func(ctx context.Context) (string, bool, error) {
			got, err := loadbalancers.Get(ctx, p.Clients.LoadBalancer, lb.ID).Extract()
			if isCode(err, http.StatusNotFound) {
				return "deleted", true, nil
			}
			if err != nil {
				return "", false, describe("read "+lb.String(), err)
			}
			return got.ProvisioningStatus, got.ProvisioningStatus == "DELETED", nil
		})
}

// mutate runs one change of the load balancer's tree and waits for the load
// balancer to be ACTIVE again. A 409 because something is PENDING_* (or a
// 503 "busy") is waited out and retried with back-off until the bound, never
// shown. For deletes (gone true), a 404 means the object is already gone.
func (p *Provisioner) mutate(ctx context.Context, lb lbRef, op string, gone bool, call func(ctx context.Context) error) error {
	start := time.Now()
	backoff := p.poll()
	for attempt := 1; ; attempt++ {
		err := call(ctx)
		switch {
		case err == nil:
			return p.waitLB(ctx, lb)
		case gone && isCode(err, http.StatusNotFound):
			p.log().Debug("already gone", "op", op)
			return nil
		case !isBusy(err):
			return describe(op, err)
		}
		if time.Since(start) > p.timeout() {
			return &Error{Op: op, Code: http.StatusConflict, Message: fmt.Sprintf("%s stayed busy (PENDING_*) for %s", lb, time.Since(start).Round(time.Second)),
				Hint: "another client keeps changing it, or Octavia's worker is stuck; check `openstack loadbalancer show " + lb.ID + "`, then run lbctl again", Err: err}
		}
		p.log().Debug("load balancer busy, waiting before retrying", "op", op, "attempt", attempt, "err", faultOf(err))
		if err := p.waitLB(ctx, lb); err != nil {
			return err
		}
		if err := sleep(ctx, backoff); err != nil {
			return describe(op, err)
		}
		backoff = min(backoff*2, maxPoll)
	}
}

func faultOf(err error) string {
	if e, ok := describe("", err).(*Error); ok {
		return e.Message
	}
	return err.Error()
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
