package controlplane

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
)

// Listeners implements api.Service.
func (cp *ControlPlane) Listeners() []api.Listener {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var out []api.Listener
	for _, lb := range cp.st.LoadBalancers {
		for _, l := range lb.Listeners {
			out = append(out, cp.listenerView(lb, l))
		}
	}
	return out
}

// Listener implements api.Service.
func (cp *ControlPlane) Listener(id string) (api.Listener, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	lb, l := cp.st.listener(id)
	if l == nil {
		return api.Listener{}, api.NotFound(api.KindListener, id)
	}
	return cp.listenerView(lb, l), nil
}

// CreateListener implements api.Service. An inline default_pool is created
// with it.
func (cp *ControlPlane) CreateListener(ctx context.Context, l *octavia.Listener) (api.Listener, error) {
	if err := checkUUIDs("loadbalancer_id", l.LoadBalancerID, "default_pool_id", l.DefaultPoolID); err != nil {
		return api.Listener{}, err
	}
	l.ID = newID()
	next, err := cp.mutate(ctx, change{lbID: l.LoadBalancerID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			l.LoadBalancerID = lb.ID
			l.SetDefaults()
			if err := l.Validate("listener", lb); err != nil {
				return nil, touched{}, invalid(err)
			}
			if err := checkListenerPort(lb, l); err != nil {
				return nil, touched{}, err
			}
			t := touched{created: []string{l.ID}}
			if p := l.DefaultPool; p != nil {
				if l.DefaultPoolID != "" {
					return nil, touched{}, api.Invalid("Give default_pool or default_pool_id, not both.")
				}
				newPool(p, lb)
				if err := p.Validate("default_pool", lb); err != nil {
					return nil, touched{}, invalid(err)
				}
				lb.Pools = append(lb.Pools, p)
				l.DefaultPoolID, l.DefaultPool = p.ID, nil
				p.ListenerID = l.ID
				t.created = append(t.created, poolObjectIDs(p)...)
			}
			if err := checkListenerPool(lb, l); err != nil {
				return nil, touched{}, err
			}
			lb.Listeners = append(lb.Listeners, l)
			// Inline L7 policies (Octavia 11 answers these with a 500; lbd
			// creates them).
			for i, pol := range l.L7Policies {
				if err := pol.Validate(fmt.Sprintf("listener.l7policies[%d]", i), lb, l); err != nil {
					return nil, touched{}, invalid(err)
				}
			}
			n := len(lb.Pools)
			lb.NormalizeL7(l)
			for _, pol := range l.L7Policies {
				t.created = append(t.created, pol.ID)
				for _, r := range pol.Rules {
					t.created = append(t.created, r.ID)
				}
			}
			for _, p := range lb.Pools[n:] { // inline redirect pools
				t.created = append(t.created, poolObjectIDs(p)...)
			}
			return lb, t, nil
		}})
	if err != nil {
		return api.Listener{}, err
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	_, nl := cp.st.listener(l.ID)
	return cp.listenerView(next, nl), nil
}

// UpdateListener implements api.Service.
func (cp *ControlPlane) UpdateListener(ctx context.Context, id string, p api.Patch) (api.Listener, error) {
	lbID, err := cp.parentOf(id, api.KindListener)
	if err != nil {
		return api.Listener{}, err
	}
	next, err := cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			i := slices.IndexFunc(lb.Listeners, func(l *octavia.Listener) bool { return l.ID == id })
			if i < 0 {
				return nil, touched{}, api.NotFound(api.KindListener, id)
			}
			if err := checkPatchUUIDs(p, "default_pool_id"); err != nil {
				return nil, touched{}, err
			}
			l := lb.Listeners[i]
			if err := api.ApplyPatch(l, p); err != nil {
				return nil, touched{}, err
			}
			l.SetDefaults()
			if err := l.Validate("listener", lb); err != nil {
				return nil, touched{}, invalid(err)
			}
			if err := checkListenerPool(lb, l); err != nil {
				return nil, touched{}, err
			}
			for _, pool := range lb.Pools { // keep the pools' back-references right
				if pool.ListenerID == l.ID && pool.ID != l.DefaultPoolID {
					pool.ListenerID = ""
				}
			}
			return lb, touched{updated: []string{id}}, nil
		}})
	if err != nil {
		return api.Listener{}, err
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	_, l := cp.st.listener(id)
	return cp.listenerView(next, l), nil
}

// DeleteListener implements api.Service. Its default pool stays, at load
// balancer level, as in Octavia.
func (cp *ControlPlane) DeleteListener(ctx context.Context, id string) error {
	lbID, err := cp.parentOf(id, api.KindListener)
	if err != nil {
		return err
	}
	_, err = cp.mutate(ctx, change{lbID: lbID,
		edit: func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error) {
			n := len(lb.Listeners)
			lb.Listeners = slices.DeleteFunc(lb.Listeners, func(l *octavia.Listener) bool { return l.ID == id })
			if len(lb.Listeners) == n {
				return nil, touched{}, api.NotFound(api.KindListener, id)
			}
			for _, p := range lb.Pools {
				if p.ListenerID == id {
					p.ListenerID = ""
				}
			}
			return lb, touched{deleted: []string{id}}, nil
		}})
	return err
}

// ListenerStats implements api.Service.
func (cp *ControlPlane) ListenerStats(id string) (octavia.Stats, error) {
	cp.mu.Lock()
	_, l := cp.st.listener(id)
	cp.mu.Unlock()
	if l == nil {
		return octavia.Stats{}, api.NotFound(api.KindListener, id)
	}
	s, _ := cp.dp.ListenerStats(id)
	return s, nil
}

// checkListenerPort is Octavia's 409 for a second listener on one port.
func checkListenerPort(lb *octavia.LoadBalancer, l *octavia.Listener) error {
	for _, o := range lb.Listeners {
		if o.ID != l.ID && o.ProtocolPort == l.ProtocolPort && o.Protocol.Transport() == l.Protocol.Transport() {
			return api.Errorf(http.StatusConflict, "Another Listener on this Load Balancer is already using protocol %s and protocol_port %d", o.Protocol, l.ProtocolPort)
		}
	}
	return nil
}

// checkListenerPool checks a listener's default pool: it exists in the
// load balancer, and its protocol suits the listener's.
func checkListenerPool(lb *octavia.LoadBalancer, l *octavia.Listener) error {
	if l.DefaultPoolID == "" {
		return nil
	}
	if l.Protocol == octavia.ProtocolPrometheus {
		return api.Errorf(http.StatusBadRequest, "Protocol PROMETHEUS listeners cannot have child objects.")
	}
	p := lb.PoolByID(l.DefaultPoolID)
	if p == nil {
		return api.NotFound(api.KindPool, l.DefaultPoolID)
	}
	return checkProtocols(l.Protocol, p.Protocol)
}

// checkProtocols is Octavia's listener → pool protocol matrix.
func checkProtocols(listener, pool octavia.Protocol) error {
	if slices.Contains(octavia.ListenerPoolProtocols[listener], pool) {
		return nil
	}
	return api.Invalid("The pool protocol '%s' is invalid while the listener protocol is '%s'.", pool, listener)
}

// parentOf finds the load balancer an object belongs to.
func (cp *ControlPlane) parentOf(id, kind string) (string, error) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	var lb *octavia.LoadBalancer
	switch kind {
	case api.KindListener:
		lb, _ = cp.st.listener(id)
	case api.KindPool:
		lb, _ = cp.st.pool(id)
	case api.KindHealthMonitor:
		lb, _ = cp.st.monitor(id)
	case api.KindL7Policy, "L7Policy": // the rules' paths name it without the space
		lb, _, _ = cp.st.l7policy(id)
	default:
		panic(fmt.Sprintf("parentOf: unexpected kind %q", kind))
	}
	if lb == nil {
		return "", api.NotFound(kind, id)
	}
	return lb.ID, nil
}
