package reconcile

import (
	"strconv"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"lbd/internal/octavia"
)

// The create requests, from the file's objects (Octavia's own field names,
// defaults filled) to gophercloud's options. They cover what lbd's
// validation admits: TLS is refused before lbctl gets here. L7 policies
// are created by the convergence that follows a load balancer's create
// (gophercloud's fully-populated create cannot name a redirect pool).

// lbCreateOpts is the fully-populated create of a load balancer: each pool
// inline as the default pool of the first listener using it, with its
// members and monitor, the others at load-balancer level. A second listener
// sharing a pool is attached to it by the convergence that follows
// (gophercloud cannot send a by-name pool reference).
func lbCreateOpts(lb *octavia.LoadBalancer, vipSubnetID string) loadbalancers.CreateOpts {
	opts := loadbalancers.CreateOpts{
		Name: lb.Name, Description: lb.Description, AdminStateUp: lb.AdminStateUp,
		VipSubnetID: firstOf(lb.VIPSubnetID, vipSubnetID), VipNetworkID: lb.VIPNetworkID, VipPortID: lb.VIPPortID,
		VipAddress: lb.VIPAddress, VipQosPolicyID: lb.VIPQoSPolicyID,
		FlavorID: lb.FlavorID, AvailabilityZone: lb.AvailabilityZone, Tags: lb.Tags,
	}
	// internal/octavia fills provider "amphora" when the file has none;
	// sending it would override a cloud whose default provider differs.
	if lb.Provider != octavia.ProviderAmphora {
		opts.Provider = lb.Provider
	}
	for _, v := range lb.AdditionalVIPs {
		opts.AdditionalVips = append(opts.AdditionalVips, loadbalancers.AdditionalVip{SubnetID: v.SubnetID, IPAddress: v.IPAddress})
	}
	inlined := map[string]bool{}
	for _, l := range lb.Listeners {
		lo := listenerCreateOpts(l, "")
		if p := lb.ListenerPool(l); p != nil && !inlined[p.ID] {
			po := poolCreateOpts(p, true)
			lo.DefaultPool = &po
			inlined[p.ID] = true
		}
		opts.Listeners = append(opts.Listeners, lo)
	}
	for _, p := range lb.Pools {
		if !inlined[p.ID] {
			opts.Pools = append(opts.Pools, poolCreateOpts(p, true))
		}
	}
	return opts
}

func listenerCreateOpts(l *octavia.Listener, lbID string) listeners.CreateOpts {
	return listeners.CreateOpts{
		LoadbalancerID: lbID, Name: l.Name, Description: l.Description, AdminStateUp: l.AdminStateUp,
		Protocol: listeners.Protocol(l.Protocol), ProtocolPort: l.ProtocolPort,
		ConnLimit: l.ConnectionLimit, TimeoutClientData: l.TimeoutClientData, TimeoutMemberConnect: l.TimeoutMemberConnect,
		TimeoutMemberData: l.TimeoutMemberData, TimeoutTCPInspect: l.TimeoutTCPInspect,
		InsertHeaders: l.InsertHeaders, AllowedCIDRs: l.AllowedCIDRs, Tags: l.Tags,
	}
}

// poolCreateOpts builds a pool; inline adds its members and monitor, which
// Octavia takes in a fully-populated load-balancer create (a pool created
// on its own gets them one call each, so each is a change of its own).
func poolCreateOpts(p *octavia.Pool, inline bool) pools.CreateOpts {
	opts := pools.CreateOpts{
		Name: p.Name, Description: p.Description, AdminStateUp: p.AdminStateUp,
		Protocol: pools.Protocol(p.Protocol), LBMethod: pools.LBMethod(p.LBAlgorithm), Tags: p.Tags,
		Persistence: persistenceOpts(p.SessionPersistence),
	}
	if !inline {
		return opts
	}
	for _, m := range p.Members {
		opts.Members = append(opts.Members, memberCreateOpts(m))
	}
	if p.HealthMonitor != nil {
		opts.Monitor = monitorCreateOpts(p.HealthMonitor, "")
	}
	return opts
}

func memberCreateOpts(m *octavia.Member) pools.CreateMemberOpts {
	return pools.CreateMemberOpts{
		Name: m.Name, Address: m.Address, ProtocolPort: m.ProtocolPort, Weight: m.Weight, Backup: m.Backup,
		AdminStateUp: m.AdminStateUp, SubnetID: m.SubnetID, MonitorAddress: m.MonitorAddress, MonitorPort: m.MonitorPort, Tags: m.Tags,
	}
}

func monitorCreateOpts(h *octavia.HealthMonitor, poolID string) monitors.CreateOpts {
	return monitors.CreateOpts{
		PoolID: poolID, Name: h.Name, Type: string(h.Type), Delay: intOf(h.Delay), Timeout: intOf(h.Timeout),
		MaxRetries: h.MaxRetries, MaxRetriesDown: intOf(h.MaxRetriesDown),
		URLPath: h.URLPath, HTTPMethod: h.HTTPMethod, ExpectedCodes: h.ExpectedCodes, HTTPVersion: httpVersion(h.HTTPVersion),
		DomainName: h.DomainName, AdminStateUp: h.AdminStateUp, Tags: h.Tags,
	}
}

// httpVersion renders a monitor's http_version as Octavia does ("1.1"); ""
// when unset.
func httpVersion(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', 1, 64)
}

// persistenceOpts is a pool's session_persistence as gophercloud sends it;
// nil for none.
func persistenceOpts(sp *octavia.SessionPersistence) *pools.SessionPersistence {
	if sp == nil {
		return nil
	}
	// gophercloud has no persistence_timeout or persistence_granularity:
	// lbd serves no UDP or SCTP pool, the only ones that take them.
	return &pools.SessionPersistence{Type: string(sp.Type), CookieName: sp.CookieName}
}
