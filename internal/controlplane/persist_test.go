package controlplane_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"lbd/internal/controlplane"
	"lbd/internal/octavia"
	"lbd/internal/statestore"
	"lbd/internal/statestore/diskfault"
)

// syncBuffer is a log destination handlers may write to concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// storeEnv is an API over a control plane with options of the test's
// choosing, logging JSON into logs.
type storeEnv struct {
	*env
	logs *syncBuffer
}

func newStoreEnv(t *testing.T, opts controlplane.Options) *storeEnv {
	t.Helper()
	logs := &syncBuffer{}
	dp := &fakeDP{stats: map[string]octavia.Stats{}}
	opts.VIPAddress = "127.0.0.1"
	cp, err := controlplane.New(opts, dp, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close() })
	if err := cp.SetFileConfig(context.Background(), &octavia.Config{}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cp.Handler())
	t.Cleanup(srv.Close)
	return &storeEnv{env: &env{t: t, cp: cp, dp: dp, srv: srv, dir: opts.StateDir}, logs: logs}
}

// saveErrors reads lbd_state_save_errors_total{errno}.
func saveErrors(t *testing.T, cp *controlplane.ControlPlane, errno string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(cp.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "lbd_state_save_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "errno" && l.GetValue() == errno {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// bigLB is a load balancer whose stored record takes more than a page, so
// that storing it needs room a full disk does not have.
func bigLB(name string, port int) map[string]any {
	b := fullLB(name, port)
	pool := b["loadbalancer"].(map[string]any)["listeners"].([]any)[0].(map[string]any)["default_pool"].(map[string]any)
	var members []any
	for i := range 40 {
		members = append(members, map[string]any{"address": fmt.Sprintf("192.0.2.%d", i+1), "protocol_port": 8080, "name": fmt.Sprintf("member-%d", i)})
	}
	pool["members"] = members
	return b
}

// refusedForDisk checks what a change refused because the state could not
// be saved looks like: Octavia's 500 fault naming the file and the errno
// (debuginfo too), the metric, the log line; nothing changed, in the API
// or the data plane.
func (e *storeEnv) refusedForDisk(path, errno, strerror string) {
	t := e.t
	t.Helper()
	list := func() int {
		return len(e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers", nil, "")["loadbalancers"].([]any))
	}
	before, applied := list(), len(e.dp.last().LoadBalancers)
	code, f := e.do("POST", "/v2/lbaas/loadbalancers", bigLB("refused", 9090))
	fs, _ := f["faultstring"].(string)
	debug, _ := f["debuginfo"].(string)
	want := fmt.Sprintf("could not be saved to %s: %s (%s)", path, strerror, errno)
	if code != http.StatusInternalServerError || f["faultcode"] != "Server" || !strings.Contains(fs, want) || !strings.Contains(debug, path) {
		t.Fatalf("create on a disk that fails with %s: %d %v; want 500, faultcode Server, a faultstring containing %q and a debuginfo naming the file",
			errno, code, f, want)
	}
	if n := saveErrors(t, e.cp, errno); n != 1 {
		t.Errorf("lbd_state_save_errors_total{errno=%q} = %v, want 1", errno, n)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, fmt.Sprintf(`"file":%q`, path)) || !strings.Contains(logs, fmt.Sprintf(`"errno":%q`, errno)) {
		t.Errorf("no error logged naming the file and the errno: %s", logs)
	}
	if n := list(); n != before {
		t.Errorf("after the refused change the API lists %d load balancers, want %d", n, before)
	}
	if n := len(e.dp.last().LoadBalancers); n != applied {
		t.Errorf("after the refused change the data plane serves %d load balancers, want %d (rolled back)", n, applied)
	}
}

// TestDiskFullRefusesChange: the state directory on a full filesystem
// (a real tmpfs, filled): a change is refused with a 500 that says so, and
// once there is room again changes are stored, the refused one not.
func TestDiskFullRefusesChange(t *testing.T) {
	dir := diskfault.Tmpfs(t, 1<<20)
	e := newStoreEnv(t, controlplane.Options{StateDir: dir})
	kept := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", bigLB("kept", 9080), "loadbalancer")
	free := diskfault.Fill(t, dir, 0)
	e.refusedForDisk(filepath.Join(dir, "state.log"), "ENOSPC", "no space left on device")
	free()
	e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("after"), "loadbalancer")
	e.cp.Close()
	e2 := newStoreEnv(t, controlplane.Options{StateDir: dir})
	var names []string
	for _, lb := range e2.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers", nil, "")["loadbalancers"].([]any) {
		names = append(names, str(lb.(map[string]any), "name"))
	}
	if strings.Join(names, ",") != "kept,after" {
		t.Errorf("after restart: load balancers %v, want kept and after", names)
	}
	e2.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers/"+str(kept, "id"), nil, "loadbalancer")
}

// TestReadOnlyDiskRefusesChange: the filesystem of the state directory
// turns read-only under lbd (ext4 after an I/O error): a change is refused
// with a 500 that says so; after the filesystem is repaired, a restart
// finds the state as it was.
func TestReadOnlyDiskRefusesChange(t *testing.T) {
	fsys := diskfault.NewExt4(t)
	dir := filepath.Join(fsys.Dir, "state")
	e := newStoreEnv(t, controlplane.Options{StateDir: dir})
	e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("kept"), "loadbalancer")
	fsys.Fail(t)
	e.refusedForDisk(filepath.Join(dir, "state.log"), "EROFS", "read-only file system")
	e.cp.Close()
	fsys.Remount(t)
	e2 := newStoreEnv(t, controlplane.Options{StateDir: dir})
	list := e2.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers", nil, "")["loadbalancers"].([]any)
	if len(list) != 1 || str(list[0].(map[string]any), "name") != "kept" {
		t.Errorf("after repair and restart: %v, want only 'kept'", list)
	}
}

// TestConcurrentChangeLoses: when the load balancer's key changed in the
// store since this lbd read it (another lbd sharing the store), a change
// to it is refused with Octavia's 409 and not applied.
func TestConcurrentChangeLoses(t *testing.T) {
	store := statestore.Memory()
	e := newStoreEnv(t, controlplane.Options{Store: store})
	lb := e.must(http.StatusCreated, "POST", "/v2/lbaas/loadbalancers", lbBody("shared"), "loadbalancer")
	id := str(lb, "id")
	snap, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var theirs []byte
	for _, kv := range snap.KVs {
		if kv.Key == "lb/"+id {
			theirs = bytes.Replace(kv.Value, []byte(`"name":"shared"`), []byte(`"name":"theirs"`), 1)
		}
	}
	if theirs == nil {
		t.Fatalf("no key lb/%s in the store: %v", id, snap.KVs)
	}
	if _, err := store.Commit(context.Background(), statestore.Txn{Ops: []statestore.Op{statestore.Put("lb/"+id, theirs)}}); err != nil {
		t.Fatal(err)
	}
	e.fault(http.StatusConflict, "Load Balancer "+id+" is immutable and cannot be updated.",
		"PUT", "/v2/lbaas/loadbalancers/"+id, map[string]any{"loadbalancer": map[string]any{"description": "mine"}})
	got := e.must(http.StatusOK, "GET", "/v2/lbaas/loadbalancers/"+id, nil, "loadbalancer")
	if got["description"] != "" || got["provisioning_status"] != "ACTIVE" {
		t.Errorf("after losing the race: %v, want the description unchanged and ACTIVE", got)
	}
	if d := e.dp.last().LoadBalancers[0].Description; d != "" {
		t.Errorf("data plane serves description %q after the lost change, want it rolled back", d)
	}
	if !strings.Contains(e.logs.String(), `"key":"lb/`+id+`"`) {
		t.Errorf("the conflict is not logged with its key: %s", e.logs.String())
	}
}

// TestUnreadableStateRefused: a store this lbd cannot read (a newer
// format, a damaged value) stops the start with an error naming the key,
// rather than serving part of the state.
func TestUnreadableStateRefused(t *testing.T) {
	for _, tc := range []struct {
		key, value, want string
	}{
		{"format", "2", `format "2", this lbd reads "1"`},
		{"lb/0a3f", `{"loadbalancer":`, "key lb/0a3f: unexpected end of JSON input"},
		{"lb/0a3f", `{"loadbalancer":{"id":"other"}}`, "key lb/0a3f: not the load balancer its key names"},
		{"flavours/x", `{}`, "key flavours/x: unknown key"},
	} {
		store := statestore.Memory()
		store.Commit(context.Background(), statestore.Txn{Ops: []statestore.Op{statestore.Put(tc.key, []byte(tc.value))}})
		_, err := controlplane.New(controlplane.Options{Store: store}, &fakeDP{}, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s = %s: New gave %v, want an error containing %q", tc.key, tc.value, err, tc.want)
		}
	}
}
