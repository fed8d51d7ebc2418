package metrics_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"lbd/internal/metrics"
	"lbd/internal/octavia"
	"lbd/internal/proxy"
)

// BenchmarkScrape is one /metrics scrape of a listener whose pool has n
// members (nothing listens behind them; the scrape does not care), with
// and without gzip, as Prometheus asks for it.
//
//	go test -run '^$' -bench Scrape -benchmem ./internal/metrics/
func BenchmarkScrape(b *testing.B) {
	for _, n := range []int{2, 100, 1000} {
		for _, enc := range []string{"identity", "gzip"} {
			b.Run(fmt.Sprintf("members=%d/%s", n, enc), func(b *testing.B) {
				h := scrapeTarget(b, n)
				req := httptest.NewRequest("GET", "/metrics", nil)
				req.Header.Set("Accept-Encoding", enc)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				b.SetBytes(int64(rec.Body.Len()))
				b.ResetTimer()
				for b.Loop() {
					rec.Body.Reset()
					h.ServeHTTP(rec, req)
				}
			})
		}
	}
}

// scrapeTarget is the metrics handler of a runtime serving one listener
// with a pool of n members.
func scrapeTarget(b *testing.B, n int) http.Handler {
	port := freePort(b)
	var y strings.Builder
	fmt.Fprintf(&y, `loadbalancers:
  - name: lb
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: %d
        default_pool:
          name: pool
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members:
`, port)
	for i := range n {
		fmt.Fprintf(&y, "            - {address: 127.0.0.1, protocol_port: %d}\n", 20001+i)
	}
	cfg, err := octavia.Parse("bench.yaml", []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	rt := proxy.New(slog.New(slog.DiscardHandler), proxy.Options{})
	h := metrics.Handler(rt)
	if err := rt.Apply(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Shutdown(ctx) })
	return h
}
