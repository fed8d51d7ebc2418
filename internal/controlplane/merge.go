package controlplane

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"lbd/internal/octavia"
	"lbd/internal/statestore"
)

// ErrRefused marks a config file SetFileConfig refused before it reached
// the data plane: it conflicts with load balancers the API created.
var ErrRefused = errors.New("config refused")

// SetFileConfig makes cfg (the config file, loaded and normalized by
// octavia.LoadFile) the file's part of the desired state, merges it with the
// stored state, applies the result to the data plane and persists it. Call
// it at start and on every reload (SIGHUP). On error nothing changed.
//
// The merge is per load balancer, matched by ID (a file load balancer's ID
// derives from its name), and the latest change wins:
//   - a load balancer the API created is kept; the file does not know it;
//   - a file load balancer the API never changed follows the file: edited,
//     added and removed with it;
//   - once the API changed a file load balancer (or anything under it), the
//     stored copy wins while the file's entry stays as it was; editing that
//     entry in the file makes the file win again, and removing it from the
//     file removes the load balancer;
//   - a file load balancer deleted through the API stays deleted while its
//     file entry is unchanged; editing the entry brings it back.
//
// With a shared store, the merged state is stored first and then applied;
// a change committed meanwhile by another instance makes the store refuse
// it (a conflict): the control plane then reads the store again and
// merges anew, a few times.
func (cp *ControlPlane) SetFileConfig(ctx context.Context, cfg *octavia.Config) error {
	for attempt := 1; ; attempt++ {
		err := cp.setFileConfig(ctx, cfg)
		if !cp.persist.shared || !errors.Is(err, statestore.ErrConflict) || attempt == 5 {
			return err
		}
		cp.log.LogAttrs(ctx, slog.LevelInfo, "the shared state changed while the config file was merged into it: reading it again",
			slog.String("err", err.Error()), slog.Int("attempt", attempt))
		if err := cp.resync(ctx); err != nil {
			return err
		}
	}
}

func (cp *ControlPlane) setFileConfig(ctx context.Context, cfg *octavia.Config) error {
	cp.gate.Lock()
	defer cp.gate.Unlock()
	cp.applyMu.Lock()
	defer cp.applyMu.Unlock()

	cp.mu.Lock()
	st, err := merge(cp.st, cfg, cp.now().UTC(), cp.log)
	cp.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	for _, lb := range st.LoadBalancers {
		if err := checkBinds(st, lb); err != nil {
			return fmt.Errorf("%w: load balancer %s: %w", ErrRefused, lb.Name, err)
		}
	}
	if cp.persist.shared {
		// As an API change: the store first (see mutate). A data plane
		// that then refuses the state leaves it stored: it is what the
		// other instances serve, and this one says why it cannot.
		if err := cp.commitState(ctx, st); err != nil {
			return err
		}
		return cp.apply(ctx, st.config())
	}
	if err := cp.apply(ctx, st.config()); err != nil {
		return err
	}
	// Store what the merge changed (at a restart on an unchanged file:
	// nothing).
	if err := cp.commitState(ctx, st); err != nil {
		cp.mu.Lock()
		cfg := cp.st.config()
		cp.mu.Unlock()
		if rerr := cp.apply(ctx, cfg); rerr != nil {
			cp.log.LogAttrs(ctx, slog.LevelError, "re-applying the stored state after a failed save", slog.String("error", rerr.Error()))
		}
		return err
	}
	return nil
}

// merge computes the new state from the old one and the file; see
// SetFileConfig for the rules.
func merge(old *state, cfg *octavia.Config, now time.Time, log *slog.Logger) (*state, error) {
	st := old.clone()
	st.LoadBalancers = nil
	st.Tombstones = map[string]string{}
	file := map[string]*octavia.LoadBalancer{}
	hashes := map[string]string{}
	for _, f := range cfg.LoadBalancers {
		file[f.ID] = f
		h, err := hashLB(f)
		if err != nil {
			return nil, err
		}
		hashes[f.ID] = h
	}
	take := func(f *octavia.LoadBalancer, stored *octavia.LoadBalancer) {
		st.LoadBalancers = append(st.LoadBalancers, f)
		st.Owners[f.ID] = &owner{FileHash: hashes[f.ID]}
		fileMeta(st, stored, f, now)
	}
	// Load balancers already known, in their order.
	for _, lb := range old.LoadBalancers {
		o := old.Owners[lb.ID]
		f, inFile := file[lb.ID]
		switch {
		case inFile && o != nil && o.API && o.FileHash == hashes[lb.ID]:
			st.LoadBalancers = append(st.LoadBalancers, lb) // changed by the API since: stored copy wins
			log.LogAttrs(context.Background(), slog.LevelInfo, "load balancer changed through the API; stored copy kept over the file's unchanged entry",
				slog.String("loadbalancer_id", lb.ID), slog.String("name", lb.Name))
		case inFile:
			take(f, lb)
		case o != nil && o.API && o.FileHash == "":
			st.LoadBalancers = append(st.LoadBalancers, lb) // created through the API
		default:
			dropMeta(st, lb) // removed from the file
			delete(st.Owners, lb.ID)
		}
	}
	// Load balancers new to the state.
	for _, f := range cfg.LoadBalancers {
		if old.lb(f.ID) != nil {
			continue
		}
		if h, deleted := old.Tombstones[f.ID]; deleted && h == hashes[f.ID] {
			st.Tombstones[f.ID] = h
			log.LogAttrs(context.Background(), slog.LevelInfo, "load balancer deleted through the API; file entry unchanged, left deleted",
				slog.String("loadbalancer_id", f.ID), slog.String("name", f.Name))
			continue
		}
		take(f, nil)
	}
	return st, nil
}

// fileMeta gives the objects of a file load balancer their bookkeeping:
// kept for objects already known (updated_at moves if the object changed),
// new for new ones; objects the file dropped lose theirs.
func fileMeta(st *state, stored, f *octavia.LoadBalancer, now time.Time) {
	old := map[string]any{}
	if stored != nil {
		eachObject(stored, func(id string, v any) { old[id] = v })
	}
	// Each object of f against its old version, encoded into two buffers
	// used again and again: nothing is kept but the verdict (a reload of
	// 10,000 members compares as many).
	var a, b bytes.Buffer
	ea, eb := json.NewEncoder(&a), json.NewEncoder(&b)
	changed := func(x, y any) bool {
		a.Reset()
		b.Reset()
		ea.Encode(x)
		eb.Encode(y)
		return !bytes.Equal(a.Bytes(), b.Bytes())
	}
	eachObject(f, func(id string, v any) {
		m := st.Meta[id]
		prev, known := old[id]
		delete(old, id)
		switch {
		case m == nil:
			st.Meta[id] = &meta{ProjectID: f.ProjectID, Status: octavia.ProvisioningActive, CreatedAt: now, UpdatedAt: now}
		case !known || changed(prev, v):
			m.UpdatedAt = now
			m.ProjectID = f.ProjectID
			m.Status = octavia.ProvisioningActive
		default:
			m.Status = octavia.ProvisioningActive
		}
	})
	for id := range old { // objects f no longer has
		delete(st.Meta, id)
	}
}

func dropMeta(st *state, lb *octavia.LoadBalancer) {
	for _, id := range objectIDs(lb) {
		delete(st.Meta, id)
	}
}

// eachObject calls fn with each object of a graph on its own (a pool
// without its members and monitor), to tell which objects a new version
// changed.
func eachObject(lb *octavia.LoadBalancer, fn func(id string, v any)) {
	top := *lb
	top.Listeners, top.Pools = nil, nil
	fn(lb.ID, &top)
	for _, l := range lb.Listeners {
		fn(l.ID, l)
	}
	for _, p := range lb.Pools {
		bare := *p
		bare.Members, bare.HealthMonitor = nil, nil
		fn(p.ID, &bare)
		for _, m := range p.Members {
			fn(m.ID, m)
		}
		if p.HealthMonitor != nil {
			fn(p.HealthMonitor.ID, p.HealthMonitor)
		}
	}
}

// hashLB identifies a file entry's content: the SHA-256 of its JSON, as
// json.Marshal renders it, hashed as it is written rather than copied out
// first (at 10,000 members the JSON is megabytes).
func hashLB(lb *octavia.LoadBalancer) (string, error) {
	h := sha256.New()
	w := &heldNewline{w: h}
	if err := json.NewEncoder(w).Encode(lb); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// heldNewline writes to w all but a last "\n" written to it: what
// json.Encoder writes, as json.Marshal renders it.
type heldNewline struct {
	w    io.Writer
	held bool // a "\n" written and not passed on yet
}

func (h *heldNewline) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if h.held {
		if _, err := h.w.Write([]byte{'\n'}); err != nil {
			return 0, err
		}
		h.held = false
	}
	n := len(p)
	if p[n-1] == '\n' {
		p, h.held = p[:n-1], true
	}
	if _, err := h.w.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}
