package openstack

import (
	"context"
	"fmt"
	"strings"
)

// Op is what a Change does.
type Op string

// The kinds of change.
const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
)

// Change is one step of a plan: one call against the cloud (and, for Octavia,
// the wait for ACTIVE after it).
type Change struct {
	Op     Op     `json:"op"`
	Kind   string `json:"kind"` // "server", "load balancer", "member", ...
	Name   string `json:"name"`
	Detail string `json:"detail,omitempty"` // what differs, e.g. "weight 1 → 2"
	apply  func(ctx context.Context) error
}

func (c Change) String() string {
	sign := map[Op]string{OpCreate: "+", OpUpdate: "~", OpDelete: "-"}[c.Op]
	s := fmt.Sprintf("%s %s %s %q", sign, c.Op, c.Kind, c.Name)
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// IncompleteError is a failed or interrupted Up or Down, with what the run
// had already done, so nothing is left half-created without being named.
type IncompleteError struct {
	Err     error
	Done    []string // what this run created, changed or deleted, in order
	Pending string   // the change in flight when it stopped, if any
	Next    string   // what to run next
}

func (e *IncompleteError) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.Pending != "" {
		fmt.Fprintf(&b, "\nin progress when it stopped: %s (the request may have reached the cloud: check it, or run again)", e.Pending)
	}
	if len(e.Done) > 0 {
		b.WriteString("\nalready done by this run:")
		for _, d := range e.Done {
			b.WriteString("\n  ")
			b.WriteString(d)
		}
	}
	if e.Next != "" {
		b.WriteString("\n")
		b.WriteString(e.Next)
	}
	return b.String()
}

func (e *IncompleteError) Unwrap() error { return e.Err }

// applyAll prints each change and, unless planning, applies it, keeping the
// record of what this run did for IncompleteError.
func (r *run) applyAll(ctx context.Context, changes []Change) error {
	for _, c := range changes {
		r.res.Changes = append(r.res.Changes, c)
		r.p.printf("%s", c)
		if r.plan {
			continue
		}
		r.pending, r.pendingCreated = &c, false
		if err := c.apply(ctx); err != nil {
			return err
		}
		if !r.pendingCreated {
			r.done = append(r.done, strings.TrimLeft(c.String(), "+~- "))
		}
		r.pending = nil
	}
	return nil
}

// created records, as soon as the cloud answered, that the change in flight
// created something, so that a failure in the wait that follows names it.
func (r *run) created(id string) {
	if r.pending == nil {
		return
	}
	r.done = append(r.done, fmt.Sprintf("created %s %q (%s)", r.pending.Kind, r.pending.Name, id))
	r.pendingCreated = true
}

// incomplete wraps a failure with the run's record.
func (r *run) incomplete(err error, next string) error {
	pending := ""
	if r.pending != nil && !r.pendingCreated {
		pending = strings.TrimLeft(r.pending.String(), "+~- ")
	}
	if len(r.done) == 0 && pending == "" {
		return err
	}
	return &IncompleteError{Err: err, Done: r.done, Pending: pending, Next: next}
}
