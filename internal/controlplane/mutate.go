package controlplane

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
)

// change is one mutation of one load balancer, made on a clone of its
// graph by edit and then applied, committed and persisted by mutate.
type change struct {
	lbID string
	// create marks a new load balancer; edit gets nil and returns it.
	create bool
	// lbItself marks a change to the load balancer object (update, delete,
	// failover): a busy load balancer then answers Octavia's "Invalid
	// state" 409 rather than the "immutable" one children get.
	lbItself bool
	// edit changes lb (a private clone) and reports what it touched. It
	// returns the new graph, nil to delete the load balancer, or an error
	// (*api.Error for the client) to change nothing.
	edit func(lb *octavia.LoadBalancer) (*octavia.LoadBalancer, touched, error)
}

// touched lists the objects a change created, updated or deleted, by ID.
type touched struct {
	created, updated, deleted []string
}

// mutate runs a change: check that the load balancer is ACTIVE, edit a
// clone, check it against the other load balancers, mark the objects
// PENDING_*, apply the whole desired state to the data plane, then commit
// and persist. Only then does it return nil: the change is live and on
// disk. On any failure the state is as before.
func (cp *ControlPlane) mutate(ctx context.Context, c change) (*octavia.LoadBalancer, error) {
	cp.gate.RLock()
	defer cp.gate.RUnlock()
	cp.mu.Lock()
	var cur *octavia.LoadBalancer
	if !c.create {
		cur = cp.st.lb(c.lbID)
		if cur == nil {
			cp.mu.Unlock()
			return nil, api.NotFound(api.KindLoadBalancer, c.lbID)
		}
		if s := cp.st.status(cur.ID); s != octavia.ProvisioningActive {
			cp.mu.Unlock()
			if c.lbItself {
				return nil, api.PendingState(string(s), cur.ID)
			}
			return nil, api.Immutable(api.KindLoadBalancer, cur.ID)
		}
	}
	var work *octavia.LoadBalancer
	if cur != nil {
		var err error
		if work, err = cloneLB(cur); err != nil {
			cp.mu.Unlock()
			return nil, err
		}
	}
	next, t, err := c.edit(work)
	if err == nil && next != nil {
		err = checkBinds(cp.st, next)
	}
	if err != nil {
		cp.mu.Unlock()
		return nil, err
	}
	// Mark what readers can see as pending; objects being created are not
	// visible until committed.
	pending := map[string]octavia.ProvisioningStatus{}
	if cur != nil {
		pending[cur.ID] = octavia.ProvisioningPendingUpdate
		if next == nil {
			pending[cur.ID] = octavia.ProvisioningPendingDelete
			for _, id := range objectIDs(cur) {
				pending[id] = octavia.ProvisioningPendingDelete
			}
		}
		for _, id := range t.updated {
			pending[id] = octavia.ProvisioningPendingUpdate
		}
		for _, id := range t.deleted {
			pending[id] = octavia.ProvisioningPendingDelete
		}
		for _, l := range cur.Listeners { // Octavia locks the listeners too
			if _, ok := pending[l.ID]; !ok {
				pending[l.ID] = octavia.ProvisioningPendingUpdate
			}
		}
		for id, s := range pending {
			if m := cp.st.Meta[id]; m != nil {
				m.Status = s
			}
		}
	}
	cp.mu.Unlock()

	cp.applyMu.Lock()
	defer cp.applyMu.Unlock()

	cp.mu.Lock()
	next2 := cp.st.clone()
	replaceLB(next2, c.lbID, next)
	cfg := next2.config()
	cp.mu.Unlock()

	if err := cp.apply(ctx, cfg); err != nil {
		cp.mu.Lock()
		cp.settle(pending)
		cp.mu.Unlock()
		return nil, providerError(cur, next, err)
	}

	cp.mu.Lock()
	defer cp.mu.Unlock()
	now := cp.now().UTC()
	old := cp.st
	// Start from the live state (other load balancers may have pending
	// marks) and put the new graph in.
	st := cp.st.clone()
	replaceLB(st, c.lbID, next)
	for id := range pending {
		if m := st.Meta[id]; m != nil {
			m.Status = octavia.ProvisioningActive
		}
	}
	cp.commitMeta(st, cur, next, t, now)
	if err := saveState(cp.opts.StateDir, st); err != nil {
		cp.settle(pending)
		// The data plane already serves the change: put it back to what is
		// on disk, so the two agree again.
		if rerr := cp.apply(ctx, old.config()); rerr != nil {
			cp.log.LogAttrs(ctx, slog.LevelError, "re-applying the stored state after a failed save", slog.String("error", rerr.Error()))
		}
		return nil, err
	}
	cp.st = st
	return next, nil
}

// settle puts pending marks back to ACTIVE after a failed change.
func (cp *ControlPlane) settle(pending map[string]octavia.ProvisioningStatus) {
	for id := range pending {
		if m := cp.st.Meta[id]; m != nil {
			m.Status = octavia.ProvisioningActive
		}
	}
}

// commitMeta records creation and update times and ownership of a committed
// change: created objects get created_at, updated ones (and their load
// balancer, whose provisioning status moved) updated_at.
func (cp *ControlPlane) commitMeta(st *state, cur, next *octavia.LoadBalancer, t touched, now time.Time) {
	if next == nil {
		for _, id := range objectIDs(cur) {
			delete(st.Meta, id)
		}
		if o := st.Owners[cur.ID]; o != nil && o.FileHash != "" {
			st.Tombstones[cur.ID] = o.FileHash
		}
		delete(st.Owners, cur.ID)
		return
	}
	project := next.ProjectID
	for _, id := range t.created {
		st.Meta[id] = &meta{ProjectID: project, Status: octavia.ProvisioningActive, CreatedAt: now}
	}
	for _, id := range t.updated {
		if m := st.Meta[id]; m != nil {
			m.UpdatedAt = now
		}
	}
	for _, id := range t.deleted {
		delete(st.Meta, id)
	}
	if m := st.Meta[next.ID]; m != nil && cur != nil {
		m.UpdatedAt = now
	}
	// Anything in the graph without bookkeeping (objects hoisted by
	// normalization) gets it now.
	for _, id := range objectIDs(next) {
		if st.Meta[id] == nil {
			st.Meta[id] = &meta{ProjectID: project, Status: octavia.ProvisioningActive, CreatedAt: now}
		}
	}
	o := st.Owners[next.ID]
	if o == nil {
		o = &owner{}
		st.Owners[next.ID] = o
	}
	o.API = true
}

// replaceLB puts lb in place of the load balancer with that ID, appends it
// if new, or removes the old one if lb is nil.
func replaceLB(st *state, id string, lb *octavia.LoadBalancer) {
	for i, old := range st.LoadBalancers {
		if old.ID == id {
			if lb == nil {
				st.LoadBalancers = append(st.LoadBalancers[:i:i], st.LoadBalancers[i+1:]...)
			} else {
				st.LoadBalancers[i] = lb
			}
			return
		}
	}
	if lb != nil {
		st.LoadBalancers = append(st.LoadBalancers, lb)
	}
}

// providerError is Octavia's answer when the provider driver refuses a
// change synchronously (ProviderDriverError, 500).
func providerError(cur, next *octavia.LoadBalancer, err error) error {
	prov := octavia.ProviderAmphora
	switch {
	case next != nil && next.Provider != "":
		prov = next.Provider
	case cur != nil && cur.Provider != "":
		prov = cur.Provider
	}
	return api.Errorf(http.StatusInternalServerError, "Provider '%s' reports error: %v", prov, err)
}
