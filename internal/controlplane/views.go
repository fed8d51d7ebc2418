package controlplane

import (
	"time"

	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
)

// The functions below render committed objects as Octavia's response
// bodies. Callers hold cp.mu.

func (cp *ControlPlane) metaOf(id string) meta {
	if m := cp.st.Meta[id]; m != nil {
		return *m
	}
	return meta{Status: octavia.ProvisioningActive}
}

// operating is an object's operating_status: OFFLINE when it is disabled,
// the data plane's word when it has one, and otherwise Octavia's initial
// value (db/prepare.py): OFFLINE, or NO_MONITOR for a member of a pool
// without a monitor, or ONLINE for an enabled monitor (Octavia marks a
// monitor ONLINE once it is ACTIVE).
func (cp *ControlPlane) operating(id string, enabled bool, fallback octavia.OperatingStatus) string {
	if !enabled {
		return string(octavia.OperatingOffline)
	}
	if s, ok := cp.dp.OperatingStatus(id); ok {
		return string(s)
	}
	return string(fallback)
}

func ts(t time.Time) api.Timestamp { return api.Timestamp(t) }

func project(m meta) *string { return api.Nullable(m.ProjectID) }

func list[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (cp *ControlPlane) lbView(lb *octavia.LoadBalancer) api.LoadBalancer {
	m := cp.metaOf(lb.ID)
	v := api.LoadBalancer{
		ID:                 lb.ID,
		Name:               lb.Name,
		Description:        lb.Description,
		ProvisioningStatus: string(m.Status),
		OperatingStatus:    cp.operating(lb.ID, lb.Enabled(), octavia.OperatingOffline),
		AdminStateUp:       lb.Enabled(),
		ProjectID:          project(m),
		TenantID:           project(m),
		CreatedAt:          ts(m.CreatedAt),
		UpdatedAt:          ts(m.UpdatedAt),
		VIPAddress:         api.Nullable(lb.VIPAddress),
		VIPPortID:          api.Nullable(vipPort(lb)),
		VIPSubnetID:        api.Nullable(lb.VIPSubnetID),
		VIPNetworkID:       api.Nullable(lb.VIPNetworkID),
		VIPQoSPolicyID:     api.Nullable(lb.VIPQoSPolicyID),
		AdditionalVIPs:     list(lb.AdditionalVIPs),
		Listeners:          []api.IDRef{},
		Pools:              []api.IDRef{},
		Provider:           lb.Provider,
		FlavorID:           api.Nullable(lb.FlavorID),
		AvailabilityZone:   api.Nullable(lb.AvailabilityZone),
		Tags:               list(lb.Tags),
	}
	for _, l := range lb.Listeners {
		v.Listeners = append(v.Listeners, api.IDRef{ID: l.ID})
	}
	for _, p := range lb.Pools {
		v.Pools = append(v.Pools, api.IDRef{ID: p.ID})
	}
	return v
}

func (cp *ControlPlane) lbFullView(lb *octavia.LoadBalancer) api.LoadBalancerFull {
	v := api.LoadBalancerFull{LoadBalancer: cp.lbView(lb), Listeners: []api.ListenerFull{}, Pools: []api.PoolFull{}}
	for _, l := range lb.Listeners {
		lv := api.ListenerFull{Listener: cp.listenerView(lb, l), L7Policies: []api.L7PolicyFull{}}
		lv.Loadbalancers = nil
		for _, pol := range l.L7Policies {
			lv.L7Policies = append(lv.L7Policies, cp.l7PolicyFullView(pol))
		}
		v.Listeners = append(v.Listeners, lv)
	}
	for _, p := range lb.Pools {
		v.Pools = append(v.Pools, cp.poolFullView(lb, p))
	}
	return v
}

func (cp *ControlPlane) listenerView(lb *octavia.LoadBalancer, l *octavia.Listener) api.Listener {
	m := cp.metaOf(l.ID)
	headers := l.InsertHeaders
	if headers == nil {
		headers = map[string]string{}
	}
	var cidrs []string
	if len(l.AllowedCIDRs) > 0 {
		cidrs = l.AllowedCIDRs
	}
	return api.Listener{
		ID:                      l.ID,
		Name:                    l.Name,
		Description:             l.Description,
		ProvisioningStatus:      string(m.Status),
		OperatingStatus:         cp.operating(l.ID, l.Enabled(), octavia.OperatingOffline),
		AdminStateUp:            l.Enabled(),
		Protocol:                string(l.Protocol),
		ProtocolPort:            l.ProtocolPort,
		ConnectionLimit:         octavia.IntOr(l.ConnectionLimit, octavia.DefaultConnectionLimit),
		DefaultTLSContainerRef:  api.Nullable(l.DefaultTLSRef),
		SNIContainerRefs:        list(l.SNIContainerRefs),
		ProjectID:               project(m),
		TenantID:                project(m),
		DefaultPoolID:           api.Nullable(l.DefaultPoolID),
		L7Policies:              l7Refs(l),
		InsertHeaders:           headers,
		CreatedAt:               ts(m.CreatedAt),
		UpdatedAt:               ts(m.UpdatedAt),
		Loadbalancers:           []api.IDRef{{ID: lb.ID}},
		TimeoutClientData:       octavia.IntOr(l.TimeoutClientData, octavia.DefaultTimeoutClientData),
		TimeoutMemberConnect:    octavia.IntOr(l.TimeoutMemberConnect, octavia.DefaultTimeoutMemberConnect),
		TimeoutMemberData:       octavia.IntOr(l.TimeoutMemberData, octavia.DefaultTimeoutMemberData),
		TimeoutTCPInspect:       octavia.IntOr(l.TimeoutTCPInspect, octavia.DefaultTimeoutTCPInspect),
		Tags:                    list(l.Tags),
		ClientCATLSContainerRef: api.Nullable(l.ClientCATLSRef),
		ClientAuthentication:    orDefault(l.ClientAuthentication, octavia.DefaultClientAuthentication),
		ClientCRLContainerRef:   api.Nullable(l.ClientCRLRef),
		AllowedCIDRs:            cidrs,
		TLSCiphers:              api.Nullable(l.TLSCiphers),
		TLSVersions:             nilIfEmpty(l.TLSVersions),
		ALPNProtocols:           nilIfEmpty(l.ALPNProtocols),
		ConnectionLogging:       l.ConnectionLogging,
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// vipPort is the load balancer's vip_port_id: the port asked for, or the
// one lbd's amphora serves the VIP on (lbd has no Neutron port to give;
// Octavia always has one).
func vipPort(lb *octavia.LoadBalancer) string {
	if lb.VIPPortID != "" {
		return lb.VIPPortID
	}
	return derivedID(lb.ID, "vip_port")
}

func (cp *ControlPlane) poolBase(lb *octavia.LoadBalancer, p *octavia.Pool) api.PoolBase {
	m := cp.metaOf(p.ID)
	// A pool no listener uses serves nothing: in Octavia it is in no
	// amphora's configuration, so no heartbeat ever moves it from OFFLINE.
	attached := lb.PoolInUse(p.ID)
	v := api.PoolBase{
		ID:                 p.ID,
		Name:               p.Name,
		Description:        p.Description,
		ProvisioningStatus: string(m.Status),
		OperatingStatus:    cp.operating(p.ID, p.Enabled() && attached, octavia.OperatingOffline),
		AdminStateUp:       p.Enabled(),
		Protocol:           string(p.Protocol),
		LBAlgorithm:        string(p.LBAlgorithm),
		ProjectID:          project(m),
		TenantID:           project(m),
		Listeners:          []api.IDRef{},
		CreatedAt:          ts(m.CreatedAt),
		UpdatedAt:          ts(m.UpdatedAt),
		Tags:               list(p.Tags),
		TLSContainerRef:    api.Nullable(p.TLSContainerRef),
		CATLSContainerRef:  api.Nullable(p.CATLSContainerRef),
		CRLContainerRef:    api.Nullable(p.CRLContainerRef),
		TLSEnabled:         p.TLSEnabled != nil && *p.TLSEnabled,
		TLSCiphers:         api.Nullable(p.TLSCiphers),
		TLSVersions:        nilIfEmpty(p.TLSVersions),
		ALPNProtocols:      nilIfEmpty(p.ALPNProtocols),
	}
	if sp := p.SessionPersistence; sp != nil {
		v.SessionPersistence = &api.SessionPersistence{
			Type: string(sp.Type), CookieName: api.Nullable(sp.CookieName),
			PersistenceTimeout: sp.PersistenceTimeout, PersistenceGranularity: api.Nullable(sp.PersistenceGranularity),
		}
	}
	for _, l := range listenersOf(lb, p.ID) {
		v.Listeners = append(v.Listeners, api.IDRef{ID: l.ID})
	}
	return v
}

func (cp *ControlPlane) poolView(lb *octavia.LoadBalancer, p *octavia.Pool) api.Pool {
	v := api.Pool{PoolBase: cp.poolBase(lb, p), Loadbalancers: []api.IDRef{{ID: lb.ID}}, Members: []api.IDRef{}}
	for _, m := range p.Members {
		v.Members = append(v.Members, api.IDRef{ID: m.ID})
	}
	if p.HealthMonitor != nil {
		v.HealthMonitorID = &p.HealthMonitor.ID
	}
	return v
}

func (cp *ControlPlane) poolFullView(lb *octavia.LoadBalancer, p *octavia.Pool) api.PoolFull {
	v := api.PoolFull{PoolBase: cp.poolBase(lb, p), Members: []api.Member{}}
	for _, m := range p.Members {
		v.Members = append(v.Members, cp.memberView(p, m))
	}
	if p.HealthMonitor != nil {
		hm := cp.monitorView(p, p.HealthMonitor)
		hm.Pools = nil
		v.HealthMonitor = &hm
	}
	return v
}

func (cp *ControlPlane) memberView(p *octavia.Pool, mb *octavia.Member) api.Member {
	m := cp.metaOf(mb.ID)
	fallback := octavia.OperatingNoMonitor
	if p.HealthMonitor != nil {
		fallback = octavia.OperatingOffline
	}
	return api.Member{
		ID:                 mb.ID,
		Name:               mb.Name,
		OperatingStatus:    cp.operating(mb.ID, mb.Enabled(), fallback),
		ProvisioningStatus: string(m.Status),
		AdminStateUp:       mb.Enabled(),
		Address:            mb.Address,
		ProtocolPort:       mb.ProtocolPort,
		Weight:             octavia.IntOr(mb.Weight, octavia.DefaultWeight),
		Backup:             mb.Backup != nil && *mb.Backup,
		SubnetID:           api.Nullable(mb.SubnetID),
		ProjectID:          project(m),
		TenantID:           project(m),
		CreatedAt:          ts(m.CreatedAt),
		UpdatedAt:          ts(m.UpdatedAt),
		MonitorAddress:     api.Nullable(mb.MonitorAddress),
		MonitorPort:        mb.MonitorPort,
		Tags:               list(mb.Tags),
	}
}

func (cp *ControlPlane) monitorView(p *octavia.Pool, h *octavia.HealthMonitor) api.HealthMonitor {
	m := cp.metaOf(h.ID)
	return api.HealthMonitor{
		ID:                 h.ID,
		Name:               h.Name,
		Type:               string(h.Type),
		Delay:              octavia.IntOr(h.Delay, 0),
		Timeout:            octavia.IntOr(h.Timeout, 0),
		MaxRetries:         h.MaxRetries,
		MaxRetriesDown:     octavia.IntOr(h.MaxRetriesDown, octavia.DefaultMaxRetriesDown),
		HTTPMethod:         api.Nullable(h.HTTPMethod),
		URLPath:            api.Nullable(h.URLPath),
		ExpectedCodes:      api.Nullable(h.ExpectedCodes),
		AdminStateUp:       h.Enabled(),
		ProjectID:          project(m),
		TenantID:           project(m),
		Pools:              []api.IDRef{{ID: p.ID}},
		ProvisioningStatus: string(m.Status),
		OperatingStatus:    cp.operating(h.ID, h.Enabled(), octavia.OperatingOnline),
		CreatedAt:          ts(m.CreatedAt),
		UpdatedAt:          ts(m.UpdatedAt),
		Tags:               list(h.Tags),
		HTTPVersion:        h.HTTPVersion,
		DomainName:         api.Nullable(h.DomainName),
	}
}

// statusTree renders GET .../status: listeners, the pools they use, their
// members and monitor. Pools no listener uses are not in it, as in Octavia.
func (cp *ControlPlane) statusTree(lb *octavia.LoadBalancer) api.StatusTree {
	v := cp.lbView(lb)
	t := api.StatusTree{LoadBalancer: api.LoadBalancerStatus{
		ID: lb.ID, Name: lb.Name, OperatingStatus: v.OperatingStatus, ProvisioningStatus: v.ProvisioningStatus,
		Listeners: []api.ListenerStatus{},
	}}
	for _, l := range lb.Listeners {
		lv := cp.listenerView(lb, l)
		ls := api.ListenerStatus{ID: l.ID, Name: l.Name, OperatingStatus: lv.OperatingStatus,
			ProvisioningStatus: lv.ProvisioningStatus, Pools: []api.PoolStatus{}}
		var pools []*octavia.Pool
		if p := lb.ListenerPool(l); p != nil {
			pools = append(pools, p)
		}
		for _, p := range append(pools, lb.RedirectPools(l)...) {
			pv := cp.poolBase(lb, p)
			ps := api.PoolStatus{ID: p.ID, Name: p.Name, ProvisioningStatus: pv.ProvisioningStatus,
				OperatingStatus: pv.OperatingStatus, Members: []api.MemberStatus{}}
			if h := p.HealthMonitor; h != nil {
				hv := cp.monitorView(p, h)
				hs := &api.HealthMonitorStatus{ID: h.ID, Name: h.Name, Type: string(h.Type),
					ProvisioningStatus: hv.ProvisioningStatus, OperatingStatus: hv.OperatingStatus}
				ps.HealthMonitor, ps.HealthMonitorAlias = hs, hs
			}
			for _, mb := range p.Members {
				mv := cp.memberView(p, mb)
				ps.Members = append(ps.Members, api.MemberStatus{ID: mb.ID, Name: mb.Name,
					OperatingStatus: mv.OperatingStatus, ProvisioningStatus: mv.ProvisioningStatus,
					Address: mb.Address, ProtocolPort: mb.ProtocolPort})
			}
			ls.Pools = append(ls.Pools, ps)
		}
		t.LoadBalancer.Listeners = append(t.LoadBalancer.Listeners, ls)
	}
	return t
}

// l7Refs lists a listener's L7 policies, in position order.
func l7Refs(l *octavia.Listener) []api.IDRef {
	out := []api.IDRef{}
	for _, pol := range l.L7Policies {
		out = append(out, api.IDRef{ID: pol.ID})
	}
	return out
}
