package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"lbd/internal/lbdtest/poolyaml"
	"lbd/internal/octavia"
)

// The Apply benchmarks are what a configuration change costs a big
// configuration, as the control plane applies it: the load balancers an API
// call did not touch are the very graphs applied before, the one it touched
// is a fresh copy.
//
//	go test -run '^$' -bench Apply -benchmem ./internal/proxy/

// BenchmarkApplyManyLoadBalancers: 2,000 load balancers (a listener and a
// pool of two members each); each Apply adds a 2,001st and removes the one
// added before, as an API create and delete do.
func BenchmarkApplyManyLoadBalancers(b *testing.B) {
	const n, extra = 2000, 8
	port := freePort(b)
	var y strings.Builder
	y.WriteString("loadbalancers:\n")
	for i := range n + extra {
		fmt.Fprintf(&y, `  - name: lb%d
    vip_address: 127.1.%d.%d
    listeners:
      - name: l%d
        protocol: HTTP
        protocol_port: %d
        default_pool:
          name: p%d
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          members:
            - {address: 127.0.0.1, protocol_port: 20001}
            - {address: 127.0.0.1, protocol_port: 20002}
`, i, i/250, i%250+1, i, port, i)
	}
	all, err := octavia.Parse("bench.yaml", []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	cfgs := make([]*octavia.Config, extra)
	for k := range cfgs {
		cfgs[k] = &octavia.Config{LoadBalancers: append(slices.Clone(all.LoadBalancers[:n]), all.LoadBalancers[n+k])}
	}
	benchApplies(b, cfgs...)
}

// BenchmarkApplyBigPool: one pool of 10,000 members; each Apply adds or
// removes a member (a fresh copy of the load balancer, as the API makes).
func BenchmarkApplyBigPool(b *testing.B) {
	for _, alg := range []string{"ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"} {
		b.Run(alg, func(b *testing.B) {
			less, more := bigPool(b, alg, 10000)
			benchApplies(b, more, less)
		})
	}
}

// bigPool returns two configs of one load balancer whose pool has n and
// n+1 members.
func bigPool(b testing.TB, alg string, n int) (less, more *octavia.Config) {
	port := freePort(b)
	render := func(members int) *octavia.Config {
		y := poolyaml.Pool{Port: port, Algorithm: alg, Members: members, Member: poolyaml.Spread}.YAML()
		cfg, err := octavia.Parse("bench.yaml", y)
		if err != nil {
			b.Fatal(err)
		}
		return cfg
	}
	return render(n), render(n + 1)
}

// benchApplies applies cfgs in turn, reporting the CPU time per Apply
// beside the wall time.
func benchApplies(b *testing.B, cfgs ...*octavia.Config) {
	ctx := context.Background()
	rt := New(slog.New(slog.DiscardHandler), Options{NoEventLoop: true})
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		rt.Shutdown(ctx)
	})
	if err := rt.Apply(ctx, cfgs[len(cfgs)-1]); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var c0 time.Duration
	n := 0
	for b.Loop() {
		if n == 0 {
			c0 = cpuTime()
		}
		if err := rt.Apply(ctx, cfgs[n%len(cfgs)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if n > 1 {
		b.ReportMetric(float64(cpuTime()-c0)/float64(n-1), "cpu-ns/op")
	}
}

// cpuTime is the process's user+system CPU time so far: on a shared
// machine the wall time also counts the time other processes held the CPU.
func cpuTime() time.Duration {
	var r syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
