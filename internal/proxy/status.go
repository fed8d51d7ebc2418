package proxy

import (
	"slices"

	"lbd/internal/balancer"
	"lbd/internal/health"
	"lbd/internal/octavia"
	"lbd/internal/stats"
)

// ListenerStats returns a listener's counters as Octavia reports them.
func (rt *Runtime) ListenerStats(listenerID string) (octavia.Stats, bool) {
	tr := rt.trafficOf(listenerID)
	if tr == nil {
		return octavia.Stats{}, false
	}
	return octavia.Stats{
		BytesIn:           int64(tr.BytesIn.Load()),
		BytesOut:          int64(tr.BytesOut.Load()),
		ActiveConnections: tr.Active.Load(),
		TotalConnections:  int64(tr.Connections.Load()),
		RequestErrors:     int64(tr.RequestErrors.Load()),
	}, true
}

// OperatingStatus reports the live operating_status of an object.
func (rt *Runtime) OperatingStatus(id string) (octavia.OperatingStatus, bool) {
	return rt.operatingStatus(id)
}

func (rt *Runtime) operatingStatus(id string) (octavia.OperatingStatus, bool) {
	cfg := rt.cfg.Load()
	for _, lb := range cfg.LoadBalancers {
		if lb.ID == id {
			return rt.lbStatus(lb), true
		}
		for _, l := range lb.Listeners {
			if l.ID == id {
				return rt.listenerStatus(lb, l), true
			}
		}
		for _, p := range lb.Pools {
			if p.ID == id {
				return rt.poolStatus(lb, p), true
			}
			if h := p.HealthMonitor; h != nil && h.ID == id {
				return octavia.MonitorStatus(lb.Enabled() && h.Enabled()), true
			}
			for _, m := range p.Members {
				if m.ID == id {
					return rt.memberStatus(lb, p, m), true
				}
			}
		}
	}
	return "", false
}

// OperatingStatuses calls yield with the operating_status of every object
// the data plane serves (load balancers, listeners, pools, members,
// monitors), walking the configuration once: what an instance reports to
// the others sharing its state (internal/ha).
func (rt *Runtime) OperatingStatuses(yield func(id string, s octavia.OperatingStatus)) {
	cfg := rt.cfg.Load()
	for _, lb := range cfg.LoadBalancers {
		var ls, ps []octavia.OperatingStatus
		for _, l := range lb.Listeners {
			s := rt.listenerStatus(lb, l)
			yield(l.ID, s)
			ls = append(ls, s)
		}
		for _, p := range lb.Pools {
			ms := make([]octavia.OperatingStatus, 0, len(p.Members))
			for _, m := range p.Members {
				s := rt.memberStatus(lb, p, m)
				yield(m.ID, s)
				ms = append(ms, s)
			}
			s := octavia.PoolStatus(lb.Enabled() && p.Enabled(), ms)
			yield(p.ID, s)
			ps = append(ps, s)
			if h := p.HealthMonitor; h != nil {
				yield(h.ID, octavia.MonitorStatus(lb.Enabled() && h.Enabled()))
			}
		}
		yield(lb.ID, octavia.LoadBalancerStatus(lb.Enabled(), ls, ps))
	}
}

// A member's status is its pool's monitor's word (package health); the
// roll-ups to pools, listeners and load balancers are Octavia's (package
// octavia).

func (rt *Runtime) lbStatus(lb *octavia.LoadBalancer) octavia.OperatingStatus {
	var ls, ps []octavia.OperatingStatus
	for _, l := range lb.Listeners {
		ls = append(ls, rt.listenerStatus(lb, l))
	}
	for _, p := range lb.Pools {
		if lb.PoolInUse(p.ID) {
			ps = append(ps, rt.poolStatus(lb, p))
		}
	}
	return octavia.LoadBalancerStatus(lb.Enabled(), ls, ps)
}

func (rt *Runtime) listenerStatus(lb *octavia.LoadBalancer, l *octavia.Listener) octavia.OperatingStatus {
	full := false
	if lc := rt.listenerOf(l.ID); lc != nil && lc.connLimit >= 0 && lc.traffic.Active.Load() >= lc.connLimit {
		full = true // HAProxy's FULL
	}
	return octavia.ListenerStatus(lb.Enabled() && l.Enabled(), full)
}

func (rt *Runtime) poolStatus(lb *octavia.LoadBalancer, p *octavia.Pool) octavia.OperatingStatus {
	ms := make([]octavia.OperatingStatus, 0, len(p.Members))
	for _, m := range p.Members {
		ms = append(ms, rt.memberStatus(lb, p, m))
	}
	return octavia.PoolStatus(lb.Enabled() && p.Enabled(), ms)
}

func (rt *Runtime) memberStatus(lb *octavia.LoadBalancer, p *octavia.Pool, m *octavia.Member) octavia.OperatingStatus {
	var st health.MemberState
	ok := false
	if rp := rt.poolOf(p.ID); rp != nil {
		st, ok = rp.mon.Member(m.ID)
	}
	return memberOperatingStatus(lb, p, m, st.Status, ok)
}

// memberOperatingStatus is a member's operating_status: OFFLINE when its
// load balancer or pool is down, else its monitor's word (st, if known),
// else what its configuration says.
func memberOperatingStatus(lb *octavia.LoadBalancer, p *octavia.Pool, m *octavia.Member, st health.Status, known bool) octavia.OperatingStatus {
	switch {
	case !lb.Enabled() || !p.Enabled():
		return octavia.OperatingOffline
	case known:
		return operatingStatus(st)
	}
	return operatingStatus(health.MemberStatus(health.MemberFacts{
		Enabled:   m.Enabled(),
		Weight:    *m.Weight,
		Monitored: p.HealthMonitor != nil && p.HealthMonitor.Enabled(),
		Healthy:   true,
	}))
}

// operatingStatus is a member's health status as Octavia's
// operating_status.
func operatingStatus(s health.Status) octavia.OperatingStatus {
	switch s {
	case health.StatusOffline:
		return octavia.OperatingOffline
	case health.StatusError:
		return octavia.OperatingError
	case health.StatusDraining:
		return octavia.OperatingDraining
	case health.StatusNoMonitor:
		return octavia.OperatingNoMonitor
	}
	return octavia.OperatingOnline
}

// MemberHealth returns a member's health state as its pool's monitor sees
// it.
func (rt *Runtime) MemberHealth(poolID, memberID string) (health.MemberState, bool) {
	if rp := rt.poolOf(poolID); rp != nil {
		return rp.mon.Member(memberID)
	}
	return health.MemberState{}, false
}

// PoolMonitor returns a pool's health monitor, for its probe counters.
func (rt *Runtime) PoolMonitor(poolID string) *health.Monitor {
	if rp := rt.poolOf(poolID); rp != nil {
		return rp.mon
	}
	return nil
}

func (rt *Runtime) poolOf(id string) *pool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.pools[id]
}

// listenerOf returns the configuration of the served listener with that
// ID, or nil.
func (rt *Runtime) listenerOf(id string) *listenerConfig {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.byID[id]
}

func (rt *Runtime) trafficOf(listenerID string) *stats.Traffic {
	if lc := rt.listenerOf(listenerID); lc != nil {
		return lc.traffic
	}
	return nil
}

// MemberView is what the metrics read about a member beside its traffic
// counters.
type MemberView struct {
	Status octavia.OperatingStatus
	// Health is the member's state as its pool's monitor sees it, when
	// Known.
	Health health.MemberState
	Known  bool
	// Idle counts its pooled keep-alive connections.
	Idle int
}

// MemberViews returns a view of each of p's members, in configuration
// order: what MemberStatus and IdleConns say of each, for one lookup of the
// pool. out is reused if large enough: the monitor writes the members'
// health straight into it, so a caller that passes the same out scrape to
// scrape allocates nothing per member.
func (rt *Runtime) MemberViews(lb *octavia.LoadBalancer, p *octavia.Pool, out []MemberView) []MemberView {
	out = slices.Grow(out[:0], len(p.Members))[:len(p.Members)]
	rp := rt.poolOf(p.ID)
	filled := 0
	var members []*balancer.Member
	if rp != nil {
		filled = rp.mon.FillStatus(len(out), func(i int) *health.MemberState { return &out[i].Health })
		members = rp.bal.Members()
	}
	for i, m := range p.Members {
		v := &out[i]
		v.Known, v.Idle = false, 0
		switch {
		case i < filled && v.Health.ID == m.ID:
			v.Known = true
		case rp != nil:
			v.Health, v.Known = rp.mon.Member(m.ID)
		default:
			v.Health = health.MemberState{}
		}
		v.Status = memberOperatingStatus(lb, p, m, v.Health.Status, v.Known)
	}
	if rp != nil && len(members) == len(p.Members) {
		rp.idle.mu.Lock()
		for i, m := range members {
			out[i].Idle = len(rp.idle.conns[m.State])
		}
		rp.idle.mu.Unlock()
		for i, m := range members {
			out[i].Idle += rt.loops.idleConns(m.State)
		}
	}
	return out
}
