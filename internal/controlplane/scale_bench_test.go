package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"lbd/internal/octavia"
)

// The API's cost against the size of the state (issue 18, item 5): create
// latency with 100 and with 10,000 load balancers stored, and the time a
// restarted lbd takes to load 10,000. The data plane is a no-op so that
// the figures are the control plane's own (state, persistence, API).
//
//	go test -run '^$' -bench CreateLoadBalancer -benchtime 200x ./internal/controlplane/
//	go test -run '^$' -bench Restart -benchtime 20x ./internal/controlplane/

// nopDP is a data plane that serves nothing.
type nopDP struct{}

func (nopDP) Apply(context.Context, *octavia.Config) error           { return nil }
func (nopDP) OperatingStatus(string) (octavia.OperatingStatus, bool) { return "", false }
func (nopDP) ListenerStats(string) (octavia.Stats, bool)             { return octavia.Stats{}, false }

// benchVIP gives load balancer i an address of its own, so that every
// listener can take port 80.
func benchVIP(i int) string { return fmt.Sprintf("127.%d.%d.%d", 1+i>>16&0xff, i>>8&0xff, i&0xff) }

func benchBody(name, vip string) map[string]any {
	return map[string]any{"loadbalancer": benchGraph(name, vip)}
}

func benchGraph(name, vip string) map[string]any {
	return map[string]any{
		"name": name, "vip_subnet_id": "8ced0346-1b20-4993-b175-66a23fc579f3", "vip_address": vip,
		"listeners": []any{map[string]any{
			"name": "listener1", "protocol": "HTTP", "protocol_port": 80,
			"default_pool": map[string]any{
				"name": "pool1", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
				"healthmonitor": map[string]any{"type": "HTTP", "delay": 5, "timeout": 10, "max_retries": 4},
				"members": []any{
					map[string]any{"address": "192.0.2.11", "protocol_port": 8081},
					map[string]any{"address": "192.0.2.12", "protocol_port": 8082},
				},
			},
		}},
	}
}

// seedState stores n load balancers (each a listener, a pool, two members
// and a monitor, as the API would have created them) under dir.
func seedState(tb testing.TB, dir string, n int) {
	tb.Helper()
	st := newState()
	for i := range n {
		data, _ := json.Marshal(benchGraph(fmt.Sprintf("seed-%d", i), benchVIP(i)))
		lb := &octavia.LoadBalancer{}
		if err := json.Unmarshal(data, lb); err != nil {
			tb.Fatal(err)
		}
		lb.ID = newID()
		lb.SetDefaults()
		lb.Normalize("")
		rec, _ := st.record(nil, lb, touched{created: objectIDs(lb)}, benchNow)
		st.install(nil, rec, "")
	}
	p, err := openStore(Options{StateDir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	defer p.store.Close()
	txn, err := p.diff(newState(), st)
	if err == nil {
		err = p.commit(context.Background(), txn)
	}
	if err != nil {
		tb.Fatal(err)
	}
}

var benchNow = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

func benchOpen(tb testing.TB, dir string) *ControlPlane {
	tb.Helper()
	cp, err := New(Options{StateDir: dir}, nopDP{}, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	if err := cp.SetFileConfig(context.Background(), &octavia.Config{}); err != nil {
		tb.Fatal(err)
	}
	return cp
}

func BenchmarkCreateLoadBalancer(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("lbs=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			seedState(b, dir, n)
			cp := benchOpen(b, dir)
			defer cp.Close()
			h := cp.Handler()
			call := func(method, path string, body any) *httptest.ResponseRecorder {
				var rd io.Reader = http.NoBody
				if body != nil {
					data, _ := json.Marshal(body)
					rd = bytes.NewReader(data)
				}
				req := httptest.NewRequest(method, path, rd)
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				return w
			}
			b.ResetTimer()
			for i := range b.N {
				w := call("POST", "/v2/lbaas/loadbalancers", benchBody(fmt.Sprintf("bench-%d", i), benchVIP(n+i)))
				if w.Code != http.StatusCreated {
					b.Fatalf("create: %d %s", w.Code, w.Body)
				}
				b.StopTimer()
				var out struct {
					LoadBalancer struct {
						ID string `json:"id"`
					} `json:"loadbalancer"`
				}
				json.Unmarshal(w.Body.Bytes(), &out)
				if w := call("DELETE", "/v2/lbaas/loadbalancers/"+out.LoadBalancer.ID+"?cascade=true", nil); w.Code != http.StatusNoContent {
					b.Fatalf("delete: %d %s", w.Code, w.Body)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkRestart: what lbd does at start on a stored state of 10,000
// load balancers: load it, merge the (empty) config file, apply.
func BenchmarkRestart(b *testing.B) {
	const n = 10000
	dir := b.TempDir()
	seedState(b, dir, n)
	b.ResetTimer()
	for range b.N {
		cp := benchOpen(b, dir)
		if got := len(cp.Config().LoadBalancers); got != n {
			b.Fatalf("%d load balancers after restart, want %d", got, n)
		}
		cp.Close()
	}
}
