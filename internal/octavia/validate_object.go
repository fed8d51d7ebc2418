package octavia

import "net/netip"

// Per-object validation for the REST API, which creates and updates objects
// one at a time in the normalized shape (pools at load-balancer level,
// listeners naming them by default_pool_id). The rules are the same as the
// config file's; what is left out is what only a fully-populated create
// requires (named, uniquely named pools) and the cross-object checks the API
// answers with 409 rather than 400 (duplicate ports and members).

// Validate checks one listener; lb, when not nil, is the load balancer it
// belongs to (its VIP decides which allowed_cidrs fit).
func (l *Listener) Validate(path string, lb *LoadBalancer) error {
	var p problems
	l.validate(&p, path, lb)
	return p.err()
}

// Validate checks one pool, its members and its monitor, without the
// fully-populated create's naming rules.
func (pool *Pool) Validate(path string, lb *LoadBalancer) error {
	var p problems
	pool.validate(&p, path, lb)
	return p.err()
}

// Validate checks one member.
func (m *Member) Validate(path string) error {
	var p problems
	m.validate(&p, path)
	return p.err()
}

// Validate checks one health monitor of a pool with the given protocol.
func (h *HealthMonitor) Validate(path string, poolProtocol Protocol) error {
	var p problems
	h.validate(&p, path, poolProtocol)
	return p.err()
}

// ValidateFields checks the load balancer's own fields (not its listeners
// or pools): lengths, tags, addresses, provider.
func (lb *LoadBalancer) ValidateFields(path string) error {
	var p problems
	checkID(&p, path, lb.ID)
	checkLen(&p, path+".name", lb.Name)
	checkLen(&p, path+".description", lb.Description)
	checkTags(&p, path, lb.Tags)
	if lb.VIPAddress != "" {
		if _, err := netip.ParseAddr(lb.VIPAddress); err != nil {
			p.add(path+".vip_address", lb.VIPAddress, "must be an IPv4 or IPv6 address")
		}
	}
	if lb.Provider != ProviderAmphora && lb.Provider != ProviderLBD {
		p.add(path+".provider", lb.Provider, "provider is not enabled (one of %q, %q)", ProviderAmphora, ProviderLBD)
	}
	checkTopology(&p, path, lb.Topology)
	return p.err()
}

// checkTopology checks a load balancer's topology.
func checkTopology(p *problems, path, topology string) {
	switch topology {
	case "", TopologySingle, TopologyActiveStandby:
	default:
		p.add(path+".topology", topology, "must be one of %q, %q", TopologySingle, TopologyActiveStandby)
	}
}
