package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"

	"lbd/internal/octavia"
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
	// advanced, when not nil, is closed when seen next moves (sync.go).
	advanced chan struct{}
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
		s, err := statestore.Open(opts.StateDir, statestore.LogOptions{Log: log, Background: opts.Background})
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
