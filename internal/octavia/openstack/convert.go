package openstack

import (
	"fmt"

	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/listeners"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/loadbalancers"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/monitors"
	"github.com/gophercloud/gophercloud/v2/openstack/loadbalancer/v2/pools"

	"lbd/internal/octavia"
)

// The conversions from the file's objects (Octavia's own field names, with
// defaults filled) to gophercloud's request options. They cover what lbd's
// validation admits: TLS, L7 policies and session persistence are refused
// before lbctl gets here.

// desiredPool is one of the file's pools with its members: those listed in
// the file plus one per server for each servers.members entry naming it.
type desiredPool struct {
	*octavia.Pool
	Members []*octavia.Member
}

// desiredPools are the file's pools with the servers' members added. Servers
// whose address is not known yet (only while planning) get a placeholder.
func (r *run) desiredPools() []*desiredPool {
	out := make([]*desiredPool, 0, len(r.spec.LB.Pools))
	for _, p := range r.spec.LB.Pools {
		dp := &desiredPool{Pool: p, Members: append([]*octavia.Member(nil), p.Members...)}
		if srv := r.spec.OS.Servers; srv != nil {
			for _, sm := range srv.Members {
				if sm.Pool != p.Name {
					continue
				}
				for _, s := range r.servers {
					m := &octavia.Member{
						Name: s.Name, Address: s.Address, ProtocolPort: sm.ProtocolPort,
						Weight: sm.Weight, Backup: sm.Backup, MonitorPort: sm.MonitorPort, SubnetID: s.SubnetID,
					}
					if m.Address == "" {
						m.Address = fmt.Sprintf("<address of %s>", s.Name)
					}
					m.SetDefaults()
					dp.Members = append(dp.Members, m)
				}
			}
		}
		out = append(out, dp)
	}
	return out
}

func lbCreateOpts(lb *octavia.LoadBalancer, vipSubnetID string, listenerPools map[string]*desiredPool, lbPools []*desiredPool) loadbalancers.CreateOpts {
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
	for _, l := range lb.Listeners {
		lo := listenerCreateOpts(l, "")
		if dp := listenerPools[l.ID]; dp != nil {
			po := poolCreateOpts(dp, true)
			lo.DefaultPool = &po
		}
		opts.Listeners = append(opts.Listeners, lo)
	}
	for _, dp := range lbPools {
		opts.Pools = append(opts.Pools, poolCreateOpts(dp, true))
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
// Octavia takes only in a fully-populated load balancer create.
func poolCreateOpts(dp *desiredPool, inline bool) pools.CreateOpts {
	opts := pools.CreateOpts{
		Name: dp.Name, Description: dp.Description, AdminStateUp: dp.AdminStateUp,
		Protocol: pools.Protocol(dp.Protocol), LBMethod: pools.LBMethod(dp.LBAlgorithm), Tags: dp.Tags,
	}
	if !inline {
		return opts
	}
	for _, m := range dp.Members {
		opts.Members = append(opts.Members, memberCreateOpts(m))
	}
	if dp.HealthMonitor != nil {
		opts.Monitor = monitorCreateOpts(dp.HealthMonitor, "")
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
	opts := monitors.CreateOpts{
		PoolID: poolID, Name: h.Name, Type: string(h.Type), Delay: octavia.IntOr(h.Delay, 0), Timeout: octavia.IntOr(h.Timeout, 0),
		MaxRetries: h.MaxRetries, MaxRetriesDown: octavia.IntOr(h.MaxRetriesDown, octavia.DefaultMaxRetriesDown),
		URLPath: h.URLPath, HTTPMethod: h.HTTPMethod, ExpectedCodes: h.ExpectedCodes, DomainName: h.DomainName,
		AdminStateUp: h.AdminStateUp, Tags: h.Tags,
	}
	if h.HTTPVersion != nil {
		opts.HTTPVersion = fmt.Sprintf("%.1f", *h.HTTPVersion)
	}
	return opts
}
