package controlplane

import (
	"context"
	"net/http"
	"slices"

	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
)

// Pools implements api.Service.
func (cp *ControlPlane) Pools() []api.Pool {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var out []api.Pool
	for _, lb := range cp.st.LoadBalancers {
		for _, p := range lb.Pools {
			out = append(out, cp.poolView(lb, p))
		}
	}
	return out
}

// Pool implements api.Service.
func (cp *ControlPlane) Pool(id string) (api.Pool, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	lb, p := cp.st.pool(id)
	if p == nil {
		return api.Pool{}, api.NotFound(api.KindPool, id)
	}
	return cp.poolView(lb, p), nil
}

// newPool gives a pool created through the API, and its inline members
// and monitor, fresh IDs and its parent's, and fills in defaults.
func newPool(p *octavia.Pool, lb *octavia.LoadBalancer) {
	p.ID = newID()
	p.LoadBalancerID = lb.ID
	for _, m := range p.Members {
		m.ID = newID()
	}
	if h := p.HealthMonitor; h != nil {
		h.ID = newID()
		h.PoolID = p.ID
	}
	p.SetDefaults()
}

// poolObjectIDs lists a pool's ID and those of its members and monitor.
func poolObjectIDs(p *octavia.Pool) []string {
	ids := []string{p.ID}
	for _, m := range p.Members {
		ids = append(ids, m.ID)
	}
	if p.HealthMonitor != nil {
		ids = append(ids, p.HealthMonitor.ID)
	}
	return ids
}

// CreatePool implements api.Service. With a listener_id the pool becomes
// that listener's default pool.
func (cp *ControlPlane) CreatePool(ctx context.Context, p *octavia.Pool) (api.Pool, error) {
	if err := checkUUIDs("listener_id", p.ListenerID, "loadbalancer_id", p.LoadBalancerID); err != nil {
		return api.Pool{}, err
	}
	lbID := p.LoadBalancerID
	if lbID == "" {
		cp.mu.Lock()
		lb, _ := cp.st.listener(p.ListenerID)
		cp.mu.Unlock()
		if lb == nil {
			return api.Pool{}, api.NotFound(api.KindListener, p.ListenerID)
		}
		lbID = lb.ID
	}
	var id string
	next, err := cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			newPool(p, lb)
			id = p.ID
			var l *octavia.Listener
			if p.ListenerID != "" {
				i := slices.IndexFunc(lb.Listeners, func(l *octavia.Listener) bool { return l.ID == p.ListenerID })
				if i < 0 {
					return nil, touched{}, api.NotFound(api.KindListener, p.ListenerID)
				}
				l = lb.Listeners[i]
				if l.Protocol == octavia.ProtocolPrometheus {
					return nil, touched{}, api.Errorf(http.StatusBadRequest, "Protocol PROMETHEUS listeners cannot have child objects.")
				}
				if err := checkProtocols(l.Protocol, p.Protocol); p.Protocol != "" && err != nil {
					return nil, touched{}, err
				}
			}
			if err := p.Validate("pool", lb); err != nil {
				return nil, touched{}, invalid(err)
			}
			if l != nil {
				if l.DefaultPoolID != "" {
					return nil, touched{}, api.Errorf(http.StatusConflict, "This listener already has a default pool")
				}
				l.DefaultPoolID = p.ID
			}
			lb.Pools = append(lb.Pools, p)
			t := touched{created: poolObjectIDs(p)}
			if l != nil {
				t.updated = []string{l.ID}
			}
			return lb, t, nil
		}})
	if err != nil {
		return api.Pool{}, err
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.poolView(next, next.PoolByID(id)), nil
}

// UpdatePool implements api.Service.
func (cp *ControlPlane) UpdatePool(ctx context.Context, id string, patch api.Patch) (api.Pool, error) {
	lbID, err := cp.parentOf(id, api.KindPool)
	if err != nil {
		return api.Pool{}, err
	}
	next, err := cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			p := lb.PoolByID(id)
			if p == nil {
				return nil, touched{}, api.NotFound(api.KindPool, id)
			}
			if err := api.ApplyPatch(p, patch); err != nil {
				return nil, touched{}, err
			}
			p.SetDefaults()
			if err := p.Validate("pool", lb); err != nil {
				return nil, touched{}, invalid(err)
			}
			return lb, touched{updated: []string{id}}, nil
		}})
	if err != nil {
		return api.Pool{}, err
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.poolView(next, next.PoolByID(id)), nil
}

// DeletePool implements api.Service: with its members and monitor; a
// listener using it as default pool is left without one.
func (cp *ControlPlane) DeletePool(ctx context.Context, id string) error {
	lbID, err := cp.parentOf(id, api.KindPool)
	if err != nil {
		return err
	}
	_, err = cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			p := lb.PoolByID(id)
			if p == nil {
				return nil, touched{}, api.NotFound(api.KindPool, id)
			}
			if pols := lb.PoliciesUsingPool(id); len(pols) > 0 {
				// Octavia names the first it created.
				first := slices.MinFunc(pols, func(a, b *octavia.L7Policy) int {
					return cp.metaOf(a.ID).CreatedAt.Compare(cp.metaOf(b.ID).CreatedAt)
				})
				return nil, touched{}, api.Errorf(http.StatusConflict, "Pool %s is in use by L7 policy %s", id, first.ID)
			}
			t := touched{deleted: poolObjectIDs(p)}
			lb.Pools = slices.DeleteFunc(lb.Pools, func(x *octavia.Pool) bool { return x.ID == id })
			for _, l := range lb.Listeners {
				if l.DefaultPoolID == id {
					l.DefaultPoolID = ""
					t.updated = append(t.updated, l.ID)
				}
			}
			return lb, t, nil
		}})
	return err
}
