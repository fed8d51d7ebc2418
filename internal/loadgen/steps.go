package loadgen

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Step is one stretch of a stepped open loop: Rate requests per second for
// For.
type Step struct {
	Rate float64
	For  time.Duration
}

// Steps runs the open loop at each step's rate in turn, from start, and
// returns how many requests fell due. The outcomes' times count from start
// (not from each step's). Between steps the loop waits for the answers of
// the step before, which takes one response time.
func (l Open) Steps(ctx context.Context, start time.Time, steps []Step, obs Observer) (due uint64) {
	for _, s := range steps {
		if ctx.Err() != nil {
			break
		}
		at := time.Now()
		if s.Rate > 0 {
			l.Rate = s.Rate
			due += l.Run(ctx, at, s.For, shifted{obs: obs, by: at.Sub(start)})
		}
		// Run returns once the last request's answer is in, which can be
		// before the step's end: the next step starts on time.
		if rest := s.For - time.Since(at); rest > 0 {
			t := time.NewTimer(rest)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	return due
}

// shifted moves outcomes' times from a step's start to the run's.
type shifted struct {
	obs Observer
	by  time.Duration
}

func (s shifted) Observe(o *Outcome) {
	o.Due += s.by
	if o.Sent >= 0 {
		o.Sent += s.by
	}
	o.Done += s.by
	s.obs.Observe(o)
}

// Timeline is an Observer that counts outcomes by the second they fell
// due in: requests, complete 200s, failures and the latencies (from due
// to done), for a per-second view of a run. Safe for concurrent use.
type Timeline struct {
	mu      sync.Mutex
	seconds []second
	failed  []Outcome
}

type second struct {
	ok, failed int
	latencies  []time.Duration
}

// Second is one second of a Timeline.
type Second struct {
	At       time.Duration // the second's start, into the run
	Requests int
	OK       int // complete 200s
	Failed   int // everything else
	P50, P95 time.Duration
	Max      time.Duration
}

// Observe counts one outcome.
func (t *Timeline) Observe(o *Outcome) {
	i := int(o.Due / time.Second)
	if i < 0 {
		i = 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for len(t.seconds) <= i {
		t.seconds = append(t.seconds, second{})
	}
	s := &t.seconds[i]
	if o.Failure == OK && o.Status == 200 {
		s.ok++
		s.latencies = append(s.latencies, o.Done-o.Due)
		return
	}
	s.failed++
	f := *o
	f.Backend = nil
	t.failed = append(t.failed, f)
}

// Seconds returns the run so far, second by second.
func (t *Timeline) Seconds() []Second {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Second, len(t.seconds))
	for i, s := range t.seconds {
		lat := slices.Clone(s.latencies)
		slices.Sort(lat)
		out[i] = Second{At: time.Duration(i) * time.Second, Requests: s.ok + s.failed, OK: s.ok, Failed: s.failed,
			P50: quantile(lat, 0.50), P95: quantile(lat, 0.95)}
		if len(lat) > 0 {
			out[i].Max = lat[len(lat)-1]
		}
	}
	return out
}

// Failures returns the failed outcomes so far (their Backend cleared).
func (t *Timeline) Failures() []Outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.failed)
}

// quantile is the nearest-rank quantile of sorted durations; 0 for none.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
