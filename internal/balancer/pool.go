package balancer

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
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
	SourceIP                          // weighted rendezvous hash of the client address
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

// picker chooses one of a snapshot's ready members. Implementations are
// immutable apart from their own atomics, and safe for concurrent use.
type picker interface {
	pick(src netip.AddrPort) *Member
}

// snapshot is what Pick reads: built whole, then published atomically.
type snapshot struct {
	picker picker // nil when no member is ready
	ready  []*Member
}

// Pool balances over a set of members. Pick is lock-free; Update and
// SetHealthy serialize on a mutex and publish a new snapshot.
type Pool struct {
	mu      sync.Mutex // serializes writers; readers never take it
	alg     Algorithm
	members []*Member // configuration order, including members that are not ready
	rng     *rand.Rand
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
	old := make(map[string]*State, len(p.members))
	for _, m := range p.members {
		old[m.ID] = m.State
	}
	next := make([]*Member, len(members))
	for i, c := range members {
		st := old[c.ID]
		if st == nil {
			st = NewState()
		}
		next[i] = &Member{MemberConfig: c, State: st}
	}
	p.alg = alg
	p.members = next
	p.rebuild()
}

// SetHealthy records a health transition for the member with that ID and,
// when the ready set changes, publishes a new snapshot. It reports whether the
// member was found.
func (p *Pool) SetHealthy(id string, healthy bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.members {
		if m.ID == id {
			if m.healthy.Swap(healthy) != healthy {
				p.rebuild()
			}
			return true
		}
	}
	return false
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
	s := p.cur.Load()
	if s.picker == nil {
		return nil, ErrNoMember
	}
	m := s.picker.pick(src)
	m.active.Add(1)
	m.picks.Add(1)
	return m, nil
}

// PickExcept is Pick for a retry: it avoids the member that just failed when
// another is ready, as HAProxy's redispatch does.
func (p *Pool) PickExcept(src netip.AddrPort, failed *Member) (*Member, error) {
	s := p.cur.Load()
	if s.picker == nil {
		return nil, ErrNoMember
	}
	m := s.picker.pick(src)
	if failed != nil && m.State == failed.State && len(s.ready) > 1 {
		// Deterministic algorithms (the source hashes) would pick the same
		// member again: step to the next ready one instead.
		for i, r := range s.ready {
			if r.State == failed.State {
				m = s.ready[(i+1)%len(s.ready)]
				break
			}
		}
	}
	m.active.Add(1)
	m.picks.Add(1)
	return m, nil
}

// rebuild computes the ready set and publishes a new snapshot. Callers hold mu.
func (p *Pool) rebuild() {
	ready := make([]*Member, 0, len(p.members))
	for _, m := range p.members {
		if !m.Backup && m.eligible() {
			ready = append(ready, m)
		}
	}
	if len(ready) == 0 {
		// Like HAProxy's "option allbackups", which Octavia sets: when no
		// primary is ready, every ready backup serves together.
		for _, m := range p.members {
			if m.Backup && m.eligible() {
				ready = append(ready, m)
			}
		}
	}
	s := &snapshot{ready: ready}
	if len(ready) > 0 {
		switch p.alg {
		case LeastConnections:
			s.picker = newLeastConn(ready)
		case SourceIP:
			s.picker = newSourceHash(ready, false)
		case SourceIPPort:
			s.picker = newSourceHash(ready, true)
		default:
			s.picker = newRoundRobin(ready, p.rng.Uint64())
		}
	}
	p.cur.Store(s)
}
