package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"lbd/internal/octavia"
)

// BenchmarkAPIMemberBigPool: what the control plane spends on an API
// change of one member (a member created, then deleted: two changes an
// op; cpu-ns/change is per change) in a pool of 10,000 members, the data
// plane a no-op and the state in memory.
//
//	go test -run '^$' -bench APIMemberBigPool -benchmem ./internal/controlplane/
func BenchmarkAPIMemberBigPool(b *testing.B) {
	const n = 10000
	cp, err := New(Options{}, nopDP{}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer cp.Close()
	if err := cp.SetFileConfig(context.Background(), &octavia.Config{}); err != nil {
		b.Fatal(err)
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
	g := benchGraph("big", benchVIP(1))
	members := make([]any, n)
	for i := range members {
		members[i] = map[string]any{"address": fmt.Sprintf("10.%d.%d.%d", i/250>>8, i/250&0xff, i%250+1), "protocol_port": 8080}
	}
	pool := g["listeners"].([]any)[0].(map[string]any)["default_pool"].(map[string]any)
	pool["members"] = members
	w := call("POST", "/v2/lbaas/loadbalancers", map[string]any{"loadbalancer": g})
	if w.Code != http.StatusCreated {
		b.Fatalf("create: %d %.300s", w.Code, w.Body)
	}
	var out struct {
		LoadBalancer struct {
			Pools []struct {
				ID string `json:"id"`
			} `json:"pools"`
		} `json:"loadbalancer"`
	}
	json.Unmarshal(w.Body.Bytes(), &out)
	poolID := out.LoadBalancer.Pools[0].ID
	b.ReportAllocs()
	var c0 time.Duration
	ops := 0
	for b.Loop() {
		if ops == 0 {
			c0 = cpuTime()
		}
		ops++
		w := call("POST", "/v2/lbaas/pools/"+poolID+"/members", map[string]any{"member": map[string]any{"address": "10.200.0.1", "protocol_port": 8080}})
		if w.Code != http.StatusCreated {
			b.Fatalf("member create: %d %.300s", w.Code, w.Body)
		}
		var m struct {
			Member struct {
				ID string `json:"id"`
			} `json:"member"`
		}
		json.Unmarshal(w.Body.Bytes(), &m)
		if w := call("DELETE", "/v2/lbaas/pools/"+poolID+"/members/"+m.Member.ID, nil); w.Code != http.StatusNoContent {
			b.Fatalf("member delete: %d %.300s", w.Code, w.Body)
		}
	}
	if ops > 1 {
		b.ReportMetric(float64(cpuTime()-c0)/float64(ops-1)/2, "cpu-ns/change")
	}
}

// cpuTime is the process's user+system CPU time so far: on a shared
// machine the wall time also counts the time other processes held the CPU.
func cpuTime() time.Duration {
	var r syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
