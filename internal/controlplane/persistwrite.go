package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
	"lbd/internal/statestore"
)

// Writing the state: records encoded, compared and committed as one
// transaction per API change (persist.go reads and opens the store).

// recordOf is lb as stored in st.
func recordOf(st *state, lb *octavia.LoadBalancer) *lbRecord {
	r := &lbRecord{LoadBalancer: lb, Meta: map[string]*meta{}, Owner: st.Owners[lb.ID]}
	for _, id := range objectIDs(lb) {
		if m := st.Meta[id]; m != nil {
			r.Meta[id] = m
		}
	}
	return r
}

// sameLB reports whether load balancer a of state x and b of state y
// store the same thing, without encoding them when it can tell otherwise:
// the same owner and bookkeeping, and the same graph (or a file load
// balancer taken from the same file entry).
func sameLB(x *state, a *octavia.LoadBalancer, y *state, b *octavia.LoadBalancer) bool {
	oa, ob := x.Owners[a.ID], y.Owners[b.ID]
	if (oa == nil) != (ob == nil) || oa != nil && *oa != *ob {
		return false
	}
	ids := objectIDs(b)
	if a != b && len(objectIDs(a)) != len(ids) {
		return false
	}
	for _, id := range ids {
		m, n := x.Meta[id], y.Meta[id]
		if (m == nil) != (n == nil) {
			return false
		}
		if m != nil && (m.ProjectID != n.ProjectID || !m.CreatedAt.Equal(n.CreatedAt) || !m.UpdatedAt.Equal(n.UpdatedAt)) {
			return false
		}
	}
	if a == b || oa != nil && !oa.API && oa.FileHash != "" {
		return true
	}
	j, err1 := json.Marshal(a)
	k, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(j, k)
}

// encodeRecord renders a record for the store; statuses are not stored
// (they are ACTIVE once committed).
func encodeRecord(r *lbRecord) ([]byte, error) {
	stored := *r
	cloned := false
	for id, m := range r.Meta { // the map copied only when a status is not ACTIVE (after a reload none is)
		if m.Status == octavia.ProvisioningActive {
			continue
		}
		if !cloned {
			stored.Meta, cloned = maps.Clone(r.Meta), true
		}
		c := *m
		c.Status = octavia.ProvisioningActive
		stored.Meta[id] = &c
	}
	data, err := json.Marshal(&stored)
	if err != nil {
		return nil, fmt.Errorf("encode load balancer %s: %w", r.LoadBalancer.ID, err)
	}
	return data, nil
}

// lbTxn is the transaction storing one load balancer's change: rec (nil
// to delete it) and, for a file load balancer deleted through the API, its
// tombstone.
func (p *persister) lbTxn(id string, rec *lbRecord, tombstone string) (statestore.Txn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	key := lbPrefix + id
	txn := statestore.Txn{If: []statestore.Cond{{Key: key, ModRev: p.revs[key]}}}
	if rec == nil {
		txn.Ops = append(txn.Ops, statestore.Delete(key))
	} else {
		data, err := encodeRecord(rec)
		if err != nil {
			return txn, err
		}
		txn.Ops = append(txn.Ops, statestore.Put(key, data))
	}
	if tombstone != "" { // the key diff gives state.Tombstones[id]
		data, _ := json.Marshal(tombstone)
		txn.Ops = append(txn.Ops, statestore.Put("tombstones/"+id, data))
	}
	return txn, nil
}

// commitLB stores one load balancer's change (lbTxn).
func (p *persister) commitLB(ctx context.Context, id string, rec *lbRecord, tombstone string) error {
	txn, err := p.lbTxn(id, rec, tombstone)
	if err != nil {
		return err
	}
	return p.commit(ctx, txn)
}

// revertLB stores old (nil: the load balancer did not exist) back in
// place of the change commitLB just stored, without the tombstone it left.
func (p *persister) revertLB(ctx context.Context, id string, old *lbRecord, tombstone string) error {
	txn, err := p.lbTxn(id, old, "")
	if err != nil {
		return err
	}
	if tombstone != "" {
		txn.Ops = append(txn.Ops, statestore.Delete("tombstones/"+id))
	}
	return p.commit(ctx, txn)
}

// available is nil unless the store says it cannot be reached.
func (p *persister) available() error {
	if a, ok := p.store.(statestore.Availability); ok {
		return a.Available()
	}
	return nil
}

// diff is the transaction storing next in place of old: the load balancers
// that differ, and the generic keys whose value changed. It compares in
// memory; only what changed is encoded.
func (p *persister) diff(old, next *state) (statestore.Txn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var txn statestore.Txn
	cond := func(key string) {
		txn.If = append(txn.If, statestore.Cond{Key: key, ModRev: p.revs[key]})
	}
	before := make(map[string]*octavia.LoadBalancer, len(old.LoadBalancers))
	for _, lb := range old.LoadBalancers {
		before[lb.ID] = lb
	}
	for _, lb := range next.LoadBalancers {
		if o := before[lb.ID]; o != nil {
			delete(before, lb.ID)
			if sameLB(old, o, next, lb) {
				continue
			}
		}
		data, err := encodeRecord(recordOf(next, lb))
		if err != nil {
			return txn, err
		}
		cond(lbPrefix + lb.ID)
		txn.Ops = append(txn.Ops, statestore.Put(lbPrefix+lb.ID, data))
	}
	for id := range before {
		cond(lbPrefix + id)
		txn.Ops = append(txn.Ops, statestore.Delete(lbPrefix+id))
	}
	ops, err := fieldOps(reflect.ValueOf(next).Elem(), extraFields, p.extra)
	txn.Ops = append(txn.Ops, ops...)
	return txn, err
}

// fieldOps are the operations storing the fields of struct v: a put for
// each key (a field, or an entry of a map field) whose value differs from
// stored's, a delete for each key of stored that v no longer has.
func fieldOps(v reflect.Value, fields []extraField, stored map[string][]byte) ([]statestore.Op, error) {
	var ops []statestore.Op
	gone := maps.Clone(stored)
	put := func(key string, v reflect.Value) error {
		delete(gone, key)
		data, err := json.Marshal(v.Interface())
		if err != nil {
			return fmt.Errorf("encode state %s: %w", key, err)
		}
		if old, ok := stored[key]; !ok || !bytes.Equal(old, data) {
			ops = append(ops, statestore.Put(key, data))
		}
		return nil
	}
	for _, f := range fields {
		fv := v.Field(f.index)
		if !f.isMap {
			if err := put(f.name, fv); err != nil {
				return nil, err
			}
			continue
		}
		for it := fv.MapRange(); it.Next(); {
			if err := put(f.name+"/"+it.Key().String(), it.Value()); err != nil {
				return nil, err
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(gone)) {
		ops = append(ops, statestore.Delete(k))
	}
	return ops, nil
}

// commit stores txn (with the format key, the first time) and records the
// revisions and generic values it wrote. A store with limits (etcd) gets a
// transaction too large for it in parts (statestore.Split); if a part
// fails, the parts before it are stored but forgotten here, so that the
// watch brings them back as any other instance's change (follow.go).
func (p *persister) commit(ctx context.Context, txn statestore.Txn) error {
	if len(txn.Ops) == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started {
		txn.Ops = append([]statestore.Op{statestore.Put(formatKey, []byte(formatVersion))}, txn.Ops...)
	}
	parts := []statestore.Txn{txn}
	if l, ok := p.store.(statestore.Limited); ok {
		parts = statestore.Split(txn, l.Limits())
	}
	revs, extra := maps.Clone(p.revs), maps.Clone(p.extra)
	for i, part := range parts {
		rev, err := p.store.Commit(ctx, part)
		if err != nil {
			if i > 0 {
				p.revs, p.extra = revs, extra
				err = fmt.Errorf("%w (the first %d of %d parts of this change were stored; they are applied as they come back from the store)", err, i, len(parts))
			}
			return err
		}
		p.started = true
		p.wrote(part.Ops, rev)
	}
	return nil
}

// wrote records the revision and values of operations stored at rev.
// Callers hold p.mu.
func (p *persister) wrote(ops []statestore.Op, rev int64) {
	for _, op := range ops {
		isExtra := op.Key != formatKey && !strings.HasPrefix(op.Key, lbPrefix)
		switch {
		case op.Delete:
			delete(p.revs, op.Key)
			delete(p.extra, op.Key)
			if p.shared && rev > p.seen {
				p.gone[op.Key] = rev
			}
		default:
			p.revs[op.Key] = rev
			delete(p.gone, op.Key)
			if isExtra {
				p.extra[op.Key] = op.Value
			}
		}
	}
}

// commitState stores what differs between the state and next, a changed
// clone of it, then makes next the state. It is the path of changes made
// to the whole state (a reload; objects that are not under a load
// balancer); a change to one load balancer goes through mutate. Call it
// with cp.gate write-locked and cp.applyMu held, as SetFileConfig does. On
// error (answered as saveFailed does) nothing changed.
func (cp *ControlPlane) commitState(ctx context.Context, next *state) error {
	cp.mu.Lock()
	txn, err := cp.persist.diff(cp.st, next)
	cp.mu.Unlock()
	if err == nil {
		err = cp.persist.commit(ctx, txn)
	}
	if err != nil {
		return cp.saveFailed(ctx, err, "")
	}
	cp.mu.Lock()
	cp.st = next
	cp.mu.Unlock()
	return nil
}

// reason is err without the ErrUnavailable prefix its message repeats.
func reason(err error) string {
	return strings.TrimPrefix(err.Error(), statestore.ErrUnavailable.Error()+": ")
}

// saveFailed turns an error of the store into the API's answer: a 409 when
// a concurrent change won, otherwise a 500 saying what could not be saved
// where, counted in lbd_state_save_errors_total and logged with the file
// and the errno.
func (cp *ControlPlane) saveFailed(ctx context.Context, err error, lbID string) error {
	var ce *statestore.ConflictError
	if errors.As(err, &ce) {
		cp.log.LogAttrs(ctx, slog.LevelWarn, "change refused: the load balancer was changed meanwhile in the shared state",
			slog.String("loadbalancer_id", lbID), slog.String("key", ce.Key), slog.String("err", err.Error()))
		if lbID == "" {
			return err
		}
		return api.Immutable(api.KindLoadBalancer, lbID)
	}
	if errors.Is(err, statestore.ErrUnavailable) {
		cp.log.LogAttrs(ctx, slog.LevelWarn, "change refused: the shared state cannot be reached; still serving the last state",
			slog.String("loadbalancer_id", lbID), slog.String("store", cp.persist.where), slog.String("err", err.Error()))
		return &api.Error{
			Code: http.StatusServiceUnavailable,
			Message: fmt.Sprintf("The change was refused: the shared state in %s cannot be reached (%s). Every lbd keeps serving the last state; retry once etcd answers again.",
				cp.persist.where, reason(err)),
			Debug: err.Error(),
		}
	}
	errno := "none"
	var en syscall.Errno
	if errors.As(err, &en) {
		errno = unix.ErrnoName(en)
		if errno == "" {
			errno = fmt.Sprintf("errno %d", int(en))
		}
	}
	file := cp.persist.where
	var pe *fs.PathError
	if errors.As(err, &pe) {
		file = pe.Path
	}
	cp.saveErrors.WithLabelValues(errno).Inc()
	cp.log.LogAttrs(ctx, slog.LevelError, "state not saved: change refused, the stored state is as before",
		slog.String("file", file), slog.String("errno", errno), slog.String("err", err.Error()))
	why := err.Error()
	if en != 0 {
		why = fmt.Sprintf("%s (%s)", en.Error(), errno)
	}
	return &api.Error{
		Code: http.StatusInternalServerError,
		Message: fmt.Sprintf("The change could not be saved to %s: %s. Nothing was changed; the stored state is as before.",
			file, why),
		Debug: err.Error(),
	}
}
