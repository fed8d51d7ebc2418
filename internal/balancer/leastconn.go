package balancer

import (
	"net/netip"
	"sync/atomic"
)

// leastConn picks the member whose load per unit of weight would be lowest
// after taking the new connection, (a_i+1)/w_i, as HAProxy's leastconn does:
// in-flight counts then settle in proportion to the weights, and an idle pool
// prefers its heaviest member. Products replace the division. The scan starts
// at a rotating index, so equally loaded members take turns.
type leastConn struct {
	members []*Member
	rot     atomic.Uint64
}

func newLeastConn(ready []*Member) *leastConn { return &leastConn{members: ready} }

func (lc *leastConn) pick(netip.AddrPort) *Member {
	n := len(lc.members)
	start := int(lc.rot.Add(1) % uint64(n))
	best := lc.members[start]
	bestLoad, bestWeight := best.active.Load()+1, int64(best.Weight)
	for j := 1; j < n; j++ {
		i := start + j
		if i >= n {
			i -= n
		}
		m := lc.members[i]
		a, w := m.active.Load()+1, int64(m.Weight)
		if a*bestWeight < bestLoad*w {
			best, bestLoad, bestWeight = m, a, w
		}
	}
	return best
}
