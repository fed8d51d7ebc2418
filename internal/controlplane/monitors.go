package controlplane

import (
	"context"
	"net/http"

	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
)

// HealthMonitors implements api.Service.
func (cp *ControlPlane) HealthMonitors() []api.HealthMonitor {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var out []api.HealthMonitor
	for _, lb := range cp.st.LoadBalancers {
		for _, p := range lb.Pools {
			if p.HealthMonitor != nil {
				out = append(out, cp.monitorView(p, p.HealthMonitor))
			}
		}
	}
	return out
}

// HealthMonitor implements api.Service.
func (cp *ControlPlane) HealthMonitor(id string) (api.HealthMonitor, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	_, p := cp.st.monitor(id)
	if p == nil {
		return api.HealthMonitor{}, api.NotFound(api.KindHealthMonitor, id)
	}
	return cp.monitorView(p, p.HealthMonitor), nil
}

// CreateHealthMonitor implements api.Service.
func (cp *ControlPlane) CreateHealthMonitor(ctx context.Context, h *octavia.HealthMonitor) (api.HealthMonitor, error) {
	if err := checkUUIDs("pool_id", h.PoolID); err != nil {
		return api.HealthMonitor{}, err
	}
	lbID, err := cp.parentOf(h.PoolID, api.KindPool)
	if err != nil {
		return api.HealthMonitor{}, err
	}
	h.ID = newID()
	next, err := cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			p := lb.PoolByID(h.PoolID)
			if p == nil {
				return nil, touched{}, api.NotFound(api.KindPool, h.PoolID)
			}
			if p.HealthMonitor != nil {
				return nil, touched{}, api.Errorf(http.StatusConflict, "This pool already has a health monitor")
			}
			h.SetDefaults()
			if err := h.Validate("healthmonitor", p.Protocol); err != nil {
				return nil, touched{}, invalid(err)
			}
			p.HealthMonitor = h
			return lb, touched{created: []string{h.ID}, updated: []string{p.ID}}, nil
		}})
	if err != nil {
		return api.HealthMonitor{}, err
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	p := next.PoolByID(h.PoolID)
	return cp.monitorView(p, p.HealthMonitor), nil
}

// UpdateHealthMonitor implements api.Service.
func (cp *ControlPlane) UpdateHealthMonitor(ctx context.Context, id string, patch api.Patch) (api.HealthMonitor, error) {
	lbID, err := cp.parentOf(id, api.KindHealthMonitor)
	if err != nil {
		return api.HealthMonitor{}, err
	}
	var poolID string
	next, err := cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			p := monitorPool(lb, id)
			if p == nil {
				return nil, touched{}, api.NotFound(api.KindHealthMonitor, id)
			}
			poolID = p.ID
			if err := api.ApplyPatch(p.HealthMonitor, patch); err != nil {
				return nil, touched{}, err
			}
			p.HealthMonitor.SetDefaults()
			if err := p.HealthMonitor.Validate("healthmonitor", p.Protocol); err != nil {
				return nil, touched{}, invalid(err)
			}
			return lb, touched{updated: []string{id}}, nil
		}})
	if err != nil {
		return api.HealthMonitor{}, err
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	p := next.PoolByID(poolID)
	return cp.monitorView(p, p.HealthMonitor), nil
}

// DeleteHealthMonitor implements api.Service.
func (cp *ControlPlane) DeleteHealthMonitor(ctx context.Context, id string) error {
	lbID, err := cp.parentOf(id, api.KindHealthMonitor)
	if err != nil {
		return err
	}
	_, err = cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			p := monitorPool(lb, id)
			if p == nil {
				return nil, touched{}, api.NotFound(api.KindHealthMonitor, id)
			}
			p.HealthMonitor = nil
			return lb, touched{deleted: []string{id}, updated: []string{p.ID}}, nil
		}})
	return err
}

func monitorPool(lb *octavia.LoadBalancer, id string) *octavia.Pool {
	for _, p := range lb.Pools {
		if p.HealthMonitor != nil && p.HealthMonitor.ID == id {
			return p
		}
	}
	return nil
}
