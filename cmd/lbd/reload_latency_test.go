package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"lbd/internal/lbdtest/poolyaml"
	"lbd/internal/loadgen"
)

// TestReloadLatencyProcess measures what a reload of a 10,000-member pool
// costs the data path of a real lbd process (issue 22, item 4: p99 during
// the change within 1.5× of p99 before). lbd runs as its own process, by
// default pinned to one CPU with GOMAXPROCS=1 as scripts/bench-paired.sh
// runs it (LBD_RELOAD_PIN=none: not pinned); this test, which sends an
// open-loop load (loadgen.Open, latency counted from when each request
// fell due), and its members (10,000 HTTP listeners on 127.88.x.y in a
// child process) stay off that CPU. Each pair of windows is a quiet window
// and, after it, a window that starts with a reload: the file rewritten
// beforehand with a member added or removed, then SIGHUP; both windows
// last 2 s, several times a reload. The ratio of the reload
// window's p99 to the quiet one's is logged for every pair, with the
// median and inter-quartile range; the test fails when a request failed
// or the median ratio of the first binary is above 1.5.
//
// LBD_RELOAD_BINS lists lbd binaries (comma-separated; default: this
// tree's build): they run side by side, each on its own port and config,
// and take the pairs in turn, in an order that alternates, so that two
// builds are compared in one run. LBD_RELOAD_PAIRS (default 8) sets the
// pairs per binary, LBD_RELOAD_RATE (default 1000) the requests per
// second. LBD_RELOAD_VIA=api makes each change an API call instead (a
// member created, then deleted). To look into it: LBD_RELOAD_QUANTILES
// logs each window's p50, p90, p99 and maximum; LBD_RELOAD_FLOOR first
// sends the load straight to a member (the harness's own latency);
// LBD_RELOAD_TRACE=PREFIX (LBD_RELOAD_TRACE_QUIET=PREFIX) saves an
// execution trace of the first change (quiet) window of each binary;
// LBD_RELOAD_LOGS logs lbd's log (GODEBUG=gctrace=1 reaches lbd too).
// It takes about 10 s a pair and binary, so it runs only when asked:
//
//	LBD_RELOAD_PROC=1 taskset -c 0 go test -run TestReloadLatencyProcess -v ./cmd/lbd/
func TestReloadLatencyProcess(t *testing.T) {
	if os.Getenv("LBD_RELOAD_PROC") == "" {
		t.Skip("set LBD_RELOAD_PROC=1 to measure (about 10 s a pair)")
	}
	const (
		n      = 10000
		quiet  = 2 * time.Second
		busy   = 2 * time.Second
		gap    = 250 * time.Millisecond // left out of both windows
		warmup = 500 * time.Millisecond
	)
	pairs := envInt(t, "LBD_RELOAD_PAIRS", 8)
	rate := envInt(t, "LBD_RELOAD_RATE", 1000)
	bins := []string{}
	if s := os.Getenv("LBD_RELOAD_BINS"); s != "" {
		bins = strings.Split(s, ",")
	} else {
		bins = append(bins, binary(t))
	}
	// LBD_RELOAD_VIA=api: the change is an API call instead, a member
	// created or deleted (the answer marks its end).
	viaAPI := os.Getenv("LBD_RELOAD_VIA") == "api"
	pin := os.Getenv("LBD_RELOAD_PIN")
	if pin == "" {
		pin = "1"
	}

	members := serveManyHTTPMembers(t, n+1)
	dir := t.TempDir()
	type lbdUnderTest struct {
		bin, cfg string
		admin    string
		api      string // base URL
		poolID   string
		memberID string // the member an API change added, "" when none
		port     int
		cmd      *exec.Cmd
		logs     *syncBuffer
		events   chan string // the message of each reload's outcome line
		ratios   []float64
		quietP99 []time.Duration
		busyP99  []time.Duration
		took     []time.Duration // SIGHUP to "reloaded"
		cpu      []time.Duration // lbd's CPU over the reload
		reloads  int
	}
	render := func(port, k int) string {
		return string(poolyaml.Pool{Port: port, Members: k, Member: func(i int) string {
			return poolyaml.At(i, members[i].Addr().String(), int(members[i].Port()))
		}}.YAML())
	}
	var lbds []*lbdUnderTest
	for i, bin := range bins {
		l := &lbdUnderTest{bin: bin, port: freePort(t), logs: &syncBuffer{}, events: make(chan string, 16)}
		l.cfg = filepath.Join(dir, fmt.Sprintf("lbd%d.yaml", i))
		writeAtomic(t, l.cfg, render(l.port, n))
		l.admin = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		l.api = fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
		args := isolated(t, "--config", l.cfg, "--log-level", "info", "--admin-addr", l.admin, "--api-addr", strings.TrimPrefix(l.api, "http://"))
		env := os.Environ()
		name, argv := bin, args
		if pin != "none" {
			name, argv = "taskset", append([]string{"-c", pin, bin}, args...)
			env = append(env, "GOMAXPROCS=1")
		}
		l.cmd = exec.Command(name, argv...)
		l.cmd.Env = env
		stderr, err := l.cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := l.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.cmd.Process.Kill(); l.cmd.Wait() })
		go watchReloads(stderr, l.logs, l.events)
		lbds = append(lbds, l)
	}
	ctx := t.Context()
	for _, l := range lbds {
		waitServes200(t, ctx, fmt.Sprintf("127.0.0.1:%d", l.port), l.logs)
		if viaAPI {
			for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				if resp, err := http.Get(l.api + "/"); err == nil {
					resp.Body.Close()
					break
				} else if time.Now().After(deadline) {
					t.Fatalf("%s: the API never answered: %v", l.bin, err)
				}
			}
			code, m := call(t, l.api, "", "GET", "/v2/lbaas/pools?name=big", nil)
			pools, _ := m["pools"].([]any)
			if code != http.StatusOK || len(pools) != 1 {
				t.Fatalf("%s: GET pools: %d %v", l.bin, code, m)
			}
			l.poolID, _ = pools[0].(map[string]any)["id"].(string)
		}
	}

	if os.Getenv("LBD_RELOAD_FLOOR") != "" {
		// the harness alone: the same load straight to a member, no lbd
		for range 3 {
			rec := &dueLatencies{}
			load := loadgen.Open{Target: loadgen.Target{Addr: members[0].String(), Clients: 8, Timeout: 5 * time.Second},
				Rate: float64(rate), ConnsPerClient: 4}
			load.Run(ctx, time.Now(), quiet, rec)
			t.Logf("straight to a member: %v", rec.quantiles(0, quiet))
		}
	}
	for k := range pairs {
		for j := range lbds {
			l := lbds[(k+j)%len(lbds)] // the order alternates from pair to pair
			if !viaAPI {
				next := n + 1 - l.reloads%2
				writeAtomic(t, l.cfg, render(l.port, next)) // before the load starts: the writing is not lbd's
			}
			rec := &dueLatencies{}
			load := loadgen.Open{Target: loadgen.Target{Addr: fmt.Sprintf("127.0.0.1:%d", l.port), Clients: 8, Timeout: 5 * time.Second},
				Rate: float64(rate), ConnsPerClient: 4}
			start := time.Now()
			total := warmup + quiet + gap + busy
			done := make(chan struct{})
			go func() { defer close(done); load.Run(ctx, start, total, rec) }()
			q0, b0 := warmup, warmup+quiet+gap
			quietTraced := make(chan struct{})
			if prefix := os.Getenv("LBD_RELOAD_TRACE_QUIET"); prefix != "" && k < len(lbds) {
				time.Sleep(time.Until(start.Add(q0)))
				go func() {
					defer close(quietTraced)
					saveTrace(l.admin, fmt.Sprintf("%s-%d.trace", prefix, (k+j)%len(lbds)), quiet)
				}()
			} else {
				close(quietTraced)
			}
			time.Sleep(time.Until(start.Add(b0))) // the schedule, not an event: the quiet window passes
			<-quietTraced
			traced := make(chan struct{})
			if prefix := os.Getenv("LBD_RELOAD_TRACE"); prefix != "" && k < len(lbds) {
				// an execution trace of the reload window, for go tool trace
				go func() {
					defer close(traced)
					saveTrace(l.admin, fmt.Sprintf("%s-%d.trace", prefix, (k+j)%len(lbds)), busy)
				}()
			} else {
				close(traced)
			}
			c0 := procCPU(t, l.cmd.Process.Pid)
			sent := time.Now()
			if viaAPI {
				changeMember(t, l.api, l.poolID, &l.memberID, members[n]) // its answer is the change's end
			} else {
				if err := l.cmd.Process.Signal(syscall.SIGHUP); err != nil {
					t.Fatal(err)
				}
				select {
				case msg := <-l.events:
					if msg != "reloaded" {
						t.Fatalf("%s: %s\nlogs:\n%s", l.bin, msg, l.logs.String())
					}
				case <-time.After(time.Minute):
					t.Fatalf("%s: no reload within a minute\nlogs:\n%s", l.bin, l.logs.String())
				}
			}
			l.took = append(l.took, time.Since(sent))
			l.cpu = append(l.cpu, procCPU(t, l.cmd.Process.Pid)-c0)
			l.reloads++
			<-done
			<-traced
			if rec.failed > 0 {
				t.Errorf("%s: %d of %d requests failed (first: %s)", l.bin, rec.failed, rec.failed+len(rec.all), rec.firstErr)
			}
			if os.Getenv("LBD_RELOAD_QUANTILES") != "" {
				t.Logf("%s pair %d quiet: %v; reloading: %v", l.bin, k+1, rec.quantiles(q0, q0+quiet), rec.quantiles(b0, b0+busy))
			}
			pq, _ := rec.p99(q0, q0+quiet)
			pb, _ := rec.p99(b0, b0+busy)
			l.quietP99 = append(l.quietP99, pq)
			l.busyP99 = append(l.busyP99, pb)
			l.ratios = append(l.ratios, float64(pb)/float64(pq))
		}
	}

	var report strings.Builder
	for i, l := range lbds {
		fmt.Fprintf(&report, "\n%s (%d pairs, %d requests/s, pinned to CPU %s):", l.bin, pairs, rate, pin)
		for k := range l.ratios {
			fmt.Fprintf(&report, "\n  pair %d: quiet p99 %v, reloading p99 %v: %.2f× (reload %v wall, %v CPU)", k+1,
				l.quietP99[k].Round(time.Microsecond), l.busyP99[k].Round(time.Microsecond), l.ratios[k],
				l.took[k].Round(time.Millisecond), l.cpu[k].Round(time.Millisecond))
		}
		med, q1, q3 := medianIQR(l.ratios)
		fmt.Fprintf(&report, "\n  p99 reloading ÷ quiet: median %.2f [IQR %.2f–%.2f]; quiet p99 median %v, reloading p99 median %v; reload wall median %v, CPU median %v",
			med, q1, q3, medianDur(l.quietP99), medianDur(l.busyP99), medianDur(l.took), medianDur(l.cpu))
		if i > 0 {
			var rel []float64
			for k := range l.busyP99 {
				rel = append(rel, float64(lbds[0].busyP99[k])/float64(l.busyP99[k]))
			}
			m, a, b := medianIQR(rel)
			fmt.Fprintf(&report, "\n  %s's reloading p99 ÷ this one's, pair by pair: median %.2f [IQR %.2f–%.2f]", lbds[0].bin, m, a, b)
		}
	}
	t.Log(report.String())
	if os.Getenv("LBD_RELOAD_LOGS") != "" {
		for _, l := range lbds {
			t.Logf("%s's log:\n%s", l.bin, l.logs.String())
		}
	}
	if med, _, _ := medianIQR(lbds[0].ratios); med > 1.5 {
		t.Errorf("%s: the median p99 during a reload is %.2f× the p99 before it, want ≤ 1.5×", lbds[0].bin, med)
	}
}

// changeMember adds the member at a to the pool through the API, or
// deletes the one it added (*id) the time after.
func changeMember(t *testing.T, api, poolID string, id *string, a netip.AddrPort) {
	t.Helper()
	if *id != "" {
		if code, m := call(t, api, "", "DELETE", "/v2/lbaas/pools/"+poolID+"/members/"+*id, nil); code != http.StatusNoContent {
			t.Fatalf("DELETE member: %d %v", code, m)
		}
		*id = ""
		return
	}
	code, m := call(t, api, "", "POST", "/v2/lbaas/pools/"+poolID+"/members",
		map[string]any{"member": map[string]any{"address": a.Addr().String(), "protocol_port": a.Port()}})
	member, _ := m["member"].(map[string]any)
	if code != http.StatusCreated || member == nil {
		t.Fatalf("POST member: %d %v", code, m)
	}
	*id, _ = member["id"].(string)
}

// saveTrace saves an execution trace of lbd's next d to path.
func saveTrace(admin, path string, d time.Duration) {
	resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/trace?seconds=%d", admin, int(d.Seconds())))
	if err != nil {
		return
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	io.Copy(f, resp.Body)
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		t.Fatalf("%s=%q: want a positive number", name, s)
	}
	return v
}

// watchReloads copies lbd's log lines to logs and sends the message of
// each reload's outcome ("reloaded", "reload failed...", "reload
// refused...") to events.
func watchReloads(r io.Reader, logs *syncBuffer, events chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		logs.Write(append(line, '\n'))
		var l struct{ Msg string }
		if json.Unmarshal(line, &l) == nil && strings.HasPrefix(l.Msg, "reload") {
			events <- l.Msg
		}
	}
}

// waitServes200 waits until the listener at addr answers a request with 200.
func waitServes200(t *testing.T, ctx context.Context, addr string, logs *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, _, err := loadgen.Ask(ctx, loadgen.Target{Addr: addr, Timeout: 2 * time.Second}, 0)
		if err == nil && status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lbd never served at %s (%d, %v)\nlogs:\n%s", addr, status, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// procCPU is a process's user+system time so far.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // CLK_TCK is 100 on Linux
}

func medianIQR(xs []float64) (med, q1, q3 float64) {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2], s[len(s)/4], s[len(s)*3/4]
}

func medianDur(xs []time.Duration) time.Duration {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2].Round(time.Microsecond)
}

// dueLatencies records each complete response's latency by when it fell due.
type dueLatencies struct {
	mu       sync.Mutex
	all      [][2]time.Duration // due, took
	failed   int
	firstErr string
}

func (l *dueLatencies) Observe(o *loadgen.Outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if o.Failure != loadgen.OK || o.Status != http.StatusOK {
		if l.failed++; l.failed == 1 {
			l.firstErr = fmt.Sprintf("%s, status %d, %v", o.Failure, o.Status, o.Err)
		}
		return
	}
	l.all = append(l.all, [2]time.Duration{o.Due, o.Done - o.Due})
}

// p99 is the 99th percentile latency of the requests due in [from, to).
func (l *dueLatencies) p99(from, to time.Duration) (time.Duration, int) {
	var ts []time.Duration
	for _, d := range l.all {
		if d[0] >= from && d[0] < to {
			ts = append(ts, d[1])
		}
	}
	if len(ts) == 0 {
		return 0, 0
	}
	slices.Sort(ts)
	return ts[len(ts)*99/100], len(ts)
}

// quantiles are the p50, p90, p99 and maximum latency of the requests due in [from, to).
func (l *dueLatencies) quantiles(from, to time.Duration) []time.Duration {
	var ts []time.Duration
	for _, d := range l.all {
		if d[0] >= from && d[0] < to {
			ts = append(ts, d[1].Round(10*time.Microsecond))
		}
	}
	if len(ts) == 0 {
		return nil
	}
	slices.Sort(ts)
	return []time.Duration{ts[len(ts)/2], ts[len(ts)*9/10], ts[len(ts)*99/100], ts[len(ts)-1]}
}

// serveManyHTTPMembers starts a child process serving n HTTP members on
// loopback addresses 127.88.x.y (250 an address) and returns their
// addresses; the child's descriptors are its own.
func serveManyHTTPMembers(t *testing.T, n int) []netip.AddrPort {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperManyHTTPMembers$")
	cmd.Env = append(os.Environ(), "LBD_SERVE_MEMBERS_N="+strconv.Itoa(n))
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
	go io.Copy(io.Discard, stdout)
	return addrs
}

// TestHelperManyHTTPMembers is serveManyHTTPMembers' child; without its
// environment it does nothing.
func TestHelperManyHTTPMembers(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("LBD_SERVE_MEMBERS_N"))
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
