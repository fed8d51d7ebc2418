package balancer

import (
	"net/netip"
	"sync/atomic"

	"lbd/internal/stats"
)

// MemberConfig is what the configuration says about a member. It is
// immutable once handed to a Pool.
type MemberConfig struct {
	ID      string         // stable identity; a member keeps its State across updates by ID
	Name    string         // the member's name, for messages and access logs; "" when it has none
	Addr    netip.AddrPort // where traffic goes
	Weight  int            // 0..256; 0 drains: no new picks, existing connections stay
	Backup  bool           // serves only when no primary member is ready
	Enabled bool           // admin_state_up; a disabled member is never picked
}

// State is a member's live state. It outlives configuration changes: a
// member whose ID survives an update keeps its State, so in-flight counts and
// health carry over. Make one with NewState; it must not be copied.
type State struct {
	// The fields a pick and a release touch come first, on one or two
	// cache lines; the traffic counters follow.
	active  atomic.Int64 // connections or requests in flight
	peak    atomic.Int64 // the highest active since TakePeakActive last read it
	picks   atomic.Uint64
	healthy atomic.Bool
	// lc is the least-connections tracker that holds the member while it
	// is ready in a LEAST_CONNECTIONS pool, nil otherwise; lcn is its place
	// there, guarded by the tracker's mutex.
	lc  atomic.Pointer[leastConn]
	lcn lcNode
	// seed is the hash of the member's ID, for SOURCE_IP's table: fixed
	// for the State's life, as the ID is.
	seed uint64

	observer atomic.Pointer[observerBox]

	// Traffic is the data plane's counters for this member (never nil in
	// a State from NewState). They live in their own allocation, not in
	// the State, so that a State stays about 100 bytes: a pick at 10,000
	// members touches States over about 280 pages instead of 2,500 (the
	// counters and histograms are 800 bytes), and the TLB misses that
	// saves are about a sixth of a SOURCE_IP pick (BenchmarkPick10k).
	Traffic *stats.Traffic
}

// TrafficObserver learns how live traffic to a member went, for passive
// health checks. Its methods are called on the request path and must be
// cheap.
type TrafficObserver interface {
	Success()
	ConnectFailure()
	ServerError()
}

type observerBox struct{ o TrafficObserver }

type noObserver struct{}

func (noObserver) Success()        {}
func (noObserver) ConnectFailure() {}
func (noObserver) ServerError()    {}

// SetObserver sets who hears about the member's live traffic; nil: nobody.
func (s *State) SetObserver(o TrafficObserver) {
	if o == nil {
		s.observer.Store(nil)
		return
	}
	if b := s.observer.Load(); b != nil && b.o == o {
		return // already: a reload of 10,000 members allocates nothing here
	}
	s.observer.Store(&observerBox{o})
}

// Observer returns the member's traffic observer, a no-op one when unset.
func (s *State) Observer() TrafficObserver {
	if b := s.observer.Load(); b != nil {
		return b.o
	}
	return noObserver{}
}

// NewState returns the state of a member that has not been checked yet. It
// starts healthy, as HAProxy's servers do: traffic flows at once, and the
// health monitor takes the member out after its first failures.
func NewState() *State {
	s := &State{Traffic: &stats.Traffic{}}
	s.healthy.Store(true)
	return s
}

// Active is the number of connections or requests in flight to the member.
func (s *State) Active() int64 { return s.active.Load() }

// TakePeakActive returns the highest number of connections or requests in
// flight since the previous call (at least the number in flight now), and
// starts the next interval from the number in flight now. Every Pick and
// Acquire counts, so no peak is missed however rarely it is read; a
// second reader would split the peaks with the first.
func (s *State) TakePeakActive() int64 {
	a := s.active.Load()
	return max(s.peak.Swap(a), a)
}

// addActive counts one more connection or request in flight, and raises
// the peak when it is a new one (a load and a compare otherwise).
func (s *State) addActive() {
	n := s.active.Add(1)
	for p := s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
}

// Picks is how often the member has been picked since it was created.
func (s *State) Picks() uint64 { return s.picks.Load() }

// Healthy reports the member's last known health.
func (s *State) Healthy() bool { return s.healthy.Load() }

// Member is a configured member with its live state. The configuration part
// is immutable; the State is shared with every other Member value built for
// the same ID.
type Member struct {
	MemberConfig
	*State
	pos int // index in its pool's configuration order
}

// Release ends one connection or request started by Pick.
func (m *Member) Release() {
	m.active.Add(-1)
	// The count changes first, then the tracker (if any) moves the member:
	// a tracker that takes the member in reads the count after publishing
	// itself, so no release is lost between the two (leastconn.go).
	if lc := m.lc.Load(); lc != nil {
		lc.moved(m.State)
	}
}

// Acquire counts the member as active for a connection the caller chose it
// for outside Pick (a last resort); Release ends it, as for a pick.
func (m *Member) Acquire() {
	m.addActive()
	m.picks.Add(1)
	if lc := m.lc.Load(); lc != nil {
		lc.moved(m.State)
	}
}

// eligible reports whether the member may take new traffic at all.
func (m *Member) eligible() bool {
	return m.Enabled && m.Weight > 0 && m.healthy.Load()
}
