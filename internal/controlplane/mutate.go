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
	// failover replaces the load balancer's amphora (amphorae.go).
	failover bool
}

// touched lists the objects a change created, updated or deleted, by ID.
type touched struct {
	created, updated, deleted []string
}

// mutate runs a change in the background (Options.Background): see
// mutateNow.
func (cp *ControlPlane) mutate(ctx context.Context, c change) (lb *octavia.LoadBalancer, err error) {
	cp.opts.Background(func() { lb, err = cp.mutateNow(ctx, c) })
	return lb, err
}

// mutateNow runs a change: check that the load balancer is ACTIVE, edit a
// clone of its graph, check it against the other load balancers, mark the
// objects PENDING_*, apply the whole desired state to the data plane, store
// the load balancer's new record, then commit it in memory. Only then does
// it return nil: the change is live and stored. On any failure the state
// is as before. Apart from the list handed to the data plane (pointers),
// its cost is that of the load balancer, not of the whole state.
func (cp *ControlPlane) mutateNow(ctx context.Context, c change) (*octavia.LoadBalancer, error) {
	if err := cp.persist.available(); err != nil {
		return nil, cp.saveFailed(ctx, err, c.lbID)
	}
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

	// Certificate refs are read (Barbican: over the network) with no lock
	// held; the objects show PENDING_* meanwhile.
	if err := cp.checkCerts(ctx, cur, next); err != nil {
		cp.mu.Lock()
		cp.settle(pending)
		cp.mu.Unlock()
		return nil, err
	}

	cp.applyMu.Lock()
	defer cp.applyMu.Unlock()

	cp.mu.Lock()
	cfg := cp.st.configWith(c.lbID, next)
	now := cp.now().UTC()
	rec, tombstone := cp.st.record(cur, next, t, now)
	var old *lbRecord
	if cur != nil {
		old = recordOf(cp.st, cur)
	}
	cp.mu.Unlock()
	if c.failover && rec != nil {
		m := rec.Meta[next.ID]
		m.AmphoraID, m.AmphoraCreatedAt = newID(), now
	}
	fail := func(err error) (*octavia.LoadBalancer, error) {
		cp.mu.Lock()
		cp.settle(pending)
		cp.mu.Unlock()
		return nil, err
	}

	// A shared store decides first, so that a change that lost to a
	// concurrent one (409) reaches no data plane, this one's included; a
	// change the data plane then refuses is taken back out of the store.
	// The embedded store is written once the data plane took the change,
	// so that a change it refuses is never stored.
	if cp.persist.shared {
		if err := cp.persist.commitLB(ctx, c.lbID, rec, tombstone); err != nil {
			return fail(cp.saveFailed(ctx, err, c.lbID))
		}
		if err := cp.apply(ctx, cfg); err != nil {
			if rerr := cp.persist.revertLB(ctx, c.lbID, old, tombstone); rerr != nil {
				cp.log.LogAttrs(ctx, slog.LevelError, "a change the data plane refused is still in the shared state: taking it back failed",
					slog.String("loadbalancer_id", c.lbID), slog.String("error", rerr.Error()))
			}
			return fail(providerError(cur, next, err))
		}
	} else {
		if err := cp.apply(ctx, cfg); err != nil {
			return fail(providerError(cur, next, err))
		}
		// Store the load balancer as it now is, and only then commit it
		// in memory: readers see it PENDING_* until it is stored.
		if err := cp.persist.commitLB(ctx, c.lbID, rec, tombstone); err != nil {
			cp.mu.Lock()
			cp.settle(pending)
			cfg := cp.st.config()
			cp.mu.Unlock()
			// The data plane already serves the change: put it back to
			// what is stored, so the two agree again.
			if rerr := cp.apply(ctx, cfg); rerr != nil {
				cp.log.LogAttrs(ctx, slog.LevelError, "re-applying the stored state after a failed save", slog.String("error", rerr.Error()))
			}
			return nil, cp.saveFailed(ctx, err, c.lbID)
		}
	}
	cp.mu.Lock()
	cp.st.install(cur, rec, tombstone)
	cp.mu.Unlock()
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

// record is the load balancer a committed change leaves, as stored: the
// new graph with the bookkeeping of its objects (every status ACTIVE) and
// its owner, now the API. Octavia's worker fills updated_at when it marks
// an object ACTIVE, so once ACTIVE an object has one: created objects get
// created_at and updated_at, updated ones and their load balancer
// updated_at. The other listeners, PENDING_UPDATE while the change ran,
// keep theirs: a new listener does not move its siblings' in Octavia. For a deleted load balancer it is nil,
// with the tombstone to keep if the load balancer came from the file. It
// costs O(size of the load balancer) and changes nothing in s.
func (s *state) record(cur, next *octavia.LoadBalancer, t touched, now time.Time) (*lbRecord, string) {
	if next == nil {
		if o := s.Owners[cur.ID]; o != nil && o.FileHash != "" {
			return nil, o.FileHash
		}
		return nil, ""
	}
	project := next.ProjectID
	created := map[string]bool{}
	for _, id := range t.created {
		created[id] = true
	}
	r := &lbRecord{LoadBalancer: next, Meta: map[string]*meta{}}
	for _, id := range objectIDs(next) {
		m := s.Meta[id]
		if m == nil || created[id] {
			// New, or hoisted by normalization without bookkeeping.
			r.Meta[id] = &meta{ProjectID: project, Status: octavia.ProvisioningActive, CreatedAt: now, UpdatedAt: now}
			continue
		}
		c := *m
		c.Status = octavia.ProvisioningActive
		r.Meta[id] = &c
	}
	for _, id := range t.updated {
		if m := r.Meta[id]; m != nil {
			m.UpdatedAt = now
		}
	}
	if cur != nil {
		r.Meta[next.ID].UpdatedAt = now
	}
	o := owner{}
	if old := s.Owners[next.ID]; old != nil {
		o = *old
	}
	o.API = true
	r.Owner = &o
	return r, ""
}

// install commits a stored record in memory: cur (nil for a new load
// balancer) becomes rec, or goes if rec is nil, leaving tombstone.
func (s *state) install(cur *octavia.LoadBalancer, rec *lbRecord, tombstone string) {
	if cur != nil {
		for _, id := range objectIDs(cur) {
			if rec == nil || rec.Meta[id] == nil {
				delete(s.Meta, id)
			}
		}
	}
	if rec == nil {
		delete(s.Owners, cur.ID)
		if tombstone != "" {
			s.Tombstones[cur.ID] = tombstone
		}
		s.removeLB(cur.ID)
		return
	}
	for id, m := range rec.Meta {
		s.Meta[id] = m
	}
	s.Owners[rec.LoadBalancer.ID] = rec.Owner
	s.putLB(rec.LoadBalancer)
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
