package client

import (
	"encoding/json"
	"strconv"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"lbd/internal/octavia"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// createOpts is the fully-populated create of a (normalized) load
// balancer: each pool inline under the first listener using it, the others
// at load balancer level. A second listener sharing a pool gets it on the
// reconcile pass that follows (gophercloud cannot send a by-name pool
// reference).
func createOpts(lb *octavia.LoadBalancer, vipSubnetID string) loadbalancers.CreateOpts {
	o := loadbalancers.CreateOpts{
		Name: lb.Name, Description: lb.Description, AdminStateUp: lb.AdminStateUp,
		VipAddress: lb.VIPAddress, VipSubnetID: lb.VIPSubnetID, VipNetworkID: lb.VIPNetworkID, VipPortID: lb.VIPPortID,
		Provider: lb.Provider, Tags: lb.Tags,
	}
	if o.VipSubnetID == "" && o.VipNetworkID == "" && o.VipPortID == "" {
		o.VipSubnetID = vipSubnetID
	}
	placed := map[string]bool{}
	for _, l := range lb.Listeners {
		lo := listenerOpts(l)
		if p := lb.ListenerPool(l); p != nil && !placed[p.ID] {
			po := poolOpts(p)
			lo.DefaultPool = &po
			placed[p.ID] = true
		}
		o.Listeners = append(o.Listeners, lo)
	}
	for _, p := range lb.Pools {
		if !placed[p.ID] {
			o.Pools = append(o.Pools, poolOpts(p))
		}
	}
	return o
}

func listenerOpts(l *octavia.Listener) listeners.CreateOpts {
	return listeners.CreateOpts{
		Protocol: listeners.Protocol(l.Protocol), ProtocolPort: l.ProtocolPort,
		Name: l.Name, Description: l.Description, AdminStateUp: l.AdminStateUp, ConnLimit: l.ConnectionLimit,
		TimeoutClientData: l.TimeoutClientData, TimeoutMemberConnect: l.TimeoutMemberConnect,
		TimeoutMemberData: l.TimeoutMemberData, TimeoutTCPInspect: l.TimeoutTCPInspect,
		InsertHeaders: l.InsertHeaders, AllowedCIDRs: l.AllowedCIDRs, Tags: l.Tags,
	}
}

func poolOpts(p *octavia.Pool) pools.CreateOpts {
	o := pools.CreateOpts{
		LBMethod: pools.LBMethod(p.LBAlgorithm), Protocol: pools.Protocol(p.Protocol),
		Name: p.Name, Description: p.Description, AdminStateUp: p.AdminStateUp, Tags: p.Tags,
	}
	for _, m := range p.Members {
		o.Members = append(o.Members, memberOpts(m))
	}
	if p.HealthMonitor != nil {
		o.Monitor = monitorOpts(p.HealthMonitor)
	}
	return o
}

func memberOpts(m *octavia.Member) pools.CreateMemberOpts {
	return pools.CreateMemberOpts{
		Address: m.Address, ProtocolPort: m.ProtocolPort, Name: m.Name, Weight: m.Weight, Backup: m.Backup,
		AdminStateUp: m.AdminStateUp, SubnetID: m.SubnetID, MonitorAddress: m.MonitorAddress,
		MonitorPort: m.MonitorPort, Tags: m.Tags,
	}
}

func monitorOpts(h *octavia.HealthMonitor) monitors.CreateOpts {
	return monitors.CreateOpts{
		Type: string(h.Type), Delay: octavia.IntOr(h.Delay, 0), Timeout: octavia.IntOr(h.Timeout, 0),
		MaxRetries: h.MaxRetries, MaxRetriesDown: octavia.IntOr(h.MaxRetriesDown, octavia.DefaultMaxRetriesDown),
		URLPath: h.URLPath, HTTPMethod: h.HTTPMethod, ExpectedCodes: h.ExpectedCodes, HTTPVersion: httpVersion(h.HTTPVersion),
		Name: h.Name, AdminStateUp: h.AdminStateUp, DomainName: h.DomainName, Tags: h.Tags,
	}
}

func httpVersion(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', 1, 64)
}
