package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lbd/internal/health"
	"lbd/internal/octavia"
)

// loadFailure is one request that did not get a complete 200.
type loadFailure struct {
	at     time.Time // when it was sent
	took   time.Duration
	status int // 0: no complete answer
	err    string
}

// loadResult counts a load loop's requests.
type loadResult struct {
	ok       atomic.Int64
	mu       sync.Mutex
	failures []loadFailure
	backends map[string]int
}

func (r *loadResult) failed() []loadFailure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]loadFailure(nil), r.failures...)
}

func (r *loadResult) String() string {
	f := r.failed()
	s := fmt.Sprintf("%d ok, %d failed", r.ok.Load(), len(f))
	for i, x := range f {
		if i == 5 {
			s += fmt.Sprintf("; ... %d more", len(f)-5)
			break
		}
		s += fmt.Sprintf("; [%d after %v: %s]", x.status, x.took.Round(time.Millisecond), x.err)
	}
	return s
}

// runLoad sends GET / from workers keep-alive clients until stop closes,
// and returns when they are all done. The client is a plain HTTP/1.1 one
// that never retries (net/http's Transport would retry some failures
// itself and hide them): every failure lbd lets through is counted.
func runLoad(addr string, workers int, stop <-chan struct{}) *loadResult {
	res := &loadResult{backends: map[string]int{}}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c net.Conn
			var br *bufio.Reader
			defer func() {
				if c != nil {
					c.Close()
				}
			}()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				fail := func(status int, err error) {
					res.mu.Lock()
					res.failures = append(res.failures, loadFailure{at: start, took: time.Since(start), status: status, err: fmt.Sprint(err)})
					res.mu.Unlock()
					if c != nil {
						c.Close()
						c = nil
					}
				}
				if c == nil {
					var err error
					if c, err = net.DialTimeout("tcp", addr, 5*time.Second); err != nil {
						fail(0, err)
						continue
					}
					br = bufio.NewReader(c)
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: load\r\n\r\n"); err != nil {
					fail(0, err)
					continue
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					fail(0, err)
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					fail(resp.StatusCode, fmt.Errorf("%v: %.40q", err, body))
					continue
				}
				res.ok.Add(1)
				res.mu.Lock()
				res.backends[backendName(string(body))]++
				res.mu.Unlock()
				if resp.Close {
					c.Close()
					c = nil
				}
			}
		}()
	}
	wg.Wait()
	return res
}

// loadFor runs the load for d alongside chaos, which gets a channel closed
// when the load stops.
func loadFor(addr string, workers int, d time.Duration, chaos func(stop <-chan struct{})) *loadResult {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); chaos(stop) }()
	var res *loadResult
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
	rt := New(slog.New(slog.DiscardHandler), Options{DrainTimeout: 5 * time.Second, Passive: passive})
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
