package health

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCheckerCPU measures what checking n members (1,000 unless
// LBD_HEALTH_CPU_MEMBERS says) at delay 1s costs, as a share of one core:
// the members are loopback listeners in a child process, on addresses
// 127.77.x.y, so the figure is the checker side alone (user + system time of
// this process, which includes the kernel's loopback work done in its
// syscalls). It takes about 30s, so it runs only when asked:
//
//	LBD_HEALTH_CPU=1 LBD_HEALTH_CPU_MEMBERS=10000 go test -run TestCheckerCPU -v ./internal/health/
//
// LBD_HEALTH_CPU_TYPES=TCP measures one type only; PING (not measured by
// default: it needs root, CAP_NET_RAW or ping_group_range) pings the same
// loopback addresses. The HTTP members are net/http servers, or with
// LBD_HEALTH_SERVE_HTTP=raw one epoll loop with a canned response
// (rawHTTPMembers), light enough for 10,000 members a second on two cores.
// A CPU profile of the whole run: -test.cpuprofile (go test -cpuprofile);
// of the measured window only (no member setup, no staggered start):
// LBD_HEALTH_CPU_PROFILE=file.
func TestCheckerCPU(t *testing.T) {
	if os.Getenv("LBD_HEALTH_CPU") == "" {
		t.Skip("set LBD_HEALTH_CPU=1 to measure (about 30s)")
	}
	n, window := 1000, 10*time.Second
	if s := os.Getenv("LBD_HEALTH_CPU_MEMBERS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			t.Fatalf("LBD_HEALTH_CPU_MEMBERS=%q: want a number of members", s)
		}
	}
	only := os.Getenv("LBD_HEALTH_CPU_TYPES")
	for _, typ := range []Type{TypeTCP, TypeHTTP, TypePing} {
		if only == "" && typ == TypePing || only != "" && !strings.Contains(only, typ.String()) {
			continue
		}
		t.Run(typ.String(), func(t *testing.T) {
			serve := typ
			if typ == TypePing {
				serve = TypeTCP // addresses to ping
			}
			addrs, stop := serveMembers(t, serve, n)
			var targets []Target
			for i, a := range addrs {
				targets = append(targets, Target{ID: strconv.Itoa(i), Addr: a, Enabled: true, Weight: 1})
			}
			cfg := Config{Type: typ, Delay: time.Second, Timeout: time.Second, Rise: 1, Fall: 1,
				HTTPMethod: "GET", URLPath: "/", ExpectedCodes: codes(200, 200), HTTPVersion: "1.0"}
			var (
				mu     sync.Mutex
				downs  int
				reason string // the first transition's
			)
			mon := NewMonitor(Options{PoolID: "cpu", Report: func(_ string, _ bool, why string) {
				mu.Lock()
				defer mu.Unlock()
				if downs++; downs == 1 {
					reason = why
				}
			}})
			if err := mon.Update(cfg, targets); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); mon.Run(ctx) }()
			time.Sleep(2 * time.Second) // every member past its staggered start

			passed0, failed0 := counts(mon, typ)
			stopProfile := profileWindow(t, typ)
			r0, t0 := rusage(t), time.Now()
			time.Sleep(window)
			r1, el := rusage(t), time.Since(t0)
			stopProfile()
			passed1, failed1 := counts(mon, typ)
			cancel()
			<-done
			server := stop()

			user := tv(r1.Utime) - tv(r0.Utime)
			sys := tv(r1.Stime) - tv(r0.Stime)
			probes := passed1 - passed0
			t.Logf("%s: %d members at delay 1s: %d probes passed, %d failed in %s; checker CPU %.1f%% of one core (user %s, sys %s); member servers used %s",
				typ, n, probes, failed1-failed0, el.Round(time.Millisecond),
				100*float64(user+sys)/float64(el), user.Round(time.Millisecond), sys.Round(time.Millisecond), server.Round(time.Millisecond))
			mu.Lock()
			defer mu.Unlock()
			if failed1 != failed0 || downs != 0 {
				t.Errorf("%d probes failed, %d transitions (the first: %s): the measurement is not of healthy members", failed1-failed0, downs, reason)
			}
			if want := float64(n) * el.Seconds(); float64(probes) < 0.98*want || float64(probes) > 1.02*want {
				t.Errorf("%d probes in %s, want about %.0f", probes, el, want)
			}
		})
	}
}

// profileWindow starts a CPU profile into $LBD_HEALTH_CPU_PROFILE (with
// the type's name appended when more than one is measured) and returns
// what stops it; without the variable it does nothing.
func profileWindow(t *testing.T, typ Type) func() {
	path := os.Getenv("LBD_HEALTH_CPU_PROFILE")
	if path == "" {
		return func() {}
	}
	if !strings.EqualFold(os.Getenv("LBD_HEALTH_CPU_TYPES"), typ.String()) {
		path += "." + typ.String()
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}
}

func counts(m *Monitor, typ Type) (passed, failed uint64) {
	for _, c := range m.ProbeCounts() {
		if c.Type == typ {
			return c.Passed, c.Failed
		}
	}
	return 0, 0
}

func rusage(t testing.TB) syscall.Rusage {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func tv(v syscall.Timeval) time.Duration { return time.Duration(v.Nano()) }

// serveMembers starts a child process serving n loopback members of the
// given type and returns their addresses, and a stop function that returns
// the child's CPU time.
func serveMembers(t testing.TB, typ Type, n int) ([]netip.AddrPort, func() time.Duration) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServeMembers$")
	cmd.Env = append(os.Environ(), "LBD_HEALTH_SERVE="+typ.String(), "LBD_HEALTH_SERVE_N="+strconv.Itoa(n))
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
	var addrs []netip.AddrPort
	sc := bufio.NewScanner(stdout)
	for len(addrs) < n && sc.Scan() {
		a, err := netip.ParseAddrPort(sc.Text())
		if err != nil {
			continue // test framework chatter
		}
		addrs = append(addrs, a)
	}
	if len(addrs) < n {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("member server gave %d addresses, want %d", len(addrs), n)
	}
	stopped := false
	stop := func() time.Duration {
		if stopped {
			return 0
		}
		stopped = true
		stdin.Close()
		go func() {
			for sc.Scan() {
			}
		}()
		if err := cmd.Wait(); err != nil {
			t.Errorf("member server: %v", err)
		}
		return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	t.Cleanup(func() { stop() })
	return addrs, stop
}

// TestHelperServeMembers is the child of serveMembers; without its
// environment it does nothing.
func TestHelperServeMembers(t *testing.T) {
	typ := os.Getenv("LBD_HEALTH_SERVE")
	if typ == "" {
		return
	}
	n, _ := strconv.Atoi(os.Getenv("LBD_HEALTH_SERVE_N"))
	if typ == TypeHTTP.String() && os.Getenv("LBD_HEALTH_SERVE_HTTP") == "raw" {
		addrs, loop, err := rawHTTPMembers(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			fmt.Println(a)
		}
		go loop()
		bufio.NewReader(os.Stdin).ReadString(0)
		os.Exit(0)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})}
	// Plain TCP listeners, as nginx's and Apache's are: Go's listen in
	// MPTCP by default, which puts MPTCP's handling of a connection request
	// into every check's SYN, done in the checker's system calls on
	// loopback (subflow_check_req, 3 % of the checker's samples by SYN).
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	for i := range n {
		// 250 members an address, so that no address runs short of ports.
		ln, err := lc.Listen(t.Context(), "tcp", fmt.Sprintf("127.77.%d.%d:0", i/250, i%250+1))
		if err != nil {
			t.Fatal(err)
		}
		if typ == TypeHTTP.String() {
			go srv.Serve(ln)
		} else {
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
		}
		fmt.Println(ln.Addr().(*net.TCPAddr).AddrPort())
	}
	// Serve until the parent closes stdin.
	bufio.NewReader(os.Stdin).ReadString(0)
	os.Exit(0)
}

// BenchmarkTCPCheckSyscalls is the floor of a TCP check on this machine:
// the prober's inline check (connect, connect, connect(AF_UNSPEC) on one
// reused socket) in a loop over 1,000 loopback members served by a child
// process, with no schedule, goroutine or bookkeeping around it. sys-ns/op
// is the kernel's share, which on loopback includes the member side of the
// handshake and of the reset. fresh-socket does the same with a socket of
// its own per check (socket and close added), as TCPChecker.Check does.
//
//	go test -run '^$' -bench TCPCheckSyscalls -benchtime 20000x ./internal/health/
func BenchmarkTCPCheckSyscalls(b *testing.B) {
	addrs, _ := serveMembers(b, TypeTCP, 1000)
	for _, fresh := range []bool{false, true} {
		name := "reused-socket"
		if fresh {
			name = "fresh-socket"
		}
		b.Run(name, func(b *testing.B) {
			var socks tcpSockets
			defer socks.close()
			r0 := rusage(b)
			i := 0
			for b.Loop() {
				if _, err := socks.connect(addrs[i%len(addrs)]); err != nil {
					b.Fatal(err)
				}
				if fresh {
					socks.close()
				}
				i++
			}
			r1 := rusage(b)
			b.ReportMetric(float64(tv(r1.Stime)-tv(r0.Stime))/float64(b.N), "sys-ns/op")
			b.ReportMetric(float64(tv(r1.Utime)-tv(r0.Utime))/float64(b.N), "user-ns/op")
		})
	}
}
