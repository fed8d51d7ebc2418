package bench

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"lbd/internal/lbdtest/stub"
)

// stubServer is a member so cheap that a benchmark against it measures the
// generator.
func stubServer(tb testing.TB) string {
	return stub.FixedServer(tb, []byte("HTTP/1.1 200 OK\r\nX-Backend: m1\r\nContent-Length: 3\r\n\r\nok\n"))
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchGenerator drives the stub for 2s with lbctl bench's load and
// recorder, and reports the achieved rate, the process's CPU per request
// (generator and stub together) and the generator's send lag.
func benchGenerator(b *testing.B, rate float64, concurrency int) {
	target := stubServer(b)
	s := &Scenario{
		Duration: 2 * time.Second, Rate: rate, Concurrency: concurrency, Clients: 64,
		ConnectionsPerClient: 64, Timeout: 5 * time.Second, Path: "/",
		Members: []Member{{Name: "m1", Weight: 1}},
	}
	for b.Loop() {
		rec := newRecorder(s, s.Clients, nil)
		cpu0, t0 := cpuTime(), time.Now()
		s.load(target).Run(context.Background(), t0, s.Duration, rec)
		cpu, wall := cpuTime()-cpu0, time.Since(t0)
		n := rec.latency.Count()
		if n == 0 || rec.errors() != 0 {
			b.Fatalf("%d responses, %d errors", n, rec.errors())
		}
		b.ReportMetric(float64(n)/s.Duration.Seconds(), "req/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/req")
		b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
		b.ReportMetric(ms(rec.lag.Quantile(0.99)), "lag-p99-ms")
		b.ReportMetric(ms(rec.latency.Quantile(0.99)), "p99-ms")
	}
}

// BenchmarkGenerator measures what the load generator can drive on this
// machine: go test -run '^$' -bench Generator -benchtime 1x ./internal/bench
func BenchmarkGenerator(b *testing.B) {
	b.Run("closed-64", func(b *testing.B) { benchGenerator(b, 0, 64) })
	for _, rate := range []float64{10_000, 20_000, 40_000} {
		b.Run(fmt.Sprintf("open-%.0f", rate), func(b *testing.B) { benchGenerator(b, rate, 0) })
	}
}
