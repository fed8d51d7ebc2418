package health

import (
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"lbd/internal/stats"
)

// MemberState is a member's health as the API and metrics show it.
type MemberState struct {
	ID        string
	ProbeAddr netip.AddrPort
	// Up is the verdict last reported: the member may take traffic as far
	// as health goes (admin state and weight aside).
	Up bool
	// Status is the member's health status, admin state and weight
	// included.
	Status Status
	// Checked is false until the first probe since the member's checks
	// (re)started completes.
	Checked bool
	// ConsecutivePassed and ConsecutiveFailed are the current streaks
	// (HAProxy's "UP 1/3" and "DOWN 2/2").
	ConsecutivePassed, ConsecutiveFailed int
	// LastCheck is when the last probe started and LastDuration how long it
	// took; LastError is why it failed, empty when it passed.
	LastCheck    time.Time
	LastDuration time.Duration
	LastError    string
	// LastChange is when Up last changed (or the member was added).
	LastChange time.Time
	// Ejected is true while passive health holds the member out, until
	// EjectedUntil.
	Ejected      bool
	EjectedUntil time.Time
	// Counters since the member was added.
	ChecksPassed, ChecksFailed uint64
	Downs                      uint64 // up→down transitions (HAProxy chkdown)
	Ejections                  uint64 // passive ejections
}

// Status returns every member's state, in the order of the last Update.
func (m *Monitor) Status() []MemberState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]MemberState, len(m.order))
	for i, mem := range m.order {
		mem.stateInto(&out[i])
	}
	return out
}

// FillStatus is Status into the caller's storage: it writes the state of
// each of the first n members, in the order of the last Update, to the
// MemberState that at returns for its index, and returns how many it wrote
// (fewer than n when the monitor has fewer members). It allocates nothing,
// so a caller that keeps its storage from one read to the next (a metrics
// scrape) reads thousands of members without garbage. at is called with
// the monitor locked: it must only return where to write, and must not
// call the Monitor.
func (m *Monitor) FillStatus(n int, at func(i int) *MemberState) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n = min(n, len(m.order))
	for i, mem := range m.order[:n] {
		mem.stateInto(at(i))
	}
	return n
}

// Member returns the state of the member with that ID.
func (m *Monitor) Member(id string) (MemberState, bool) {
	m.mu.Lock()
	mem := m.members[id]
	m.mu.Unlock()
	if mem == nil {
		return MemberState{}, false
	}
	var s MemberState
	mem.stateInto(&s)
	return s, true
}

// stateInto writes the member's state to s.
func (mem *member) stateInto(s *MemberState) {
	mem.mu.Lock()
	defer mem.mu.Unlock()
	*s = MemberState{
		ID: mem.id, ProbeAddr: mem.t.ProbeAddr(), Up: mem.up, Status: mem.statusLocked(),
		Checked: mem.checked, ConsecutivePassed: mem.rises, ConsecutiveFailed: mem.falls,
		LastCheck: mem.lastCheck, LastDuration: mem.lastDur, LastError: mem.lastErr, LastChange: mem.lastChange,
		Ejected: mem.ejected, EjectedUntil: mem.ejectedUntil,
		ChecksPassed: mem.passed.Load(), ChecksFailed: mem.failed.Load(),
		Downs: mem.downs.Load(), Ejections: mem.ejections.Load(),
	}
}

// ProbeCount is how many probes of one type passed and failed.
type ProbeCount struct {
	Type           Type
	Passed, Failed uint64
}

// countedTypes are the types probes are counted by, in ProbeCounts' order.
var countedTypes = [...]Type{TypeHTTP, TypeHTTPS, TypePing, TypeTCP, TypeTLSHello, TypeUDPConnect}

// probeCounts counts probes by type and result, and their durations by
// type, with atomics only.
type probeCounts struct {
	results   [len(countedTypes)][2]atomic.Uint64
	durations [len(countedTypes)]stats.Histogram
}

func (c *probeCounts) add(t Type, passed bool, d time.Duration) {
	for i, ct := range countedTypes {
		if ct == t {
			r := 1
			if passed {
				r = 0
			}
			c.results[i][r].Add(1)
			c.durations[i].Observe(d)
			return
		}
	}
}

// ProbeDurations returns the histogram of probe durations of one type, or
// nil for a type that is never probed.
func (m *Monitor) ProbeDurations(t Type) *stats.Histogram {
	for i, ct := range countedTypes {
		if ct == t {
			return &m.counts.durations[i]
		}
	}
	return nil
}

// ProbeCounts returns the monitor's probe counters by type since it was
// created, for every type; they only grow, so they export as counters.
func (m *Monitor) ProbeCounts() []ProbeCount {
	out := make([]ProbeCount, len(countedTypes))
	for i, t := range countedTypes {
		out[i] = ProbeCount{Type: t, Passed: m.counts.results[i][0].Load(), Failed: m.counts.results[i][1].Load()}
	}
	return out
}

// Status is a member's health status. The statuses are a member's
// operating_status values and are spelled as Octavia spells them, which is
// how logs show them; the roll-ups to pools, listeners and load balancers
// are the API model's (package octavia), not health's.
type Status uint8

// Member statuses, as Octavia's health manager derives them from HAProxy's
// server states.
const (
	StatusOnline    Status = iota // UP
	StatusOffline                 // MAINT: admin down
	StatusError                   // DOWN
	StatusDraining                // DRAIN: weight 0
	StatusNoMonitor               // UP with "no check"
)

var statusNames = [...]string{
	StatusOnline: "ONLINE", StatusOffline: "OFFLINE", StatusError: "ERROR",
	StatusDraining: "DRAINING", StatusNoMonitor: "NO_MONITOR",
}

// String returns the status as Octavia spells it ("NO_MONITOR").
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// MemberFacts is what a member's status depends on.
type MemberFacts struct {
	Enabled   bool // admin_state_up
	Weight    int
	Monitored bool // the pool has an enabled health monitor
	Healthy   bool // the health verdict (MemberState.Up)
}

// MemberStatus derives a member's status as Octavia's health manager does
// from HAProxy's server status: admin down is MAINT → OFFLINE; down is DOWN
// → ERROR; weight 0 is DRAIN → DRAINING; no enabled monitor is "no check" →
// NO_MONITOR; otherwise UP → ONLINE. A member that passive health ejected
// is ERROR even without a monitor: it is out of rotation.
func MemberStatus(f MemberFacts) Status {
	switch {
	case !f.Enabled:
		return StatusOffline
	case !f.Healthy:
		return StatusError
	case f.Weight == 0:
		return StatusDraining
	case !f.Monitored:
		return StatusNoMonitor
	}
	return StatusOnline
}
