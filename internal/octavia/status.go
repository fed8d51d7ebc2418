package octavia

// The roll-ups below derive the operating_status of pools, listeners, load
// balancers and health monitors as Octavia's health manager does
// (controller/healthmanager/health_drivers/update_db.py) from what HAProxy
// reports. A member's own status is the data plane's verdict; these rules
// turn members' statuses into their parents'.

// PoolStatus derives a pool's operating_status from its members' as
// Octavia does from HAProxy's backend status: OFFLINE when the pool is not
// enabled (pass false too for a pool no enabled listener uses: Octavia's
// amphora does not render it); ERROR when it has members but none can take
// traffic (HAProxy's backend is DOWN: every member down, disabled or
// drained; backups count); DEGRADED when some member is ERROR; ONLINE
// otherwise, including for a pool without members, which HAProxy reports UP.
func PoolStatus(enabled bool, members []OperatingStatus) OperatingStatus {
	if !enabled {
		return OperatingOffline
	}
	usable, failed := false, false
	for _, s := range members {
		switch s {
		case OperatingOnline, OperatingNoMonitor:
			usable = true
		case OperatingError:
			failed = true
		}
	}
	switch {
	case len(members) > 0 && !usable:
		return OperatingError
	case failed:
		return OperatingDegraded
	}
	return OperatingOnline
}

// ListenerStatus derives a listener's operating_status: OFFLINE when
// disabled, DEGRADED while it is at its connection_limit (HAProxy FULL),
// ONLINE otherwise. As in Octavia, a listener's pools do not affect it.
func ListenerStatus(enabled, full bool) OperatingStatus {
	switch {
	case !enabled:
		return OperatingOffline
	case full:
		return OperatingDegraded
	}
	return OperatingOnline
}

// LoadBalancerStatus derives a load balancer's operating_status: OFFLINE
// when disabled; ERROR when any pool is ERROR; DEGRADED when any listener or
// pool is DEGRADED; ONLINE otherwise. A listener in ERROR does not change
// the load balancer's status, as in Octavia's health manager. Pass only
// the pools some listener uses (PoolInUse): Octavia's amphora renders no
// other, so no heartbeat reports them and they never lower the load
// balancer's status.
func LoadBalancerStatus(enabled bool, listeners, pools []OperatingStatus) OperatingStatus {
	if !enabled {
		return OperatingOffline
	}
	status := OperatingOnline
	for _, s := range pools {
		switch s {
		case OperatingError:
			return OperatingError
		case OperatingDegraded:
			status = OperatingDegraded
		}
	}
	for _, s := range listeners {
		if s == OperatingDegraded {
			status = OperatingDegraded
		}
	}
	return status
}

// MonitorStatus is a health monitor's operating_status: Octavia sets it
// from the admin state alone, ONLINE when enabled and OFFLINE when not.
func MonitorStatus(enabled bool) OperatingStatus {
	if enabled {
		return OperatingOnline
	}
	return OperatingOffline
}

// PoolInUse reports whether a listener of lb uses the pool: as its default
// pool, or as the pool an enabled L7 policy redirects to (RedirectPools).
// Only such a pool is in an amphora's configuration: one no listener uses
// is OFFLINE and counts in no roll-up.
func (lb *LoadBalancer) PoolInUse(poolID string) bool {
	for _, l := range lb.Listeners {
		if l.DefaultPoolID == poolID {
			return true
		}
		for _, p := range lb.RedirectPools(l) {
			if p.ID == poolID {
				return true
			}
		}
	}
	return false
}
