package reconcile

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"
)

// Waiter polls what a change started until it settles, telling a person how
// it goes. The zero values of the durations mean their defaults.
type Waiter struct {
	Out     io.Writer     // the plan and progress, for people; nil discards
	Log     *slog.Logger  // details for debugging; nil discards
	Timeout time.Duration // bound of every single wait and retry loop (default 10m)
	Poll    time.Duration // first poll interval (default 1s); later polls back off to MaxPoll
}

const (
	defaultTimeout = 10 * time.Minute
	defaultPoll    = time.Second
	// MaxPoll is the longest interval between polls and between retries.
	MaxPoll   = 5 * time.Second
	heartbeat = 15 * time.Second // how often a long wait says it is still waiting
)

// Bound is the bound of one wait or retry loop.
func (w *Waiter) Bound() time.Duration {
	if w.Timeout > 0 {
		return w.Timeout
	}
	return defaultTimeout
}

// FirstPoll is the first interval between polls.
func (w *Waiter) FirstPoll() time.Duration {
	if w.Poll > 0 {
		return w.Poll
	}
	return defaultPoll
}

// Logger returns Log, or a logger that discards.
func (w *Waiter) Logger() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Printf writes a line of progress to Out (nothing for a nil Waiter).
func (w *Waiter) Printf(format string, args ...any) {
	if w != nil && w.Out != nil {
		fmt.Fprintf(w.Out, format+"\n", args...)
	}
}

// Probe reports a resource's status and whether the wait is over.
type Probe func(ctx context.Context) (status string, done bool, err error)

// WaitFor polls check until it is done, the status is one of failed, the
// bound passes or ctx ends. Status changes are printed as they are seen, and
// a long wait says every so often that it is still waiting. what names the
// resource and want the status waited for, in messages; hint is the
// WaitError's when the resource fails.
func (w *Waiter) WaitFor(ctx context.Context, what, want string, failed []string, hint string, check Probe) error {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, w.Bound())
	defer cancel()
	interval := w.FirstPoll()
	last, lastSaid := "", start
	for {
		status, done, err := check(wctx)
		switch {
		case err != nil && wctx.Err() == nil && Transient(err):
			w.Logger().Debug("read failed while waiting; trying again", "what", what, "err", err)
		case err != nil && wctx.Err() == nil:
			return err
		case err == nil:
			switch {
			case status != last:
				w.Printf("    %s: %s (%s)", what, status, time.Since(start).Round(100*time.Millisecond))
				last, lastSaid = status, time.Now()
			case time.Since(lastSaid) >= heartbeat:
				w.Printf("    %s: still %s (%s)", what, status, time.Since(start).Round(time.Second))
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
		interval = min(interval*3/2, MaxPoll)
	}
}

// Sleep waits for d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
