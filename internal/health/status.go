package health

import (
	"net/netip"
	"sync/atomic"
	"time"

	"lbd/internal/octavia"
	"lbd/internal/stats"
)

// MemberState is a member's health as the API and metrics show it.
type MemberState struct {
	ID        string
	ProbeAddr netip.AddrPort
	// Up is the verdict last reported: the member may take traffic as far
	// as health goes (admin state and weight aside).
	Up bool
	// OperatingStatus is the member's Octavia operating_status.
	OperatingStatus octavia.OperatingStatus
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
		out[i] = mem.state()
	}
	return out
}

// Member returns the state of the member with that ID.
func (m *Monitor) Member(id string) (MemberState, bool) {
	m.mu.Lock()
	mem := m.members[id]
	m.mu.Unlock()
	if mem == nil {
		return MemberState{}, false
	}
	return mem.state(), true
}

func (mem *member) state() MemberState {
	mem.mu.Lock()
	defer mem.mu.Unlock()
	return MemberState{
		ID: mem.id, ProbeAddr: mem.t.ProbeAddr(), Up: mem.up, OperatingStatus: mem.statusLocked(),
		Checked: mem.checked, ConsecutivePassed: mem.rises, ConsecutiveFailed: mem.falls,
		LastCheck: mem.lastCheck, LastDuration: mem.lastDur, LastError: mem.lastErr, LastChange: mem.lastChange,
		Ejected: mem.ejected, EjectedUntil: mem.ejectedUntil,
		ChecksPassed: mem.passed.Load(), ChecksFailed: mem.failed.Load(),
		Downs: mem.downs.Load(), Ejections: mem.ejections.Load(),
	}
}

// ProbeCount is how many probes of one type passed and failed.
type ProbeCount struct {
	Type           octavia.MonitorType
	Passed, Failed uint64
}

var countedTypes = [...]octavia.MonitorType{
	octavia.MonitorHTTP, octavia.MonitorHTTPS, octavia.MonitorPING,
	octavia.MonitorTCP, octavia.MonitorTLSHello, octavia.MonitorUDPConnect,
}

// probeCounts counts probes by type and result, and their durations by
// type, with atomics only.
type probeCounts struct {
	results   [len(countedTypes)][2]atomic.Uint64
	durations [len(countedTypes)]stats.Histogram
}

func (c *probeCounts) add(t octavia.MonitorType, passed bool, d time.Duration) {
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
func (m *Monitor) ProbeDurations(t octavia.MonitorType) *stats.Histogram {
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

// MemberFacts is what a member's operating_status depends on.
type MemberFacts struct {
	Enabled   bool // admin_state_up
	Weight    int
	Monitored bool // the pool has an enabled health monitor
	Healthy   bool // the health verdict (MemberState.Up)
}

// MemberStatus derives a member's operating_status as Octavia's health
// manager does from HAProxy's server status: admin down is MAINT → OFFLINE;
// down is DOWN → ERROR; weight 0 is DRAIN → DRAINING; no enabled monitor is
// "no check" → NO_MONITOR; otherwise UP → ONLINE. A member that passive
// health ejected is ERROR even without a monitor: it is out of rotation.
func MemberStatus(f MemberFacts) octavia.OperatingStatus {
	switch {
	case !f.Enabled:
		return octavia.OperatingOffline
	case !f.Healthy:
		return octavia.OperatingError
	case f.Weight == 0:
		return octavia.OperatingDraining
	case !f.Monitored:
		return octavia.OperatingNoMonitor
	}
	return octavia.OperatingOnline
}

// PoolStatus derives a pool's operating_status from its members' as
// Octavia does from HAProxy's backend status: OFFLINE when the pool is not
// enabled (pass false too for a pool no enabled listener uses: Octavia's
// amphora does not render it); ERROR when it has members but none can take
// traffic (HAProxy's backend is DOWN: every member down, disabled or
// drained; backups count); DEGRADED when some member is ERROR; ONLINE
// otherwise, including for a pool without members, which HAProxy reports UP.
func PoolStatus(enabled bool, members []octavia.OperatingStatus) octavia.OperatingStatus {
	if !enabled {
		return octavia.OperatingOffline
	}
	usable, failed := false, false
	for _, s := range members {
		switch s {
		case octavia.OperatingOnline, octavia.OperatingNoMonitor:
			usable = true
		case octavia.OperatingError:
			failed = true
		}
	}
	switch {
	case len(members) > 0 && !usable:
		return octavia.OperatingError
	case failed:
		return octavia.OperatingDegraded
	}
	return octavia.OperatingOnline
}

// ListenerStatus derives a listener's operating_status: OFFLINE when
// disabled, DEGRADED while it is at its connection_limit (HAProxy FULL),
// ONLINE otherwise. As in Octavia, a listener's pools do not affect it.
func ListenerStatus(enabled, full bool) octavia.OperatingStatus {
	switch {
	case !enabled:
		return octavia.OperatingOffline
	case full:
		return octavia.OperatingDegraded
	}
	return octavia.OperatingOnline
}

// LoadBalancerStatus derives a load balancer's operating_status: OFFLINE
// when disabled; ERROR when any pool is ERROR; DEGRADED when any listener or
// pool is DEGRADED; ONLINE otherwise. A listener in ERROR does not change
// the load balancer's status, as in Octavia's health manager.
func LoadBalancerStatus(enabled bool, listeners, pools []octavia.OperatingStatus) octavia.OperatingStatus {
	if !enabled {
		return octavia.OperatingOffline
	}
	status := octavia.OperatingOnline
	for _, s := range pools {
		switch s {
		case octavia.OperatingError:
			return octavia.OperatingError
		case octavia.OperatingDegraded:
			status = octavia.OperatingDegraded
		}
	}
	for _, s := range listeners {
		if s == octavia.OperatingDegraded {
			status = octavia.OperatingDegraded
		}
	}
	return status
}

// MonitorStatus is a health monitor's operating_status: Octavia sets it
// from the admin state alone, ONLINE when enabled and OFFLINE when not.
func MonitorStatus(enabled bool) octavia.OperatingStatus {
	if enabled {
		return octavia.OperatingOnline
	}
	return octavia.OperatingOffline
}
