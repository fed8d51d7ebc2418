package health

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// probe is one call of a scriptedChecker.
type probe struct {
	target     netip.AddrPort
	start, end time.Time
	err        error
}

// scriptedChecker replays scripted results, like Traefik's HealthSequence:
// result(target, n) gives the n-th (0-based) probe of target its outcome and
// how long it takes. It records every call and the peak number of probes of
// one target in flight at once.
type scriptedChecker struct {
	result func(target netip.AddrPort, n int) (time.Duration, error)

	mu       sync.Mutex
	calls    []probe
	inFlight map[netip.AddrPort]int
	peak     int
}

func (s *scriptedChecker) Check(ctx context.Context, target netip.AddrPort) error {
	s.mu.Lock()
	n := 0
	for _, c := range s.calls {
		if c.target == target {
			n++
		}
	}
	if s.inFlight == nil {
		s.inFlight = map[netip.AddrPort]int{}
	}
	s.inFlight[target]++
	s.peak = max(s.peak, s.inFlight[target])
	s.mu.Unlock()
	start := time.Now()
	took, err := s.result(target, n)
	if took > 0 {
		select {
		case <-time.After(took):
		case <-ctx.Done():
			err = fmt.Errorf("scripted probe: %w", ctx.Err())
		}
	}
	s.mu.Lock()
	s.inFlight[target]--
	s.calls = append(s.calls, probe{target: target, start: start, end: time.Now(), err: err})
	s.mu.Unlock()
	return err
}

// starts returns the start times of target's probes, in order.
func (s *scriptedChecker) starts(target netip.AddrPort) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Time
	for _, c := range s.calls {
		if c.target == target {
			out = append(out, c.start)
		}
	}
	return out
}

func (s *scriptedChecker) count(target netip.AddrPort) int { return len(s.starts(target)) }

// sequence scripts outcomes from a string: 'P' passes, 'F' fails; probes
// past the end repeat the last letter.
func sequence(seq string) func(netip.AddrPort, int) (time.Duration, error) {
	return func(_ netip.AddrPort, n int) (time.Duration, error) {
		c := seq[min(n, len(seq)-1)]
		if c == 'F' {
			return 0, fmt.Errorf("scripted failure %d", n+1)
		}
		return 0, nil
	}
}

// event is one Report call.
type event struct {
	id     string
	up     bool
	reason string
	at     time.Time
	probes int // probes of the member's target completed when it was reported
}

// recorder collects Report calls.
type recorder struct {
	mu     sync.Mutex
	events []event
	sc     *scriptedChecker
	addrOf map[string]netip.AddrPort
}

func (r *recorder) report(id string, up bool, reason string) {
	n := 0
	if r.sc != nil {
		n = r.sc.count(r.addrOf[id])
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{id: id, up: up, reason: reason, at: time.Now(), probes: n})
}

func (r *recorder) list() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

// fixture is a monitor driven by a scripted checker.
type fixture struct {
	t      *testing.T
	mon    *Monitor
	sc     *scriptedChecker
	rec    *recorder
	cancel context.CancelFunc
	done   chan struct{}
}

// target returns a member target with a distinct loopback address.
func target(i int) Target {
	return Target{
		ID:      fmt.Sprintf("m%d", i),
		Addr:    netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 1, byte(i)}), 8080),
		Enabled: true, Weight: 1,
	}
}

// tcpConfig is a TCP monitor with the given schedule.
func tcpConfig(delay, timeout time.Duration, rise, fall int) Config {
	return Config{Type: TypeTCP, Delay: delay, Timeout: timeout, Rise: rise, Fall: fall}
}

// startFixture runs a monitor in the current (synctest) bubble.
func startFixture(t *testing.T, result func(netip.AddrPort, int) (time.Duration, error), cfg Config, targets ...Target) *fixture {
	t.Helper()
	sc := &scriptedChecker{result: result}
	rec := &recorder{sc: sc, addrOf: map[string]netip.AddrPort{}}
	for _, tg := range targets {
		rec.addrOf[tg.ID] = tg.ProbeAddr()
	}
	mon := NewMonitor(Options{PoolID: "pool-1", Report: rec.report, Checker: sc})
	if err := mon.Update(cfg, targets); err != nil {
		t.Fatalf("Update: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	f := &fixture{t: t, mon: mon, sc: sc, rec: rec, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		mon.Run(ctx)
	}()
	return f
}

// stop ends Run and waits for it.
func (f *fixture) stop() {
	f.cancel()
	<-f.done
}

func (f *fixture) state(id string) MemberState {
	f.t.Helper()
	s, ok := f.mon.Member(id)
	if !ok {
		f.t.Fatalf("member %s not found", id)
	}
	return s
}
