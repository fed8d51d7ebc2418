package proxy

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"lbd/internal/lbdtest/poolyaml"
	"lbd/internal/loadgen"
	"lbd/internal/octavia"
)

// TestReloadLatency10k measures what a reload costs the data path of a
// pool of 10,000 members: an open-loop load (loadgen.Open, latency counted
// from when each request fell due) runs throughout, and windows that start
// with a reload (the YAML parsed and applied, a member added or removed:
// what a SIGHUP does, and what an API change does after its validation)
// alternate with quiet windows. It logs the p99 of each window and the
// ratio of each change window's p99 to the quiet one before it, and fails
// when the median ratio is above 1.5 or a request failed.
// LBD_RELOAD_EVERY (a duration) reloads that often through each change
// window instead of once; LBD_RELOAD_PAIRS (default 8) sets the number of
// pairs of windows. The members are 10,000 loopback listeners
// (127.88.x.y) in a child process. The change runs on the test's own
// goroutine, beside an in-process load generator; lbd runs it at low
// priority (internal/lowprio), which cmd/lbd's TestReloadLatencyProcess
// measures on a real lbd process. It takes about 40 s, so it runs only
// when asked:
//
//	LBD_RELOAD_P99=1 go test -run TestReloadLatency10k -v ./internal/proxy/
func TestReloadLatency10k(t *testing.T) {
	if os.Getenv("LBD_RELOAD_P99") == "" {
		t.Skip("set LBD_RELOAD_P99=1 to measure (about 40 s)")
	}
	const (
		n      = 10000
		rate   = 400 // requests per second
		quiet  = 2 * time.Second
		busy   = 2 * time.Second
		gap    = 250 * time.Millisecond // left out of both windows
		warmup = 2 * time.Second
	)
	pairs := 8
	if s := os.Getenv("LBD_RELOAD_PAIRS"); s != "" {
		var err error
		if pairs, err = strconv.Atoi(s); err != nil || pairs < 4 {
			t.Fatalf("LBD_RELOAD_PAIRS=%q: want a number of pairs, at least 4", s)
		}
	}
	reloads := busy // once a window
	if s := os.Getenv("LBD_RELOAD_EVERY"); s != "" {
		var err error
		if reloads, err = time.ParseDuration(s); err != nil || reloads <= 0 {
			t.Fatalf("LBD_RELOAD_EVERY=%q: want a duration", s)
		}
	}
	members := serveHTTPMembers(t, n+1)
	port := freePort(t)
	render := func(k int) []byte {
		return poolyaml.Pool{Port: port, Members: k, Member: func(i int) string {
			return poolyaml.At(i, members[i].Addr().String(), int(members[i].Port()))
		}}.YAML()
	}
	yamls := [][]byte{render(n), render(n + 1)}
	// LBD_RELOAD_APPLY_ONLY=1 applies configurations parsed beforehand:
	// the data plane's part of a change alone.
	applyOnly := os.Getenv("LBD_RELOAD_APPLY_ONLY") != ""
	var parsed [2]*octavia.Config
	for i, y := range yamls {
		cfg, err := octavia.Parse("reload.yaml", y)
		if err != nil {
			t.Fatal(err)
		}
		parsed[i] = cfg
	}
	reload := func(ctx context.Context, rt *Runtime, i int) error {
		if applyOnly {
			return rt.Apply(ctx, parsed[i%2])
		}
		cfg, err := octavia.Parse("reload.yaml", yamls[i%2])
		if err != nil {
			return err
		}
		return rt.Apply(ctx, cfg)
	}
	ctx := t.Context()
	rt := New(slog.New(slog.DiscardHandler), Options{})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rt.Shutdown(ctx)
	})
	if err := reload(ctx, rt, 0); err != nil {
		t.Fatal(err)
	}

	rec := &latencies{}
	start := time.Now()
	total := warmup + time.Duration(pairs)*(quiet+busy+2*gap)
	load := loadgen.Open{Target: loadgen.Target{Addr: fmt.Sprintf("127.0.0.1:%d", port), Clients: 8, Timeout: 5 * time.Second}, Rate: rate, ConnsPerClient: 4}
	loadDone := make(chan struct{})
	go func() { defer close(loadDone); load.Run(ctx, start, total, rec) }()

	type window struct{ from, to time.Duration }
	var quiets, busies []window
	applied := 0
	var applyCPU []time.Duration
	for k := range pairs {
		q0 := warmup + time.Duration(k)*(quiet+busy+2*gap)
		quiets = append(quiets, window{q0, q0 + quiet})
		b0 := q0 + quiet + gap
		busies = append(busies, window{b0, b0 + busy})
		time.Sleep(time.Until(start.Add(b0))) // the schedule, not an event: the quiet window passes
		for next := b0; next < b0+busy; next += reloads {
			time.Sleep(time.Until(start.Add(next)))
			c0 := cpuTime()
			applied++
			if err := reload(ctx, rt, applied); err != nil {
				t.Fatal(err)
			}
			applyCPU = append(applyCPU, cpuTime()-c0)
		}
		if applied%2 == 1 { // end each change window on the 10,000 members
			applied++
			if err := reload(ctx, rt, applied); err != nil {
				t.Fatal(err)
			}
		}
	}
	<-loadDone

	if rec.failed > 0 {
		t.Errorf("%d of %d requests failed (first: %s)", rec.failed, rec.failed+len(rec.all), rec.firstErr)
	}
	var ratios []float64
	var report strings.Builder
	for k := range pairs {
		pq, nq := rec.p99(quiets[k].from, quiets[k].to)
		pb, nb := rec.p99(busies[k].from, busies[k].to)
		r := float64(pb) / float64(pq)
		ratios = append(ratios, r)
		fmt.Fprintf(&report, "\n  pair %d: quiet p99 %v (%d requests), reloading p99 %v (%d requests): %.2f×", k+1,
			pq.Round(time.Microsecond), nq, pb.Round(time.Microsecond), nb, r)
	}
	slices.Sort(applyCPU)
	sorted := slices.Sorted(slices.Values(ratios))
	med := sorted[len(sorted)/2]
	q1, q3 := sorted[len(sorted)/4], sorted[len(sorted)*3/4]
	t.Logf("%d members, %d requests/s, a reload every %v in the change windows (%d reloads, CPU per reload median %v, max %v):%s\n  median ratio %.2f [IQR %.2f–%.2f] (min %.2f, max %.2f)",
		n, rate, reloads, len(applyCPU), applyCPU[len(applyCPU)/2].Round(time.Millisecond), applyCPU[len(applyCPU)-1].Round(time.Millisecond),
		report.String(), med, q1, q3, sorted[0], sorted[len(sorted)-1])
	if med > 1.5 {
		t.Errorf("the median p99 during reloads is %.2f× the p99 before them, want ≤ 1.5×", med)
	}
}

// latencies records each complete response's latency by when it fell due.
type latencies struct {
	mu       sync.Mutex
	all      []dueLatency
	failed   int
	firstErr string
}

type dueLatency struct{ due, took time.Duration }

func (l *latencies) Observe(o *loadgen.Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if o.Failure != loadgen.OK || o.Status != http.StatusOK {
		if l.failed++; l.failed == 1 {
			l.firstErr = fmt.Sprintf("%s, status %d, %v", o.Failure, o.Status, o.Err)
		}
		return
	}
	l.all = append(l.all, dueLatency{o.Due, o.Done - o.Due})
}

// p99 is the 99th percentile latency of the requests due in [from, to).
func (l *latencies) p99(from, to time.Duration) (time.Duration, int) {
	var ts []time.Duration
	for _, d := range l.all {
		if d.due >= from && d.due < to {
			ts = append(ts, d.took)
		}
	}
	if len(ts) == 0 {
		return 0, 0
	}
	slices.Sort(ts)
	return ts[len(ts)*99/100], len(ts)
}

// serveHTTPMembers starts a child process serving n HTTP members on
// loopback addresses 127.88.x.y (250 an address) and returns their
// addresses. The child's file descriptors are its own: 10,000 listeners
// and their connections do not count against this process's limit.
func serveHTTPMembers(t *testing.T, n int) []netip.AddrPort {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHTTPMembers$")
	cmd.Env = append(os.Environ(), "LBD_PROXY_SERVE_N="+strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	var addrs []netip.AddrPort
	sc := bufio.NewScanner(stdout)
	for len(addrs) < n && sc.Scan() {
		if a, err := netip.ParseAddrPort(sc.Text()); err == nil {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) < n {
		cmd.Process.Kill()
		t.Fatalf("the member server gave %d addresses, want %d", len(addrs), n)
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return addrs
}

// TestHelperHTTPMembers is serveHTTPMembers' child; without its
// environment it does nothing.
func TestHelperHTTPMembers(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("LBD_PROXY_SERVE_N"))
	if n == 0 {
		return
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	}), IdleTimeout: 10 * time.Second}
	for i := range n {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.88.%d.%d:0", i/250, i%250+1))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go srv.Serve(ln)
		fmt.Println(ln.Addr().(*net.TCPAddr).AddrPort())
	}
	bufio.NewReader(os.Stdin).ReadString(0) // until the parent closes stdin
	os.Exit(0)
}
