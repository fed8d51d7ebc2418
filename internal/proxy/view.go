package proxy

import (
	"time"

	"lbd/internal/balancer"
	"lbd/internal/certs"
	"lbd/internal/proxy/tlsterm"
	"lbd/internal/stats"
)

// The accessors below let status and metrics readers walk what the runtime
// serves. They take the runtime's lock briefly; nothing on the forwarding
// path does.

// ListenerTraffic returns a served listener's live counters, or nil.
func (rt *Runtime) ListenerTraffic(id string) *stats.Traffic { return rt.trafficOf(id) }

// PoolMembers returns a served pool's members with their live state, in
// configuration order, or nil.
func (rt *Runtime) PoolMembers(poolID string) []*balancer.Member {
	if p := rt.poolOf(poolID); p != nil {
		return p.bal.Members()
	}
	return nil
}

// PoolReady returns how many primary and backup members of a pool may take
// traffic now.
func (rt *Runtime) PoolReady(poolID string) (primaries, backups int) {
	p := rt.poolOf(poolID)
	if p == nil {
		return 0, 0
	}
	for _, m := range p.bal.Ready() {
		if m.Backup {
			backups++
		} else {
			primaries++
		}
	}
	return primaries, backups
}

// IdleConns counts a member's pooled keep-alive connections.
func (rt *Runtime) IdleConns(poolID string, st *balancer.State) int {
	p := rt.poolOf(poolID)
	if p == nil {
		return 0
	}
	p.idle.mu.Lock()
	n := len(p.idle.conns[st])
	p.idle.mu.Unlock()
	return n + rt.loops.idleConns(st)
}

// MaxIdlePerMember is the cap on pooled keep-alive connections per member.
const MaxIdlePerMember = maxIdlePerMember

// EventLoopStats reports what the event loops did.
func (rt *Runtime) EventLoopStats() EventLoopStats {
	ls := rt.loops
	if ls == nil {
		return EventLoopStats{}
	}
	s := EventLoopStats{Loops: len(ls.loops), Adopted: ls.stats.adopted.Load(), Requests: ls.stats.served.Load(), Tunnels: ls.stats.tunnels.Load(), Connects: ls.stats.connects.Load()}
	for i := range s.Handoffs {
		s.Handoffs[i] = ls.stats.handoffs[i].Load()
	}
	return s
}

// ApplyStats reports how many configuration changes were applied or
// refused.
func (rt *Runtime) ApplyStats() ApplyStats {
	return ApplyStats{
		Successes:   rt.applies.successes.Load(),
		Failures:    rt.applies.failures.Load(),
		Generation:  rt.applies.successes.Load(),
		LastSuccess: time.Unix(0, rt.applies.lastSuccess.Load()),
	}
}

// RecordRejected counts a configuration refused before it reached Apply
// (a reload whose file did not validate).
func (rt *Runtime) RecordRejected() { rt.applies.record(false) }

// ListenerTLS returns a TERMINATED_HTTPS listener's handshake counters and
// the certificates it serves, the default first; nil for other listeners.
func (rt *Runtime) ListenerTLS(id string) (*tlsterm.Stats, []*certs.Bundle) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if lc := rt.byID[id]; lc != nil && lc.tls != nil {
		return lc.tls.stats, lc.tls.srv.Certificates()
	}
	return nil, nil
}

// HTTP2Errors counts what the HTTP/2 server reported, by kind.
func (rt *Runtime) HTTP2Errors() map[string]uint64 { return rt.h2stats.errors() }
