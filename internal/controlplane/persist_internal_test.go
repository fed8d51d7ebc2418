package controlplane

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"lbd/internal/octavia"
	"lbd/internal/statestore"
)

// flavorish stands for a kind of object added to state later (flavors,
// availability zones): stored without code of its own.
type flavorish struct {
	Flavors map[string]*testFlavor `json:"flavors"`
	Zone    string                 `json:"zone,omitempty"`
	Skipped int                    `json:"-"`
	hidden  int
}

type testFlavor struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
}

// TestFieldsStoredGenerically: a map field is stored an entry per key and
// another field whole; a change stores what changed only; what is stored
// decodes back to the same value.
func TestFieldsStoredGenerically(t *testing.T) {
	fields := storedFields(reflect.TypeFor[flavorish]())
	if len(fields) != 2 {
		t.Fatalf("stored fields %+v, want flavors and zone", fields)
	}
	ctx := context.Background()
	s := statestore.Memory()
	stored := map[string][]byte{}
	store := func(v *flavorish) []string {
		t.Helper()
		ops, err := fieldOps(reflect.ValueOf(v).Elem(), fields, stored)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, op := range ops {
			if op.Delete {
				keys = append(keys, "-"+op.Key)
				delete(stored, op.Key)
			} else {
				keys = append(keys, op.Key)
				stored[op.Key] = op.Value
			}
		}
		if _, err := s.Commit(ctx, statestore.Txn{Ops: ops}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(keys)
		return keys
	}
	load := func() *flavorish {
		t.Helper()
		snap, _ := s.Load(ctx)
		v := &flavorish{}
		for _, kv := range snap.KVs {
			if err := decodeField(reflect.ValueOf(v).Elem(), fields, kv); err != nil {
				t.Fatalf("key %s: %v", kv.Key, err)
			}
		}
		return v
	}
	v := &flavorish{Flavors: map[string]*testFlavor{"a": {Name: "small", Enabled: true}, "b": {Name: "big"}}, Zone: "az1", Skipped: 1, hidden: 2}
	if got := store(v); !slices.Equal(got, []string{"flavors/a", "flavors/b", "zone"}) {
		t.Errorf("first store wrote %v", got)
	}
	if got := load(); !reflect.DeepEqual(got.Flavors, v.Flavors) || got.Zone != "az1" || got.Skipped != 0 || got.hidden != 0 {
		t.Errorf("decoded %+v, want the flavors and zone of %+v", got, v)
	}
	v.Flavors["a"] = &testFlavor{Name: "small", Enabled: false}
	delete(v.Flavors, "b")
	if got := store(v); !slices.Equal(got, []string{"-flavors/b", "flavors/a"}) {
		t.Errorf("a change to one flavor and the removal of another wrote %v", got)
	}
	if got := store(v); len(got) != 0 {
		t.Errorf("storing an unchanged value wrote %v", got)
	}
	if got := load(); len(got.Flavors) != 1 || got.Flavors["a"].Enabled {
		t.Errorf("decoded %+v after the change", got.Flavors)
	}
	// state's own generic fields: the tombstones.
	if !slices.ContainsFunc(extraFields, func(f extraField) bool { return f.name == "tombstones" && f.isMap }) {
		t.Errorf("state's generic fields %+v lack the tombstones", extraFields)
	}
}

// TestMigratesStateJSON: a state directory of an older lbd (state.json)
// is taken into the store at the first start, and the file is kept aside.
func TestMigratesStateJSON(t *testing.T) {
	dir := t.TempDir()
	st := newState()
	for i := range 3 {
		data, _ := json.Marshal(benchGraph("old-"+string(rune('a'+i)), benchVIP(i)))
		lb := &octavia.LoadBalancer{}
		json.Unmarshal(data, lb)
		lb.ID = newID()
		lb.SetDefaults()
		lb.Normalize("")
		rec, _ := st.record(nil, lb, touched{created: objectIDs(lb)}, benchNow)
		st.install(nil, rec, "")
	}
	st.Owners[st.LoadBalancers[2].ID] = &owner{FileHash: "abc"} // from the file
	st.Tombstones["gone"] = "def"
	// state.json as lbd wrote it before the store.
	doc, err := json.MarshalIndent(struct {
		Version int `json:"version"`
		*state
	}{1, st}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state.json"), doc, 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(cp *ControlPlane) {
		t.Helper()
		cp.mu.Lock()
		defer cp.mu.Unlock()
		if len(cp.st.LoadBalancers) != 3 || cp.st.Tombstones["gone"] != "def" || cp.st.Owners[st.LoadBalancers[2].ID].FileHash != "abc" ||
			!cp.st.Owners[st.LoadBalancers[0].ID].API || len(cp.st.Meta) != len(st.Meta) {
			t.Errorf("migrated state: %d load balancers, tombstones %v, %d metas (want 3, gone=def, %d)",
				len(cp.st.LoadBalancers), cp.st.Tombstones, len(cp.st.Meta), len(st.Meta))
		}
		for id, m := range st.Meta {
			if n := cp.st.Meta[id]; n == nil || !n.CreatedAt.Equal(m.CreatedAt) {
				t.Errorf("object %s: meta %+v, want %+v", id, n, m)
			}
		}
	}
	log := slog.New(slog.DiscardHandler)
	cp, err := New(Options{StateDir: dir}, nopDP{}, log)
	if err != nil {
		t.Fatal(err)
	}
	check(cp)
	cp.Close()
	if _, err := os.Stat(filepath.Join(dir, "state.json")); !os.IsNotExist(err) {
		t.Errorf("state.json still in place after the migration: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state.json.migrated")); err != nil {
		t.Errorf("state.json not kept as state.json.migrated: %v", err)
	}
	// The next start reads the store.
	cp, err = New(Options{StateDir: dir}, nopDP{}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	check(cp)
}
