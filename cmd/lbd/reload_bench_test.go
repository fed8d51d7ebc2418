package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"lbd/internal/controlplane"
	"lbd/internal/lbdtest/poolyaml"
	"lbd/internal/octavia"
	"lbd/internal/proxy"
)

// BenchmarkReload10k is what cmd/lbd's SIGHUP reload of a 10,000-member
// pool costs, in process: the file read and parsed, merged by the control
// plane (stored under a state directory), applied by the data plane; each
// reload adds or removes one member, as TestReloadLatencyProcess's do.
//
//	go test -run '^$' -bench Reload10k -benchmem ./cmd/lbd/
func BenchmarkReload10k(b *testing.B) {
	const n = 10000
	port := freePort(b)
	render := func(k int) string {
		return string(poolyaml.Pool{Port: port, Members: k, Member: func(i int) string {
			return poolyaml.At(i, fmt.Sprintf("127.88.%d.%d", i/250, i%250+1), 20000+i)
		}}.YAML())
	}
	dir := b.TempDir()
	paths := []string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")}
	for i, p := range paths {
		if err := os.WriteFile(p, []byte(render(n+i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	rt := proxy.New(log, proxy.Options{NoEventLoop: true})
	cp, err := controlplane.New(controlplane.Options{StateDir: filepath.Join(dir, "state")}, rt, log)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cp.Close()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		rt.Shutdown(sctx)
	})
	cfg, err := octavia.LoadFile(paths[1])
	if err != nil {
		b.Fatal(err)
	}
	if err := cp.SetFileConfig(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	fileSnap := cfg.Snapshot()
	b.ReportAllocs()
	var c0 time.Duration
	k := 0
	for b.Loop() {
		if k == 0 {
			c0 = cpuTime()
		}
		reload(ctx, cp, rt, paths[k%2], &fileSnap, log)
		k++
	}
	b.ReportMetric(float64(cpuTime()-c0)/float64(k)/1e6, "cpu-ms/op")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var r syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}
