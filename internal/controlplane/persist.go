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
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"lbd/internal/octavia"
	"lbd/internal/octavia/api"
	"lbd/internal/statestore"
)

// The state is stored in a statestore.Store, one key per thing that
// changes on its own:
//
//	format          formatVersion: the layout below
//	lb/<id>         a load balancer: its graph, the bookkeeping (meta) of
//	                its objects and its owner, as an lbRecord in JSON
//	<field>/<key>   an entry of any other map field of state, by the
//	                field's JSON name (tombstones/<id>)
//	<field>         any other field of state, whole
//
// An API change rewrites its load balancer's key only, so it costs
// O(size of that load balancer) whatever the number of others; its
// transaction requires the key to be at the revision last read, so that
// with a shared store a change made meanwhile elsewhere makes it fail
// (409) rather than be overwritten. A reload stores what differs from the
// state before it.
const (
	formatKey     = "format"
	formatVersion = "1"
	lbPrefix      = "lb/"
)

// lbRecord is a load balancer as stored.
type lbRecord struct {
	LoadBalancer *octavia.LoadBalancer `json:"loadbalancer"`
	Meta         map[string]*meta      `json:"meta"`
	Owner        *owner                `json:"owner"`
}

// extraField is a field of state stored generically.
type extraField struct {
	index int
	name  string // the JSON name: the key, or the keys' prefix for a map
	isMap bool
}

// extraFields are the fields of state stored generically: every exported
// one but the three an lbRecord holds.
var extraFields = storedFields(reflect.TypeFor[state](), "LoadBalancers", "Meta", "Owners")

// storedFields lists the exported fields of struct type t but those named
// in except, by JSON name.
func storedFields(t reflect.Type, except ...string) []extraField {
	var out []extraField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() || slices.Contains(except, f.Name) {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == formatKey || name+"/" == lbPrefix {
			panic("controlplane: state field " + f.Name + " takes a reserved key")
		}
		isMap := f.Type.Kind() == reflect.Map && f.Type.Key().Kind() == reflect.String
		out = append(out, extraField{index: i, name: name, isMap: isMap})
	}
	return out
}

// persister stores the state's changes and remembers the revision at which
// it last read or wrote each key, and the value of the generic ones.
type persister struct {
	store statestore.Store
	// where names the store in errors: the log file, "memory", or what
	// a store given in Options says it is (fmt.Stringer).
	where string
	dir   string // the state directory, "" if none

	mu      sync.Mutex
	revs    map[string]int64  // key to its mod revision
	extra   map[string][]byte // generic key to its value
	started bool              // the format key is stored

	// A shared store (statestore.Watcher) only: follow.go.
	//
	// seen is the revision up to which the store's changes were taken
	// (read, watched, or refused): watches resume after it, and a full
	// read older than it is not taken. gone holds the revision at which
	// keys were deleted, until seen passes it: a watch may still deliver
	// an older put of such a key (this instance's own delete overtook
	// it), which must not bring it back.
	shared bool
	seen   int64
	gone   map[string]int64
}

// openStore opens the store the options name: opts.Store, the embedded
// store under opts.StateDir, or memory.
func openStore(opts Options, log *slog.Logger) (*persister, error) {
	p := &persister{store: opts.Store, where: "the state store", dir: opts.StateDir,
		revs: map[string]int64{}, extra: map[string][]byte{}, gone: map[string]int64{}}
	_, p.shared = opts.Store.(statestore.Watcher)
	switch {
	case p.store != nil:
		p.dir = ""
		if s, ok := p.store.(fmt.Stringer); ok {
			p.where = s.String()
		}
	case opts.StateDir == "":
		p.store, p.where = statestore.Memory(), "memory"
	default:
		s, err := statestore.Open(opts.StateDir, statestore.LogOptions{Log: log})
		if err != nil {
			return nil, err
		}
		p.store, p.where = s, filepath.Join(opts.StateDir, statestore.LogFile)
	}
	return p, nil
}

// load reads the stored state. Provisioning statuses are ACTIVE: only
// committed graphs are ever stored. An empty store under a state directory
// holding a state.json (lbd before the store) takes its content.
func (p *persister) load(ctx context.Context, log *slog.Logger) (*state, error) {
	snap, err := p.store.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	if snap.Rev == 0 && p.dir != "" {
		return p.migrate(ctx, log)
	}
	if p.dir != "" {
		if _, err := os.Stat(filepath.Join(p.dir, legacyFile)); err == nil {
			log.Warn("state directory holds an old state.json besides the state store; the store is used, state.json ignored",
				"store", p.where, "ignored", filepath.Join(p.dir, legacyFile))
		}
	}
	for _, kv := range snap.KVs {
		if kv.Key == formatKey && string(kv.Value) != formatVersion {
			return nil, fmt.Errorf("state %s: format %q, this lbd reads %q", p.where, kv.Value, formatVersion)
		}
	}
	// Load balancers are most of the state and decoding their JSON most
	// of a restart: decode them on every CPU, then put everything in
	// order.
	recs := make([]*lbRecord, len(snap.KVs))
	errs := make([]error, len(snap.KVs))
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(snap.KVs); i += workers {
				if id, ok := strings.CutPrefix(snap.KVs[i].Key, lbPrefix); ok {
					recs[i], errs[i] = decodeRecord(id, snap.KVs[i].Value)
				}
			}
		}()
	}
	wg.Wait()
	st := newState()
	for i, kv := range snap.KVs {
		p.revs[kv.Key] = kv.ModRev
		err := errs[i]
		switch {
		case err != nil:
		case recs[i] != nil:
			st.addRecord(recs[i])
		default:
			err = p.decode(st, kv)
		}
		if err != nil {
			return nil, fmt.Errorf("state %s: key %s: %w", p.where, kv.Key, err)
		}
	}
	p.started = p.revs[formatKey] != 0
	p.seen = snap.Rev
	for _, m := range st.Meta {
		m.Status = octavia.ProvisioningActive
	}
	return st, nil
}

// decodeRecord decodes the record stored under lb/<id>.
func decodeRecord(id string, data []byte) (*lbRecord, error) {
	var r lbRecord
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	if r.LoadBalancer == nil || r.LoadBalancer.ID != id {
		return nil, errors.New("not the load balancer its key names")
	}
	if r.Owner == nil {
		r.Owner = &owner{API: true}
	}
	return &r, nil
}

// addRecord appends a stored load balancer to st.
func (st *state) addRecord(r *lbRecord) {
	st.LoadBalancers = append(st.LoadBalancers, r.LoadBalancer)
	for id, m := range r.Meta {
		st.Meta[id] = m
	}
	st.Owners[r.LoadBalancer.ID] = r.Owner
}

// decode puts one stored key other than a load balancer into st.
func (p *persister) decode(st *state, kv statestore.KV) error {
	if kv.Key == formatKey {
		return nil // checked first
	}
	if err := decodeField(reflect.ValueOf(st).Elem(), extraFields, kv); err != nil {
		return err
	}
	p.extra[kv.Key] = kv.Value
	return nil
}

// decodeField puts kv into the field of struct v it belongs to: the field
// named by the key, or an entry of the map field named by the key's first
// segment.
func decodeField(v reflect.Value, fields []extraField, kv statestore.KV) error {
	name, entry, isEntry := strings.Cut(kv.Key, "/")
	for _, f := range fields {
		if f.name != name || f.isMap != isEntry {
			continue
		}
		fv := v.Field(f.index)
		if !f.isMap {
			return json.Unmarshal(kv.Value, fv.Addr().Interface())
		}
		e := reflect.New(fv.Type().Elem())
		if err := json.Unmarshal(kv.Value, e.Interface()); err != nil {
			return err
		}
		if fv.IsNil() {
			fv.Set(reflect.MakeMap(fv.Type()))
		}
		fv.SetMapIndex(reflect.ValueOf(entry).Convert(fv.Type().Key()), e.Elem())
		return nil
	}
	return errors.New("unknown key (stored by a newer lbd?)")
}

// legacyFile is where lbd kept its state before the store: the whole state
// in one JSON file, rewritten on every change.
const legacyFile = "state.json"

// migrate stores the content of a state.json, if the state directory holds
// one, in the empty store, and renames the file state.json.migrated. A
// crash before the rename leaves a store that is not empty: the next start
// uses it and warns about the file.
func (p *persister) migrate(ctx context.Context, log *slog.Logger) (*state, error) {
	path := filepath.Join(p.dir, legacyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newState(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	st := newState()
	doc := struct {
		Version int `json:"version"`
		*state
	}{state: st}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decode state %s: %w", path, err)
	}
	if doc.Version != 1 {
		return nil, fmt.Errorf("state %s: format version %d, this lbd reads 1", path, doc.Version)
	}
	for _, m := range st.Meta {
		m.Status = octavia.ProvisioningActive
	}
	for _, lb := range st.LoadBalancers {
		if st.Owners[lb.ID] == nil {
			st.Owners[lb.ID] = &owner{API: true}
		}
	}
	txn, err := p.diff(newState(), st)
	if err != nil {
		return nil, err
	}
	if err := p.commit(ctx, txn); err != nil {
		return nil, fmt.Errorf("migrate %s to %s: %w", path, p.where, err)
	}
	if err := os.Rename(path, path+".migrated"); err != nil {
		log.Warn("state.json migrated to the state store but not renamed; it is ignored from now on", "file", path, "err", err.Error())
	}
	log.Info("state migrated from state.json to the state store", "from", path, "to", p.where,
		"load_balancers", len(st.LoadBalancers), "kept_as", path+".migrated")
	return st, nil
}

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
	stored.Meta = make(map[string]*meta, len(r.Meta))
	for id, m := range r.Meta {
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
