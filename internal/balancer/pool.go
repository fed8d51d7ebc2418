package balancer

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

// ErrNoMember means no member may take traffic: none is enabled, healthy and
// weighted above zero, primaries and backups alike.
var ErrNoMember = errors.New("no member available")

// Algorithm selects how a Pool picks among its ready members.
type Algorithm int

// Algorithms, matching Octavia's lb_algorithm values.
const (
	RoundRobin       Algorithm = iota // smooth weighted round robin
	LeastConnections                  // fewest active per unit of weight, ties rotate
	SourceIP                          // Maglev table over a hash of the client address
	SourceIPPort                      // the same over client address and port
)

func (a Algorithm) String() string {
	switch a {
	case RoundRobin:
		return "ROUND_ROBIN"
	case LeastConnections:
		return "LEAST_CONNECTIONS"
	case SourceIP:
		return "SOURCE_IP"
	case SourceIPPort:
		return "SOURCE_IP_PORT"
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

// ParseAlgorithm maps an Octavia lb_algorithm to an Algorithm.
func ParseAlgorithm(s string) (Algorithm, error) {
	for a := RoundRobin; a <= SourceIPPort; a++ {
		if a.String() == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("unknown lb_algorithm %q", s)
}

// picker chooses one of a snapshot's ready members and counts the pick
// (active and picks).
// Implementations are immutable apart from their own atomics (leastConn
// apart from its lock), and safe for concurrent use.
type picker interface {
	// acquire picks a member for src, not except when another is ready.
	acquire(src netip.AddrPort, except *State) *Member
}

// snapshot is what Pick reads: built whole, then published atomically.
type snapshot struct {
	picker picker // nil when no member is ready
	ready  []*Member
}

// Pool balances over a set of members. Pick is lock-free but for
// LEAST_CONNECTIONS, whose order is live state (leastconn.go); Update and
// SetHealthy serialize on a mutex and publish a new snapshot.
type Pool struct {
	mu      sync.Mutex // serializes writers; readers never take it
	alg     Algorithm
	members []*Member          // configuration order, including members that are not ready
	bySeed  []*Member          // the same, in seed order (SOURCE_IP's table order)
	byID    map[string]*Member // the same, by ID
	rng     *rand.Rand
	lc      *leastConn  // the pool's in-flight order, while alg is LEAST_CONNECTIONS
	hash    *sourceHash // the last SOURCE_IP table, which the next one derives from
	dirty   atomic.Bool
	cur     atomic.Pointer[snapshot]
}

// NewPool builds a pool whose members all start with a fresh State.
func NewPool(alg Algorithm, members []MemberConfig) *Pool {
	p := &Pool{rng: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
	p.Update(alg, members)
	return p
}

// Update replaces the pool's algorithm and members. A member whose ID was
// already in the pool keeps its State (in-flight count, health); others
// start with NewState. Connections already holding a *Member are unaffected.
func (p *Pool) Update(alg Algorithm, members []MemberConfig) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := make([]*Member, len(members))
	byID := make(map[string]*Member, len(members))
	states := make([]Member, len(members)) // one allocation for them all
	var fresh []*Member
	for i, c := range members {
		old := p.byID[c.ID]
		var st *State
		if old != nil {
			st = old.State
		} else {
			st = NewState()
			st.seed = idSeed(c.ID)
		}
		states[i] = Member{MemberConfig: c, State: st, pos: i}
		next[i] = &states[i]
		byID[c.ID] = next[i]
		if old == nil {
			fresh = append(fresh, next[i])
		}
	}
	// Seed order: the members that stay keep theirs, the new ones are
	// sorted and merged in. A sort of all 10,000 would cost more than the
	// rest of the update.
	kept := make([]*Member, 0, len(next))
	for _, m := range p.bySeed {
		if nm := byID[m.ID]; nm != nil && nm.State == m.State {
			kept = append(kept, nm)
		}
	}
	slices.SortFunc(fresh, compareSeed)
	bySeed := make([]*Member, 0, len(next))
	for len(kept) > 0 && len(fresh) > 0 {
		if compareSeed(fresh[0], kept[0]) < 0 {
			bySeed, fresh = append(bySeed, fresh[0]), fresh[1:]
		} else {
			bySeed, kept = append(bySeed, kept[0]), kept[1:]
		}
	}
	bySeed = append(append(bySeed, kept...), fresh...)
	if len(bySeed) != len(next) { // duplicate IDs: order them all
		bySeed = slices.SortedFunc(slices.Values(next), compareSeed)
	}
	p.alg = alg
	p.members, p.bySeed, p.byID = next, bySeed, byID
	p.dirty.Store(false)
	p.rebuild()
}

// SetHealthy records a health transition for the member with that ID and,
// when the ready set changes, publishes a new snapshot before it returns.
// Transitions that arrive together (members failing at once) share one
// rebuild. It reports whether the member was found.
func (p *Pool) SetHealthy(id string, healthy bool) bool {
	p.mu.Lock()
	m := p.byID[id]
	p.mu.Unlock()
	if m == nil {
		return false
	}
	if m.healthy.Swap(healthy) == healthy {
		return true
	}
	// Whoever takes the lock next rebuilds for every transition flagged so
	// far; callers queued behind it find nothing left to do.
	p.dirty.Store(true)
	p.mu.Lock()
	if p.dirty.Swap(false) {
		p.rebuild()
	}
	p.mu.Unlock()
	return true
}

// Members returns every configured member, ready or not, in configuration
// order. The slice must not be modified.
func (p *Pool) Members() []*Member {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.members
}

// Ready returns the members Pick currently chooses from. The slice must not
// be modified.
func (p *Pool) Ready() []*Member { return p.cur.Load().ready }

// Algorithm returns the pool's current algorithm.
func (p *Pool) Algorithm() Algorithm {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.alg
}

// Pick chooses a member for a new connection or request from src and counts
// it as active. The caller must call Release on the member when done. It
// returns ErrNoMember when no member is ready.
func (p *Pool) Pick(src netip.AddrPort) (*Member, error) {
	return p.PickExcept(src, nil)
}

// PickExcept is Pick for a retry: it avoids the member that just failed when
// another is ready, as HAProxy's redispatch does.
func (p *Pool) PickExcept(src netip.AddrPort, failed *Member) (*Member, error) {
	s := p.cur.Load()
	if s.picker == nil {
		return nil, ErrNoMember
	}
	var except *State
	if failed != nil && len(s.ready) > 1 {
		except = failed.State
	}
	m := s.picker.acquire(src, except)
	if m == nil {
		return nil, ErrNoMember
	}
	return m, nil
}

// rebuild computes the ready set and publishes a new snapshot. Callers hold
// mu. It costs O(members) for every algorithm, plus SOURCE_IP's table
// (sourceip.go): a few milliseconds at 10,000 members.
func (p *Pool) rebuild() {
	// Health is read once per member, so every view of the ready set below
	// agrees even while SetHealthy flips members.
	ok := make([]bool, len(p.members))
	primaries := false
	for i, m := range p.members {
		ok[i] = m.eligible()
		primaries = primaries || ok[i] && !m.Backup
	}
	// Without a ready primary, every ready backup serves, like HAProxy's
	// "option allbackups", which Octavia sets.
	take := func(m *Member) bool { return ok[m.pos] && m.Backup != primaries }
	ready := make([]*Member, 0, len(p.members))
	for _, m := range p.members {
		if take(m) {
			ready = append(ready, m)
		}
	}
	s := &snapshot{ready: ready}
	lcReady := []*Member(nil)
	if p.alg != SourceIP && p.alg != SourceIPPort {
		p.hash = nil
	}
	if len(ready) > 0 {
		switch p.alg {
		case LeastConnections:
			lcReady = ready
		case SourceIP, SourceIPPort:
			bySeed := make([]*Member, 0, len(ready))
			for _, m := range p.bySeed {
				if take(m) {
					bySeed = append(bySeed, m)
				}
			}
			p.hash = newSourceHash(p.hash, bySeed, p.alg == SourceIPPort)
			s.picker = p.hash
		default:
			s.picker = newRoundRobin(ready, p.rng.Uint64())
		}
	}
	if lcReady != nil || p.lc != nil {
		if p.lc == nil {
			p.lc = newLeastConn()
		}
		p.lc.sync(lcReady)
		if lcReady != nil {
			s.picker = p.lc
		}
	}
	p.cur.Store(s)
}
