package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"lbd/internal/health"
	"lbd/internal/loadgen"
	"lbd/internal/octavia"
)

// runLoad sends GET / from workers keep-alive clients until stop closes.
func runLoad(addr string, workers int, stop <-chan struct{}) *loadgen.Result {
	return loadgen.Run(addr, "/", workers, stop)
}

// loadFor runs the load for d alongside chaos, which gets a channel closed
// when the load stops.
func loadFor(addr string, workers int, d time.Duration, chaos func(stop <-chan struct{})) *loadgen.Result {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); chaos(stop) }()
	var res *loadgen.Result
	loaded := make(chan struct{})
	go func() { defer close(loaded); res = runLoad(addr, workers, stop) }()
	time.Sleep(d) // the length of the experiment, not synchronisation
	close(stop)
	<-loaded
	<-done
	return res
}

// resources is what a test process holds: goroutines and open files.
type resources struct{ goroutines, fds int }

func (r resources) String() string { return fmt.Sprintf("%d goroutines, %d fds", r.goroutines, r.fds) }

func currentResources(t *testing.T) resources {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return resources{runtime.NumGoroutine(), len(fds)}
}

// baseline measures the resources of a runtime that has served a little
// traffic and is idle: pooled member connections closed, counts steady.
func baseline(t *testing.T, rt *Runtime, addr string) resources {
	t.Helper()
	awaitFirstChecks(t, rt)
	runLoad(addr, 2, closedAfter(200*time.Millisecond))
	prev := resources{-1, -1}
	for range 100 {
		closeIdleUpstreams(rt)
		now := currentResources(t)
		if now == prev {
			return now
		}
		prev = now
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("resources never settled: %v", prev)
	return prev
}

// awaitFirstChecks waits until every member of a pool with a health
// monitor has been checked once: what the monitor's prober keeps from
// check to check (an idle socket, its epoll set of pending checks and
// that set's goroutine) is then part of the baseline, not counted as
// leaked by the checks that run during the load.
func awaitFirstChecks(t *testing.T, rt *Runtime) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, lb := range rt.Config().LoadBalancers {
		for _, pool := range lb.Pools {
			if pool.HealthMonitor == nil {
				continue
			}
			for _, m := range pool.Members {
				for {
					st, ok := rt.MemberHealth(pool.ID, m.ID)
					if ok && st.Checked {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("member %s:%d never checked (state %+v, %v)", m.Address, m.ProtocolPort, st, ok)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
	}
}

// closeIdleUpstreams closes every pooled member connection, as the reaper
// does once they are idleUpstreamTTL old, so a leak check need not wait
// for it.
func closeIdleUpstreams(rt *Runtime) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, p := range rt.pools {
		p.idle.expire(time.Now().Add(time.Hour))
	}
}

// expectBaseline waits until the process is back to at most base
// goroutines and fds (plus slack for the runtime's own helpers that come
// and go), after the idle member connections are closed.
func expectBaseline(t *testing.T, rt *Runtime, base resources) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		closeIdleUpstreams(rt)
		now := currentResources(t)
		if now.goroutines <= base.goroutines+2 && now.fds <= base.fds {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("leak: %v after the load, %v before\n%s", now, base, summarizeStacks(string(buf[:n])))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// summarizeStacks counts goroutines by their top lbd frame.
func summarizeStacks(all string) string {
	counts := map[string]int{}
	for _, g := range strings.Split(all, "\n\n") {
		key := strings.SplitN(g, "\n", 2)[0]
		for _, line := range strings.Split(g, "\n") {
			if strings.HasPrefix(line, "lbd/") {
				key = line
				break
			}
		}
		counts[key]++
	}
	var lines []string
	for k, n := range counts {
		lines = append(lines, fmt.Sprintf("%4d %s", n, k))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// chaosRuntime starts a runtime with passive health as given, applying cfg.
func chaosRuntime(t *testing.T, cfg *octavia.Config, passive health.Passive) *Runtime {
	t.Helper()
	rt := New(slog.New(slog.DiscardHandler), Options{DrainTimeout: 5 * time.Second, Passive: passive, NoEventLoop: goroutinesOnly()})
	if err := rt.Apply(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rt.Shutdown(ctx)
	})
	return rt
}
