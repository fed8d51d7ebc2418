package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"time"

	"lbd/internal/octavia"
	"lbd/internal/statestore"
)

// Instances sharing a store (statestore.Watcher: etcd) each commit their
// API changes to it, and each follows what the others commit: Follow
// watches the store from the revision this instance last took and applies
// every transaction to the data plane the way a reload does (the whole
// desired state, gate held), then to the state in memory. What the
// instance committed itself comes back through the watch too and is
// skipped, key by key, by revision: a key is taken only at a revision
// newer than the one this instance holds (or deleted it at), so that an
// older change never overwrites a newer one, whatever the order in which
// the watch and this instance's own commits arrive.
//
// A transaction holding a value this lbd cannot read (written by something
// else, or a newer lbd) is refused whole, with a log line naming the key;
// the running state stays as it was. When the store compacted the history
// this instance needs (it was away too long), it reads the store whole and
// applies what differs, unless the read is older than what it holds.

// Follow applies the changes committed to a shared store until ctx is
// done; with any other store it returns at once. Run it beside the API,
// from the start: the state it starts from is the one New loaded.
func (cp *ControlPlane) Follow(ctx context.Context) {
	w, ok := cp.persist.store.(statestore.Watcher)
	if !ok {
		return
	}
	for ctx.Err() == nil {
		for ev := range w.Watch(ctx, cp.persist.seenRev()) {
			if ev.Err != nil {
				if errors.Is(ev.Err, statestore.ErrCompacted) {
					cp.log.LogAttrs(ctx, slog.LevelWarn, "the shared state's history no longer reaches this instance's revision: reading the state whole",
						slog.Int64("revision", cp.persist.seenRev()), slog.String("err", ev.Err.Error()))
					cp.resyncUntil(ctx)
				}
				break
			}
			cp.applyRemote(ctx, ev.Rev, ev.Puts, ev.Deletes, "watch")
		}
	}
}

// resyncUntil reads the store whole and applies it, retrying until it
// succeeds or ctx is done.
func (cp *ControlPlane) resyncUntil(ctx context.Context) {
	for wait := 100 * time.Millisecond; ctx.Err() == nil; wait = min(2*wait, 5*time.Second) {
		err := cp.resync(ctx)
		if err == nil {
			return
		}
		cp.log.LogAttrs(ctx, slog.LevelWarn, "reading the shared state failed; retrying", slog.String("err", err.Error()), slog.Duration("in", wait))
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// resync reads the store whole and applies what differs from what this
// instance holds: keys at a newer revision, and keys it holds that the
// store no longer has.
func (cp *ControlPlane) resync(ctx context.Context) error {
	snap, err := cp.persist.store.Load(ctx)
	if err != nil {
		return err
	}
	p := cp.persist
	p.mu.Lock()
	if snap.Rev < p.seen {
		p.mu.Unlock()
		return fmt.Errorf("the store answered with revision %d, older than the %d this instance holds (a lagging etcd member?)", snap.Rev, p.seen)
	}
	in := make(map[string]bool, len(snap.KVs))
	for _, kv := range snap.KVs {
		in[kv.Key] = true
	}
	var deletes []string
	for k, rev := range p.revs {
		if !in[k] && rev <= snap.Rev {
			deletes = append(deletes, k)
		}
	}
	p.mu.Unlock()
	slices.Sort(deletes)
	cp.applyRemote(ctx, snap.Rev, snap.KVs, deletes, "full read")
	return nil
}

// remote is a change to one key from the store, decoded.
type remote struct {
	kv     statestore.KV
	delete bool
	lbID   string    // a load balancer's key
	rec    *lbRecord // its new record; nil when deleted
	cur    *octavia.LoadBalancer
}

// applyRemote applies what is new in a transaction (or a full read) at
// rev: see the top of this file.
func (cp *ControlPlane) applyRemote(ctx context.Context, rev int64, puts []statestore.KV, deletes []string, via string) {
	cp.gate.Lock()
	defer cp.gate.Unlock()
	cp.applyMu.Lock()
	defer cp.applyMu.Unlock()
	defer func() { cp.applied.Set(float64(cp.persist.seenRev())) }()

	changes := cp.persist.newer(rev, puts, deletes)
	if len(changes) == 0 {
		cp.persist.saw(rev, nil)
		return
	}
	// Decode everything before touching anything.
	scratch := newState()
	for i := range changes {
		c := &changes[i]
		if err := c.decode(scratch); err != nil {
			cp.remoteRefused.Inc()
			cp.log.LogAttrs(ctx, slog.LevelError, "change in the shared state refused: a value this lbd cannot read; still serving the state as it was",
				slog.String("key", c.kv.Key), slog.Int64("revision", rev), slog.String("store", cp.persist.where),
				slog.String("err", err.Error()))
			cp.persist.saw(rev, nil)
			return
		}
	}
	cp.mu.Lock()
	repl := map[string]*octavia.LoadBalancer{}
	var order []string
	for i := range changes {
		c := &changes[i]
		if c.lbID == "" {
			continue
		}
		c.cur = cp.st.lb(c.lbID)
		if c.rec != nil {
			repl[c.lbID] = c.rec.LoadBalancer
		} else {
			repl[c.lbID] = nil
		}
		order = append(order, c.lbID)
	}
	cfg := cp.st.configWithAll(repl, order)
	cp.mu.Unlock()

	if len(order) > 0 {
		if err := cp.apply(ctx, cfg); err != nil {
			cp.remoteRefused.Inc()
			keys := make([]string, 0, len(order))
			for _, id := range order {
				keys = append(keys, lbPrefix+id)
			}
			cp.log.LogAttrs(ctx, slog.LevelError, "change in the shared state refused by this instance's data plane; still serving the state as it was",
				slog.String("keys", strings.Join(keys, ",")), slog.Int64("revision", rev), slog.String("err", err.Error()))
			cp.persist.saw(rev, nil)
			return
		}
	}

	cp.mu.Lock()
	st := reflect.ValueOf(cp.st).Elem()
	for _, c := range changes {
		switch {
		case c.lbID != "":
			if c.rec == nil && c.cur == nil {
				continue
			}
			cp.st.install(c.cur, c.rec, "")
		case c.kv.Key == formatKey:
		case c.delete:
			deleteField(st, extraFields, c.kv.Key)
		default:
			decodeField(st, extraFields, c.kv) // decoded once already: cannot fail
		}
	}
	cp.mu.Unlock()
	cp.persist.saw(rev, changes)
	cp.log.LogAttrs(ctx, slog.LevelInfo, "applied a change from the shared state", slog.Int64("revision", rev),
		slog.String("via", via), slog.Int("keys", len(changes)))
}

// decode checks and decodes the change's value; scratch takes generic
// fields.
func (c *remote) decode(scratch *state) error {
	if id, ok := strings.CutPrefix(c.kv.Key, lbPrefix); ok {
		c.lbID = id
		if c.delete {
			return nil
		}
		r, err := decodeRecord(id, c.kv.Value)
		if err != nil {
			return err
		}
		for _, m := range r.Meta {
			m.Status = octavia.ProvisioningActive
		}
		c.rec = r
		return nil
	}
	if c.kv.Key == formatKey {
		if !c.delete && string(c.kv.Value) != formatVersion {
			return fmt.Errorf("format %q, this lbd reads %q", c.kv.Value, formatVersion)
		}
		return nil
	}
	if c.delete {
		if !knownField(extraFields, c.kv.Key) {
			return errors.New("unknown key (stored by a newer lbd?)")
		}
		return nil
	}
	return decodeField(reflect.ValueOf(scratch).Elem(), extraFields, c.kv)
}

// knownField reports whether key is a field stored generically, or an
// entry of one.
func knownField(fields []extraField, key string) bool {
	name, _, isEntry := strings.Cut(key, "/")
	for _, f := range fields {
		if f.name == name && f.isMap == isEntry {
			return true
		}
	}
	return false
}

// deleteField removes the generic key from struct v: the entry of a map
// field, or a whole field (back to its zero value).
func deleteField(v reflect.Value, fields []extraField, key string) {
	name, entry, isEntry := strings.Cut(key, "/")
	for _, f := range fields {
		if f.name != name || f.isMap != isEntry {
			continue
		}
		fv := v.Field(f.index)
		if !f.isMap {
			fv.SetZero()
		} else if !fv.IsNil() {
			fv.SetMapIndex(reflect.ValueOf(entry).Convert(fv.Type().Key()), reflect.Value{})
		}
		return
	}
}

// configWithAll is config with the load balancers of repl in place of
// those with their IDs (nil: removed), and those new to the state appended
// in the order given.
func (s *state) configWithAll(repl map[string]*octavia.LoadBalancer, order []string) *octavia.Config {
	cfg := &octavia.Config{LoadBalancers: make([]*octavia.LoadBalancer, 0, len(s.LoadBalancers)+len(repl))}
	for _, o := range s.LoadBalancers {
		if lb, ok := repl[o.ID]; ok {
			if lb == nil {
				continue
			}
			o = lb
		}
		cfg.LoadBalancers = append(cfg.LoadBalancers, o)
	}
	added := map[string]bool{}
	for _, id := range order {
		if lb := repl[id]; lb != nil && s.lb(id) == nil && !added[id] {
			added[id] = true
			cfg.LoadBalancers = append(cfg.LoadBalancers, lb)
		}
	}
	return cfg
}

// Revision is the revision of the shared state this instance took last
// (every change up to it is applied or was refused); 0 with a store that
// is not shared.
func (cp *ControlPlane) Revision() int64 {
	if !cp.persist.shared {
		return 0
	}
	return cp.persist.seenRev()
}

// seenRev is the revision up to which the store's changes were taken.
func (p *persister) seenRev() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen
}

// newer lists the changes of a transaction (or full read) at rev that are
// newer than what this instance holds.
func (p *persister) newer(rev int64, puts []statestore.KV, deletes []string) []remote {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []remote
	for _, kv := range puts {
		if kv.ModRev <= p.revs[kv.Key] || kv.ModRev <= p.gone[kv.Key] {
			continue
		}
		out = append(out, remote{kv: kv})
	}
	for _, k := range deletes {
		have, ok := p.revs[k]
		if !ok || have >= rev {
			continue
		}
		out = append(out, remote{kv: statestore.KV{Key: k, ModRev: rev}, delete: true})
	}
	return out
}

// saw records that the store's changes up to rev were taken, applied ones
// among them.
func (p *persister) saw(rev int64, applied []remote) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range applied {
		k := c.kv.Key
		if c.delete {
			delete(p.revs, k)
			delete(p.extra, k)
			p.gone[k] = c.kv.ModRev
			continue
		}
		p.revs[k] = c.kv.ModRev
		delete(p.gone, k)
		if k == formatKey {
			p.started = true
		} else if c.lbID == "" {
			p.extra[k] = c.kv.Value
		}
	}
	if rev > p.seen {
		p.seen = rev
		if p.advanced != nil {
			close(p.advanced)
			p.advanced = nil
		}
	}
	for k, r := range p.gone {
		if r <= p.seen {
			delete(p.gone, k)
		}
	}
}
