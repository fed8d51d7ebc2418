package metrics_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"lbd/internal/lbdtest/poolyaml"
	"lbd/internal/metrics"
	"lbd/internal/octavia"
	"lbd/internal/proxy"
)

// BenchmarkScrape is one /metrics scrape of a listener whose pool has n
// members (nothing listens behind them; the scrape does not care), with
// and without gzip, as Prometheus asks for it. In the plain variants the
// members have no traffic between scrapes: a gzip scrape reuses their
// compressed series (gzip.go). In the +busy ones every member serves a
// request between two scrapes (its counters and latency histograms move),
// as in a pool under load scraped every 15 s: nothing can be reused.
//
//	go test -run '^$' -bench Scrape -benchmem ./internal/metrics/
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{2, 100, 1000, 10000} {
		for _, variant := range []string{"identity", "gzip", "gzip+monitor", "identity+busy", "gzip+busy"} {
			b.Run(fmt.Sprintf("members=%d/%s", n, variant), func(b *testing.B) {
				rt, h := scrapeTarget(b, n, strings.HasSuffix(variant, "+monitor"))
				var traffic func()
				if strings.HasSuffix(variant, "+busy") {
					members := rt.PoolMembers(rt.Config().LoadBalancers[0].Pools[0].ID)
					k := 0
					traffic = func() {
						k++
						for i, m := range members {
							m.Traffic.Connections.Add(1)
							m.Traffic.Requests.Add(1)
							m.Traffic.BytesIn.Add(100)
							m.Traffic.BytesOut.Add(1000)
							m.Traffic.Responses[1].Add(1)
							m.Traffic.ConnectTime.Observe(time.Duration(100+(i+k)%900) * time.Microsecond)
							m.Traffic.ResponseTime.Observe(time.Duration(1+(i+k)%40) * time.Millisecond)
						}
					}
				}
				enc, _, _ := strings.Cut(variant, "+")
				req := httptest.NewRequest("GET", "/metrics", nil)
				req.Header.Set("Accept-Encoding", enc)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				b.SetBytes(int64(rec.Body.Len()))
				b.ReportAllocs()
				var c0 time.Duration
				n := 0
				for b.Loop() {
					if n == 0 {
						c0 = cpuTime()
					}
					if traffic != nil {
						b.StopTimer()
						c := cpuTime()
						traffic()
						c0 += cpuTime() - c // the traffic is not the scrape's
						b.StartTimer()
					}
					rec.Body.Reset()
					h.ServeHTTP(rec, req)
					n++
				}
				if n > 1 {
					b.ReportMetric(float64(cpuTime()-c0)/float64(n-1), "cpu-ns/op")
				}
			})
		}
	}
}

// cpuTime is the process's user+system CPU time so far: on a shared
// machine the wall time also counts the time other processes held the CPU.
func cpuTime() time.Duration {
	var r syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// scrapeTarget is the metrics handler of a runtime serving one listener
// with a pool of n members.
//
// With monitor, the pool has a health monitor, disabled so that nothing is
// probed: the member series include the monitor's, and
// octavia_member_check_last_change_seconds changes at every scrape.
func scrapeTarget(b testing.TB, n int, monitor bool) (*proxy.Runtime, http.Handler) {
	port := freePort(b)
	p := poolyaml.Pool{LB: "lb", Name: "pool", Port: port, Members: n, Member: func(i int) string {
		return fmt.Sprintf("address: 127.0.0.1, protocol_port: %d", 20001+i)
	}}
	if monitor {
		p.Fields = []string{"healthmonitor: {type: HTTP, delay: 5, timeout: 3, max_retries: 2, admin_state_up: false}"}
	}
	cfg, err := octavia.Parse("bench.yaml", p.YAML())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rt := proxy.New(slog.New(slog.DiscardHandler), proxy.Options{})
	h := metrics.Handler(rt, metrics.Options{})
	if err := rt.Apply(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Shutdown(ctx) })
	return rt, h
}
