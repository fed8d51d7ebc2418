package reconcile

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

// Change is one step of a plan: one call against the cloud (and, for
// Octavia, the wait for ACTIVE after it).
type Change struct {
	Op     Op     `json:"op"`
	Kind   string `json:"kind"` // "server", "load balancer", "member", ...
	Name   string `json:"name"` // how a person names the object: its name, else what identifies it; "" for one that has neither yet (a new floating IP)
	Detail string `json:"detail,omitempty"`
	// Do makes the change; nil for a change that can only be planned
	// (what it would act on does not exist yet).
	Do func(ctx context.Context) error `json:"-"`
}

func (c Change) String() string {
	sign := map[Op]string{OpCreate: "+", OpUpdate: "~", OpDelete: "-"}[c.Op]
	s := fmt.Sprintf("%s %s %s", sign, c.Op, c.Kind)
	if c.Name != "" {
		s += fmt.Sprintf(" %q", c.Name)
	}
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// IncompleteError is a failed or interrupted run, with what the run had
// already done, so nothing is left half-created without being named.
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

// Run is one plan or apply: the changes in the order they were planned or
// made, and the record of what was done, for IncompleteError.
type Run struct {
	Plan    bool     // only list the changes
	Changes []Change // the changes made (or, with Plan, listed), in order

	out            *Waiter
	done           []string // what this run did
	pending        *Change  // the change being applied
	pendingCreated bool     // the pending change's resource exists (recorded in done)
}

// NewRun starts a run that prints each change to w's Out.
func NewRun(w *Waiter, plan bool) *Run { return &Run{Plan: plan, out: w} }

// Apply prints each change and, unless planning, makes it, keeping the
// record of what this run did.
func (r *Run) Apply(ctx context.Context, changes []Change) error {
	for _, c := range changes {
		r.out.Printf("%s", c)
		if r.Plan || c.Do == nil {
			r.Changes = append(r.Changes, c)
			continue
		}
		r.pending, r.pendingCreated = &c, false
		if err := c.Do(ctx); err != nil {
			return err
		}
		r.Changes = append(r.Changes, c)
		if !r.pendingCreated {
			r.done = append(r.done, strings.TrimLeft(c.String(), "+~- "))
		}
		r.pending = nil
	}
	return nil
}

// Created records, as soon as the cloud answered, that the change in flight
// created something, so that a failure in the wait that follows names it.
func (r *Run) Created(id string) {
	if r.pending == nil {
		return
	}
	if r.pending.Name == "" {
		r.done = append(r.done, fmt.Sprintf("created %s %s", r.pending.Kind, id))
	} else {
		r.done = append(r.done, fmt.Sprintf("created %s %q (%s)", r.pending.Kind, r.pending.Name, id))
	}
	r.pendingCreated = true
}

// Incomplete wraps a failure with the run's record; next says what to run.
// A run that did nothing returns err as it is.
func (r *Run) Incomplete(err error, next string) error {
	pending := ""
	if r.pending != nil && !r.pendingCreated {
		pending = strings.TrimLeft(r.pending.String(), "+~- ")
	}
	if len(r.done) == 0 && pending == "" {
		return err
	}
	return &IncompleteError{Err: err, Done: r.done, Pending: pending, Next: next}
}
