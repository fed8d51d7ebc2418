package controlplane

import (
	"context"

	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
)

// LoadBalancers implements api.Service.
func (cp *ControlPlane) LoadBalancers() []api.LoadBalancer {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	out := make([]api.LoadBalancer, 0, len(cp.st.LoadBalancers))
	for _, lb := range cp.st.LoadBalancers {
		out = append(out, cp.lbView(lb))
	}
	return out
}

// LoadBalancer implements api.Service.
func (cp *ControlPlane) LoadBalancer(id string) (api.LoadBalancer, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	lb := cp.st.lb(id)
	if lb == nil {
		return api.LoadBalancer{}, api.NotFound(api.KindLoadBalancer, id)
	}
	return cp.lbView(lb), nil
}

// CreateLoadBalancer implements api.Service: a load balancer alone or
// fully populated (listeners with inline default pools, pools with members
// and monitors), created in one change. lbd has no Neutron: the VIP subnet,
// network or port is recorded as given, and the VIP address is the one
// asked for or lbd's --vip-address.
func (cp *ControlPlane) CreateLoadBalancer(ctx context.Context, lb *octavia.LoadBalancer) (api.LoadBalancerFull, error) {
	if err := checkUUIDs("vip_port_id", lb.VIPPortID, "vip_subnet_id", lb.VIPSubnetID, "vip_network_id", lb.VIPNetworkID,
		"vip_qos_policy_id", lb.VIPQoSPolicyID, "flavor_id", lb.FlavorID); err != nil {
		return api.LoadBalancerFull{}, err
	}
	if lb.VIPSubnetID == "" && lb.VIPNetworkID == "" && lb.VIPPortID == "" {
		return api.LoadBalancerFull{}, api.Invalid("VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")
	}
	if lb.VIPAddress == "" {
		lb.VIPAddress = cp.opts.VIPAddress
	}
	cp.mu.Lock()
	err := catalogProvider(cp.st, lb)
	cp.mu.Unlock()
	if err != nil {
		return api.LoadBalancerFull{}, err
	}
	lb.ID = newID()
	lb.SetDefaults()
	if err := lb.Validate("loadbalancer"); err != nil {
		return api.LoadBalancerFull{}, invalid(err)
	}
	// Children get IDs derived from the new load balancer's random one,
	// so they are unique too.
	lb.Normalize("")
	next, err := cp.mutate(ctx, change{lbID: lb.ID, create: true,
		edit: func(*octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			// Again under the state lock: the flavor or zone may have
			// gone meanwhile.
			if err := catalogProvider(cp.st, lb); err != nil {
				return nil, touched{}, err
			}
			return lb, touched{created: objectIDs(lb)}, nil
		}})
	if err != nil {
		return api.LoadBalancerFull{}, err
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.lbFullView(next), nil
}

// UpdateLoadBalancer implements api.Service.
func (cp *ControlPlane) UpdateLoadBalancer(ctx context.Context, id string, p api.Patch) (api.LoadBalancer, error) {
	next, err := cp.mutate(ctx, change{lbID: id, lbItself: true,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			if err := checkPatchUUIDs(p, "vip_qos_policy_id"); err != nil {
				return nil, touched{}, err
			}
			if err := api.ApplyPatch(lb, p); err != nil {
				return nil, touched{}, err
			}
			lb.SetDefaults()
			if err := lb.ValidateFields("loadbalancer"); err != nil {
				return nil, touched{}, invalid(err)
			}
			return lb, touched{updated: []string{lb.ID}}, nil
		}})
	if err != nil {
		return api.LoadBalancer{}, err
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.lbView(next), nil
}

// DeleteLoadBalancer implements api.Service. Without cascade, a load
// balancer with listeners or pools is refused, as Octavia does.
func (cp *ControlPlane) DeleteLoadBalancer(ctx context.Context, id string, cascade bool) error {
	_, err := cp.mutate(ctx, change{lbID: id, lbItself: true,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			if !cascade && (len(lb.Listeners) > 0 || len(lb.Pools) > 0) {
				return nil, touched{}, api.Invalid("Cannot delete Load Balancer %s - it has children", id)
			}
			return nil, touched{deleted: objectIDs(lb)}, nil
		}})
	return err
}

// FailoverLoadBalancer implements api.Service. The load balancer goes
// through PENDING_UPDATE, its configuration is applied again, and the
// amphora lbd reports for it is replaced by a new one (new IDs), as
// Octavia's failover replaces the amphora.
func (cp *ControlPlane) FailoverLoadBalancer(ctx context.Context, id string) error {
	_, err := cp.mutate(ctx, change{lbID: id, lbItself: true,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			return lb, touched{updated: []string{lb.ID}}, nil
		},
		failover: true})
	return err
}

// LoadBalancerStatus implements api.Service.
func (cp *ControlPlane) LoadBalancerStatus(id string) (api.StatusTree, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	lb := cp.st.lb(id)
	if lb == nil {
		return api.StatusTree{}, api.NotFound(api.KindLoadBalancer, id)
	}
	return cp.statusTree(lb), nil
}

// LoadBalancerStats implements api.Service: the sum over its listeners.
func (cp *ControlPlane) LoadBalancerStats(id string) (octavia.Stats, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	lb := cp.st.lb(id)
	if lb == nil {
		return octavia.Stats{}, api.NotFound(api.KindLoadBalancer, id)
	}
	var sum octavia.Stats
	for _, l := range lb.Listeners {
		if s, ok := cp.dp.ListenerStats(l.ID); ok {
			sum = sum.Add(s)
		}
	}
	return sum, nil
}

// checkPatchUUIDs checks UUID-typed attributes of a PUT body.
func checkPatchUUIDs(p api.Patch, names ...string) error {
	for _, n := range names {
		raw, ok := p[n]
		if !ok {
			continue
		}
		var s *string
		if err := jsonUnmarshal(raw, &s); err != nil {
			return api.InvalidInput(n, string(raw), "Value should be UUID format")
		}
		if s != nil {
			if err := checkUUIDs(n, *s); err != nil {
				return err
			}
		}
	}
	return nil
}
