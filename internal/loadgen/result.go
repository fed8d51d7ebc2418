package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Failed is one request that did not get a complete 200.
type Failed struct {
	At     time.Time     // when it was sent
	Took   time.Duration // until it failed
	Status int           // 0: no response head
	Err    string
}

// Result is the tests' Observer: it counts complete 200s by backend (the
// demo backend's X-Backend) and keeps every other outcome with its detail.
// It is safe to read while the load runs.
type Result struct {
	OK       atomic.Int64
	start    time.Time
	mu       sync.Mutex
	failures []Failed
	backends map[string]int
}

// NewResult returns an empty Result for a load started at start.
func NewResult(start time.Time) *Result { return &Result{start: start, backends: map[string]int{}} }

// Observe counts one outcome.
func (r *Result) Observe(o *Outcome) {
	if o.Failure == OK && o.Status == 200 {
		r.OK.Add(1)
		r.mu.Lock()
		r.backends[string(o.Backend)]++
		r.mu.Unlock()
		return
	}
	f := Failed{At: r.start.Add(o.Sent), Took: o.Done - o.Sent, Status: o.Status, Err: fmt.Sprintf("status %d", o.Status)}
	if o.Sent < 0 {
		f.At, f.Took = r.start.Add(o.Due), 0
	}
	if o.Err != nil {
		f.Err = o.Failure.String() + ": " + o.Err.Error()
	}
	r.mu.Lock()
	r.failures = append(r.failures, f)
	r.mu.Unlock()
}

// Failures returns the failed requests so far.
func (r *Result) Failures() []Failed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Failed(nil), r.failures...)
}

// Backends counts the complete 200s by the X-Backend that answered.
func (r *Result) Backends() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.backends))
	for k, v := range r.backends {
		out[k] = v
	}
	return out
}

func (r *Result) String() string {
	f := r.Failures()
	s := fmt.Sprintf("%d ok, %d failed", r.OK.Load(), len(f))
	for i, x := range f {
		if i == 5 {
			s += fmt.Sprintf("; ... %d more", len(f)-5)
			break
		}
		s += fmt.Sprintf("; [%d after %v: %s]", x.Status, x.Took.Round(time.Millisecond), x.Err)
	}
	return s
}

// Run is the tests' load: GET path to addr from workers keep-alive
// connections (Closed), until stop closes; every failure is kept. It
// returns when the requests in flight are answered.
func Run(addr, path string, workers int, stop <-chan struct{}) *Result {
	res, done := Start(addr, path, workers, stop)
	<-done
	return res
}

// Start is Run in the background: res counts as the load goes, done closes
// when the workers have stopped.
func Start(addr, path string, workers int, stop <-chan struct{}) (res *Result, done <-chan struct{}) {
	start := time.Now()
	res = NewResult(start)
	finished := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-stop:
		case <-finished:
		}
		cancel()
	}()
	go func() {
		Closed{Target: Target{Addr: addr, Path: path}, Workers: workers}.Run(ctx, start, 0, res)
		close(finished)
	}()
	return res, finished
}
