package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"lbd/internal/octavia"
	"lbd/internal/statestore"
	"lbd/internal/statestore/etcdstore"
	"lbd/internal/statestore/etcdstore/etcdtest"
)

// BenchmarkAPIChangeStore: the latency of an API change (PUT of a load
// balancer's description) by where the state is stored: in memory only,
// the embedded log (fdatasync per change), a real etcd on loopback (one
// member, its data on the same disk). etcd's column minus memory's is what
// the shared state adds to an API call; the data plane is a no-op.
//
//	go test -run '^$' -bench APIChangeStore -benchtime 300x ./internal/controlplane/
func BenchmarkAPIChangeStore(b *testing.B) {
	for _, kind := range []string{"memory", "log", "etcd"} {
		b.Run(kind, func(b *testing.B) {
			opts := Options{}
			switch kind {
			case "log":
				opts.StateDir = b.TempDir()
			case "etcd":
				srv := etcdtest.Start(b, etcdtest.Options{})
				s, err := etcdstore.Open(context.Background(), srv.Config("/bench"))
				if err != nil {
					b.Fatal(err)
				}
				opts.Store = s
			}
			cp, err := New(opts, nopDP{}, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer cp.Close()
			if err := cp.SetFileConfig(context.Background(), &octavia.Config{}); err != nil {
				b.Fatal(err)
			}
			if _, shared := opts.Store.(statestore.Watcher); shared {
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { defer close(done); cp.Follow(ctx) }()
				defer func() { cancel(); <-done }()
			}
			h := cp.Handler()
			call := func(method, path string, body any) *httptest.ResponseRecorder {
				data, _ := json.Marshal(body)
				req := httptest.NewRequest(method, path, bytes.NewReader(data))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				return w
			}
			w := call("POST", "/v2/lbaas/loadbalancers", benchBody("bench", benchVIP(1)))
			if w.Code != http.StatusCreated {
				b.Fatalf("create: %d %s", w.Code, w.Body)
			}
			var out struct {
				LoadBalancer struct {
					ID string `json:"id"`
				} `json:"loadbalancer"`
			}
			json.Unmarshal(w.Body.Bytes(), &out)
			lats := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				w := call("PUT", "/v2/lbaas/loadbalancers/"+out.LoadBalancer.ID,
					map[string]any{"loadbalancer": map[string]any{"description": fmt.Sprint("change ", i)}})
				lats = append(lats, time.Since(start))
				if w.Code != http.StatusOK {
					b.Fatalf("update: %d %s", w.Code, w.Body)
				}
			}
			b.StopTimer()
			slices.Sort(lats)
			b.ReportMetric(float64(lats[len(lats)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds()), "p99-µs")
		})
	}
}
