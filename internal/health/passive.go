package health

import (
	"fmt"
	"math"
	"time"
)

// Passive health defaults.
const (
	DefaultPassiveFailures   = 3
	DefaultEjection          = 10 * time.Second
	DefaultMaxEjection       = 5 * time.Minute
	DefaultMaxEjectedPercent = 50
)

// Passive configures passive health: failures of live traffic, reported by
// the data plane through an Observer, eject a member before the active
// monitor (if any) has noticed. The zero value is the default: on, 3
// consecutive connect failures, 5xx not counted, ejection 10s doubling up to
// 5m, at most half of the pool ejected at once.
//
// Why on by default: a connect failure is unambiguous (the member refused or
// did not answer the SYN), it costs the client a retry and latency every
// time, and Octavia's HAProxy keeps sending to a dead member for up to
// max_retries_down × delay. Three in a row is not noise. The ejection is
// bounded in time, and the percentage cap keeps a pool-wide outage (or a
// broken network path on lbd's side) from emptying the pool on passive
// evidence alone.
//
// Why 5xx is off by default: a 5xx is often the answer to one request (a bad
// URL, a slow query, a 503 from rate limiting) rather than a sign the member
// is broken, and Octavia never ejects on it. Enable ServerErrors for
// stateless backends where any 5xx means the instance is sick.
type Passive struct {
	// Disabled turns passive health off: Observer calls do nothing.
	Disabled bool
	// Failures is how many consecutive counted failures eject a member;
	// 0 means DefaultPassiveFailures.
	Failures int
	// ServerErrors counts 5xx responses as failures. When false a 5xx
	// counts as a success (the member did answer).
	ServerErrors bool
	// Ejection is the first ejection's length; each ejection that follows
	// within MaxEjection of the last readmission doubles it. 0 means
	// DefaultEjection.
	Ejection time.Duration
	// MaxEjection caps the ejection length; 0 means DefaultMaxEjection.
	MaxEjection time.Duration
	// MaxEjectedPercent caps how many of the pool's members may be
	// passively ejected at once (at least one always may be); 0 means
	// DefaultMaxEjectedPercent.
	MaxEjectedPercent int
}

func (p *Passive) validate() error {
	switch {
	case p.Failures < 0 || p.Failures > math.MaxInt32:
		return fmt.Errorf("passive.failures %d: must be between 0 (default) and %d", p.Failures, math.MaxInt32)
	case p.Ejection < 0:
		return fmt.Errorf("passive.ejection %s: must not be negative", p.Ejection)
	case p.MaxEjection < 0:
		return fmt.Errorf("passive.max_ejection %s: must not be negative", p.MaxEjection)
	case p.MaxEjectedPercent < 0 || p.MaxEjectedPercent > 100:
		return fmt.Errorf("passive.max_ejected_percent %d: must be between 0 (default) and 100", p.MaxEjectedPercent)
	}
	return nil
}

// passiveRun is Passive with the defaults applied; immutable once built.
type passiveRun struct {
	disabled     bool
	failures     int32
	serverErrors bool
	ejection     time.Duration
	maxEjection  time.Duration
	maxPercent   int
}

func (p Passive) resolve() *passiveRun {
	r := &passiveRun{
		disabled: p.Disabled, failures: int32(p.Failures), serverErrors: p.ServerErrors,
		ejection: p.Ejection, maxEjection: p.MaxEjection, maxPercent: p.MaxEjectedPercent,
	}
	if r.failures == 0 {
		r.failures = DefaultPassiveFailures
	}
	if r.ejection == 0 {
		r.ejection = DefaultEjection
	}
	if r.maxEjection == 0 {
		r.maxEjection = DefaultMaxEjection
	}
	r.maxEjection = max(r.maxEjection, r.ejection)
	if r.maxPercent == 0 {
		r.maxPercent = DefaultMaxEjectedPercent
	}
	return r
}

// backoff is the length of the ejection at level (0 for the first).
func (r *passiveRun) backoff(level int) time.Duration {
	d := r.ejection
	for i := 0; i < level && d < r.maxEjection; i++ {
		d *= 2
	}
	return min(d, r.maxEjection)
}

// what names the counted failures in log lines.
func (r *passiveRun) what() string {
	if r.serverErrors {
		return "connect failures or 5xx responses"
	}
	return "connect failures"
}

// Observer is the data plane's handle on one member's passive health. Get
// it from Monitor.Observer after Update and keep it next to the member: it
// stays valid for as long as the member's ID stays in the pool. A nil
// *Observer is valid and ignores every call.
//
// The calls are meant for the request path: Success is one atomic load when
// nothing failed before (no store, no allocation); a failure is one atomic
// add, and only the failure that reaches the threshold takes a lock.
type Observer struct {
	m *member
}

// Success records a connection or request the member served. It ends the
// current failure streak.
func (o *Observer) Success() {
	if o == nil {
		return
	}
	if o.m.streak.Load() != 0 {
		o.m.streak.Store(0)
	}
}

// ConnectFailure records a failed connect to the member (refused, reset or
// timed out before it was established).
func (o *Observer) ConnectFailure() { o.failure(false) }

// ServerError records a 5xx response from the member. It counts as a
// failure only with Passive.ServerErrors set, and as a Success otherwise.
func (o *Observer) ServerError() { o.failure(true) }

func (o *Observer) failure(serverError bool) {
	if o == nil {
		return
	}
	p := o.m.mon.cfg.Load().passive
	if p.disabled {
		return
	}
	if serverError && !p.serverErrors {
		o.Success()
		return
	}
	if o.m.streak.Add(1) >= p.failures {
		o.m.eject(p)
	}
}

// tryEject reserves one of the pool's ejection slots.
func (m *Monitor) tryEject(p *passiveRun) bool {
	limit := max(1, int(m.total.Load())*p.maxPercent/100)
	for {
		n := m.ejected.Load()
		if int(n) >= limit {
			return false
		}
		if m.ejected.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// eject takes the member out after a passive failure streak.
func (mem *member) eject(p *passiveRun) {
	mem.mu.Lock()
	defer mem.mu.Unlock()
	streak := mem.streak.Swap(0)
	if mem.removed || mem.ejected || !mem.up || streak < p.failures {
		return // already out, or another caller just handled this streak
	}
	if !mem.mon.tryEject(p) {
		mem.mon.log.Warn("passive health: not ejecting member, too many of the pool's members are ejected already",
			"member_id", mem.id, "member", mem.t.Name, "addr", mem.t.ProbeAddr().String(), "max_ejected_percent", p.maxPercent)
		return
	}
	now := time.Now()
	if !mem.lastEjectEnd.IsZero() && now.Sub(mem.lastEjectEnd) > p.maxEjection {
		mem.ejectLevel = 0 // it behaved for a long while: start over
	}
	d := p.backoff(mem.ejectLevel)
	if mem.ejectLevel < 30 {
		mem.ejectLevel++
	}
	mem.ejected = true
	mem.ejectedUntil = now.Add(d)
	mem.ejectedFor = d
	mem.ejections.Add(1)
	if mem.monitored {
		// Readmission needs max_retries passing probes, as after any down.
		mem.activeUp, mem.rises, mem.falls = false, 0, 0
	}
	epoch := mem.ejectEpoch + 1
	mem.ejectEpoch = epoch
	mem.ejectTimer = time.AfterFunc(d, func() { mem.ejectionOver(epoch) })
	mem.settleLocked(fmt.Sprintf("passive: %d consecutive %s, ejected for %s", streak, p.what(), d))
}

// ejectionOver ends the ejection whose epoch it was armed for.
func (mem *member) ejectionOver(epoch uint64) {
	mem.mu.Lock()
	defer mem.mu.Unlock()
	if mem.removed || !mem.ejected || mem.ejectEpoch != epoch {
		return
	}
	mem.endEjectionLocked()
	reason := fmt.Sprintf("passive ejection of %s ended", mem.ejectedFor)
	if mem.monitored && mem.activeUp {
		reason += ", checks passing"
	}
	mem.settleLocked(reason)
}

// endEjectionLocked readmits the member as far as passive health goes.
func (mem *member) endEjectionLocked() {
	if !mem.ejected {
		return
	}
	mem.ejected = false
	mem.ejectEpoch++
	if mem.ejectTimer != nil {
		mem.ejectTimer.Stop()
		mem.ejectTimer = nil
	}
	mem.lastEjectEnd = time.Now()
	mem.mon.ejected.Add(-1)
}
