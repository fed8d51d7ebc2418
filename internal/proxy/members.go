package proxy

import "lbd/internal/balancer"

// PoolMembers returns the members of the pool with that ID as the data plane
// runs them, ready or not, with their live State (in-flight count, health,
// traffic counters). A member keeps its State across reloads for as long as
// its ID stays, so callers may hold on to the States. The slice must not be
// modified; it is nil for an unknown pool.
func (rt *Runtime) PoolMembers(poolID string) []*balancer.Member {
	p := rt.poolOf(poolID)
	if p == nil {
		return nil
	}
	return p.bal.Members()
}
