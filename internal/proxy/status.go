package proxy

import (
	"lbd/internal/octavia"
	"lbd/internal/stats"
)

// ListenerStats returns a listener's counters as Octavia reports them.
func (rt *Runtime) ListenerStats(listenerID string) (octavia.Stats, bool) {
	rt.mu.Lock()
	tr := rt.traffic[listenerID]
	rt.mu.Unlock()
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
				if h.Enabled() && lb.Enabled() {
					return octavia.OperatingOnline, true
				}
				return octavia.OperatingOffline, true
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

// lbStatus rolls pools and listeners up as Octavia's health manager does:
// ERROR beats DEGRADED beats ONLINE; OFFLINE is for disabled objects.
func (rt *Runtime) lbStatus(lb *octavia.LoadBalancer) octavia.OperatingStatus {
	if !lb.Enabled() {
		return octavia.OperatingOffline
	}
	st := octavia.OperatingOnline
	for _, p := range lb.Pools {
		switch rt.poolStatus(lb, p) {
		case octavia.OperatingError:
			return octavia.OperatingError
		case octavia.OperatingDegraded:
			st = octavia.OperatingDegraded
		}
	}
	for _, l := range lb.Listeners {
		if rt.listenerStatus(lb, l) == octavia.OperatingDegraded {
			st = octavia.OperatingDegraded
		}
	}
	return st
}

func (rt *Runtime) listenerStatus(lb *octavia.LoadBalancer, l *octavia.Listener) octavia.OperatingStatus {
	if !lb.Enabled() || !l.Enabled() {
		return octavia.OperatingOffline
	}
	limit := int64(octavia.IntOr(l.ConnectionLimit, -1))
	if limit >= 0 {
		if tr := rt.trafficOf(l.ID); tr != nil && tr.Active.Load() >= limit {
			return octavia.OperatingDegraded // HAProxy's FULL
		}
	}
	return octavia.OperatingOnline
}

func (rt *Runtime) poolStatus(lb *octavia.LoadBalancer, p *octavia.Pool) octavia.OperatingStatus {
	if !lb.Enabled() || !p.Enabled() {
		return octavia.OperatingOffline
	}
	rp := rt.poolOf(p.ID)
	if rp == nil || len(p.Members) == 0 {
		return octavia.OperatingOnline
	}
	if len(rp.bal.Ready()) == 0 {
		return octavia.OperatingError // HAProxy backend DOWN
	}
	for _, m := range p.Members {
		if rt.memberStatus(lb, p, m) == octavia.OperatingError {
			return octavia.OperatingDegraded
		}
	}
	return octavia.OperatingOnline
}

func (rt *Runtime) memberStatus(lb *octavia.LoadBalancer, p *octavia.Pool, m *octavia.Member) octavia.OperatingStatus {
	switch {
	case !lb.Enabled() || !p.Enabled() || !m.Enabled():
		return octavia.OperatingOffline
	case octavia.IntOr(m.Weight, 1) == 0:
		return octavia.OperatingDraining
	case p.HealthMonitor == nil || !p.HealthMonitor.Enabled():
		return octavia.OperatingNoMonitor
	}
	if rp := rt.poolOf(p.ID); rp != nil {
		for _, bm := range rp.bal.Members() {
			if bm.ID == m.ID && !bm.Healthy() {
				return octavia.OperatingError
			}
		}
	}
	return octavia.OperatingOnline
}

func (rt *Runtime) poolOf(id string) *pool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.pools[id]
}

func (rt *Runtime) trafficOf(listenerID string) *stats.Traffic {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.traffic[listenerID]
}
