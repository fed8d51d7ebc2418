package balancer

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time so far. The scale
// benchmarks report it per operation beside the wall time (cpu-ns/op): on
// a shared machine the wall time also counts the time other processes held
// the CPU.
func cpuTime() time.Duration {
	var r syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// loopCPU runs b.Loop around op and reports CPU time per operation.
func loopCPU(b *testing.B, op func()) {
	b.Helper()
	var c0 time.Duration
	n := 0
	for b.Loop() {
		if n == 0 {
			c0 = cpuTime()
		}
		op()
		n++
	}
	if n > 1 {
		b.ReportMetric(float64(cpuTime()-c0)/float64(n-1), "cpu-ns/op")
	}
}

// The benchmarks below are the figures for pools of 10,000 members:
//
//	go test -run '^$' -bench 'Pick10k|Rebuild' -benchmem ./internal/balancer/

// scaleWeights are the weight sets the scale benchmarks run with: all
// equal, and 1..7 spread over the members.
var scaleWeights = []struct {
	name string
	w    func(i int) int
}{
	{"equal", func(int) int { return 1 }},
	{"weighted", func(i int) int { return 1 + i%7 }},
}

func scaleMembers(n int, w func(int) int) []MemberConfig {
	ws := make([]int, n)
	for i := range ws {
		ws[i] = w(i)
	}
	return members(ws...)
}

// BenchmarkPick10k is one Pick and Release in a pool of 10,000 ready
// members, from clients that change on every pick (SOURCE_IP looks up a
// different table entry each time).
func BenchmarkPick10k(b *testing.B) {
	const n = 10000
	srcs := make([]int, 4096)
	for i := range srcs {
		srcs[i] = i * 7919
	}
	for _, alg := range allAlgorithms {
		for _, ws := range scaleWeights {
			b.Run(fmt.Sprintf("%s/%s", alg, ws.name), func(b *testing.B) {
				p := NewPool(alg, scaleMembers(n, ws.w))
				b.ReportAllocs()
				i := 0
				loopCPU(b, func() {
					m, _ := p.Pick(client(srcs[i&4095]))
					m.Release()
					i++
				})
			})
		}
	}
}

// BenchmarkRebuild10k is what a membership change costs a pool of 10,000
// members: one member's health flips (the ready set and the algorithm's
// tables are rebuilt), and an Update that removes one member.
func BenchmarkRebuild10k(b *testing.B) {
	const n = 10000
	for _, alg := range allAlgorithms {
		for _, ws := range scaleWeights {
			cfg := scaleMembers(n, ws.w)
			b.Run(fmt.Sprintf("health/%s/%s", alg, ws.name), func(b *testing.B) {
				p := NewPool(alg, cfg)
				b.ReportAllocs()
				up := false
				loopCPU(b, func() {
					p.SetHealthy("m5000", up)
					up = !up
				})
			})
			b.Run(fmt.Sprintf("update/%s/%s", alg, ws.name), func(b *testing.B) {
				p := NewPool(alg, cfg)
				less := append(append([]MemberConfig{}, cfg[:5000]...), cfg[5001:]...)
				b.ReportAllocs()
				full := false
				loopCPU(b, func() {
					if full {
						p.Update(alg, cfg)
					} else {
						p.Update(alg, less)
					}
					full = !full
				})
			})
		}
	}
}
