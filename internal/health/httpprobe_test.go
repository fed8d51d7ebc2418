//go:build linux

package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// runProber runs mon until the test ends and returns its prober, whose
// fields may be read once the returned stop has been called; setup, if
// any, is applied to the prober before it starts.
func runProber(t *testing.T, mon *Monitor, setup ...func(*prober)) (*prober, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	pc := make(chan *prober, 1)
	go func() {
		defer close(done)
		mon.run(ctx, func(p *prober) {
			for _, f := range setup {
				f(p)
			}
			pc <- p
		})
	}()
	p := <-pc
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return p, stop
}

// awaitChecked waits until id's first probe has completed.
func awaitChecked(t *testing.T, mon *Monitor, id string, within time.Duration) MemberState {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if s, _ := mon.Member(id); s.Checked {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not checked within %s", id, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestProberHTTPRiseFallExactCounts runs the prober's inline HTTP checks
// against real loopback HTTP members: half of them start answering 503
// and must go down on exactly their max_retries_down-th failed probe, with
// the status as the reason, then answer 200 again and must come back on
// exactly their max_retries-th passing probe, while the other half never
// move; and no probe ran in a goroutine of its own, and responses were read
// at the prober's tick (httpprobe.go).
func TestProberHTTPRiseFallExactCounts(t *testing.T) {
	const n, rise, fall = 20, 3, 2
	status := make([]atomic.Int32, n)
	var targets []Target
	for i := range n {
		status[i].Store(200)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/healthz" || r.Proto != "HTTP/1.1" || r.Host != "app.example.org" {
				w.WriteHeader(400)
				return
			}
			w.WriteHeader(int(status[i].Load()))
			w.Write([]byte("member body\n"))
		}))
		t.Cleanup(srv.Close)
		targets = append(targets, Target{ID: target(i).ID, Addr: addrOf(t, srv), Enabled: true, Weight: 1})
	}
	reports := make(chan transition, 4*n)
	members := map[string]*member{}
	mon := NewMonitor(Options{PoolID: "http", Report: func(id string, up bool, reason string) {
		m := members[id]
		reports <- transition{id: id, up: up, reason: reason, passed: m.passed.Load(), failed: m.failed.Load()}
	}})
	cfg := Config{Type: TypeHTTP, Delay: 20 * time.Millisecond, Timeout: time.Second, Rise: rise, Fall: fall,
		HTTPMethod: "GET", URLPath: "/healthz", HTTPVersion: "1.1", DomainName: "app.example.org", ExpectedCodes: codes(200, 200)}
	if err := mon.Update(cfg, targets); err != nil {
		t.Fatal(err)
	}
	for id, m := range mon.members {
		members[id] = m
	}
	p, stop := runProber(t, mon)

	deadline := time.Now().Add(10 * time.Second)
	for _, tg := range targets {
		for {
			if s, _ := mon.Member(tg.ID); s.ChecksPassed > 0 {
				break
			}
			if time.Now().After(deadline) {
				s, _ := mon.Member(tg.ID)
				t.Fatalf("%s never passed: %+v", tg.ID, s)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	failing := map[string]bool{}
	for i := 0; i < n; i += 2 {
		status[i].Store(503)
		failing[targets[i].ID] = true
	}
	passedAtDown := map[string]uint64{}
	for _, tr := range awaitTransitions(t, reports, n/2, 10*time.Second) {
		if !failing[tr.id] || tr.up || tr.reason != "status 503 not in 200" {
			t.Fatalf("report %+v, want a failing member down: status 503 not in 200", tr)
		}
		if tr.failed != fall {
			t.Errorf("%s down after %d failed probes, want exactly %d", tr.id, tr.failed, fall)
		}
		passedAtDown[tr.id] = tr.passed
	}
	for i := 0; i < n; i += 2 {
		status[i].Store(200)
	}
	for _, tr := range awaitTransitions(t, reports, n/2, 10*time.Second) {
		if !failing[tr.id] || !tr.up || tr.reason != "3 consecutive checks passed" {
			t.Fatalf("report %+v, want a recovered member up", tr)
		}
		if got := tr.passed - passedAtDown[tr.id]; got != rise {
			t.Errorf("%s up after %d passing probes, want exactly %d", tr.id, got, rise)
		}
	}
	for i := 1; i < n; i += 2 {
		if s, _ := mon.Member(targets[i].ID); s.ChecksFailed != 0 || !s.Up {
			t.Errorf("%s, always 200: %d failed probes (last: %s), status %s", targets[i].ID, s.ChecksFailed, s.LastError, s.Status)
		}
	}
	stop()
	if p.asyncStarts != 0 {
		t.Errorf("%d HTTP probes ran in a goroutine of their own, want all inline", p.asyncStarts)
	}
	if p.conns == nil {
		t.Error("the prober never opened its epoll set")
	}
	// Loopback members answer within the prober's tick (a millisecond) most
	// of the time; one check in all of these is enough to show the path.
	if p.tickReads == 0 {
		t.Error("no response was read at the prober's tick: every one went through the epoll set")
	}
}

// TestProberHTTPAsChecker: for each kind of member (passing, other status,
// silent, hanging up, not HTTP, refused, a large body) and each request
// shape, the prober's inline check reaches the same verdict, with the same
// reason, as HTTPChecker.Check of the same config, and sends the member the
// same request.
func TestProberHTTPAsChecker(t *testing.T) {
	srv, seenBy := statusServer(t, false)
	addr := addrOf(t, srv)
	silent := rawServer(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	hangup := rawServer(t, func(c net.Conn) { c.Read(make([]byte, 1024)) })
	garbage := rawServer(t, func(c net.Conn) {
		c.Read(make([]byte, 1024))
		c.Write([]byte("SSH-2.0-OpenSSH_9.6\r\n"))
	})
	slowHead := rawServer(t, func(c net.Conn) { // the head in pieces, LF line ends
		c.Read(make([]byte, 1024))
		for _, part := range []string{"HTTP/1.1 20", "4 No Content\nX-A: 1\n", "\n"} {
			c.Write([]byte(part))
			time.Sleep(20 * time.Millisecond) // let each piece go out alone
		}
	})
	bigBody := rawServer(t, func(c net.Conn) {
		c.Read(make([]byte, 1024))
		c.Write([]byte("HTTP/1.0 200 OK\r\nContent-Length: 104857600\r\n\r\n"))
		chunk := make([]byte, 64<<10)
		for range 1600 {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	})
	v6 := netip.AddrPort{} // the same handler on [::1], when there is IPv6 loopback
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		s6 := &httptest.Server{Listener: ln, Config: &http.Server{Handler: srv.Config.Handler}}
		s6.Start()
		t.Cleanup(s6.Close)
		v6 = addrOf(t, s6)
	}
	base := Config{Type: TypeHTTP, Delay: 300 * time.Millisecond, Timeout: 200 * time.Millisecond, ConnectTimeout: time.Second, Rise: 1, Fall: 1}
	with := func(f func(*Config)) Config { c := base; f(&c); return c }
	tests := []struct {
		name    string
		target  netip.AddrPort
		cfg     Config
		request bool // compare what statusServer saw
		wantErr string
	}{
		{"passes", addr, base, true, ""},
		{"other status", addr, with(func(c *Config) { c.URLPath = "/status/503" }), true, "status 503 not in 200"},
		{"expected range", addr, with(func(c *Config) { c.URLPath = "/status/204"; c.ExpectedCodes = codes(200, 204) }), true, ""},
		{"HEAD with a query", addr, with(func(c *Config) { c.HTTPMethod = "HEAD"; c.URLPath = "/h?deep=1" }), true, ""},
		{"HTTP/1.1 with domain_name", addr, with(func(c *Config) { c.HTTPVersion = "1.1"; c.DomainName = "app.example.org" }), true, ""},
		{"HTTP/1.1 without domain_name", addr, with(func(c *Config) { c.HTTPVersion = "1.1"; c.HTTPMethod = "POST" }), true, ""},
		{"IPv6, HTTP/1.1 without domain_name", v6, with(func(c *Config) { c.HTTPVersion = "1.1"; c.URLPath = "/status/202"; c.ExpectedCodes = codes(202, 202) }), true, ""},
		{"no response within the timeout", silent, base, false, "response timeout"},
		{"closed without a response", hangup, base, false, "connection closed before a response"},
		{"not HTTP", garbage, base, false, "malformed response: malformed HTTP response \"SSH-2.0-OpenSSH_9.6\""},
		{"head in pieces", slowHead, with(func(c *Config) { c.ExpectedCodes = codes(204, 204) }), false, ""},
		{"refused", closedPort(t), base, false, "connect refused"},
		{"large body is not read in full", bigBody, base, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.target.IsValid() {
				t.Skip("no IPv6 loopback")
			}
			chk, err := tt.cfg.newChecker()
			if err != nil {
				t.Fatal(err)
			}
			_, budget := tt.cfg.timeouts()
			ctx, cancel := context.WithTimeout(t.Context(), budget)
			defer cancel()
			want := chk.Check(ctx, tt.target)
			if want == nil && tt.wantErr != "" || want != nil && want.Error() != tt.wantErr {
				t.Fatalf("HTTPChecker.Check = %v, want %q", want, tt.wantErr)
			}
			request := func() [6]string { // what statusServer saw last, and forget it
				seenBy.mu.Lock()
				defer seenBy.mu.Unlock()
				r := [6]string{seenBy.method, seenBy.uri, seenBy.proto, seenBy.host, seenBy.connection, seenBy.ua}
				seenBy.method, seenBy.uri, seenBy.proto, seenBy.host, seenBy.connection, seenBy.ua = "", "", "", "", "", ""
				return r
			}
			byChecker := request()

			mon := NewMonitor(Options{PoolID: "http"})
			if err := mon.Update(tt.cfg, []Target{{ID: "m", Addr: tt.target, Enabled: true, Weight: 1}}); err != nil {
				t.Fatal(err)
			}
			p, stop := runProber(t, mon)
			s := awaitChecked(t, mon, "m", 5*time.Second)
			stop()
			if s.LastError != tt.wantErr {
				t.Errorf("the prober's check: %q, want %q as HTTPChecker.Check", s.LastError, tt.wantErr)
			}
			if p.asyncStarts != 0 {
				t.Errorf("%d probes in a goroutine of their own, want the check inline", p.asyncStarts)
			}
			if byProber := request(); tt.request && byProber != byChecker {
				t.Errorf("the member saw %q from the prober, %q from HTTPChecker.Check (method, target, version, Host, Connection, User-Agent)", byProber, byChecker)
			}
		})
	}
}

// TestProberHTTPCutShort: an inline HTTP check awaiting a member that never
// answers is cut short, its connection closed at once, when the member is
// removed, and again when the monitor stops; neither waits for the check's
// 10s timeout.
func TestProberHTTPCutShort(t *testing.T) {
	asked, closed := make(chan struct{}, 4), make(chan struct{}, 4)
	silent := rawServer(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		if n, err := c.Read(buf); err != nil || n == 0 {
			return
		}
		asked <- struct{}{}
		for {
			if _, err := c.Read(buf); err != nil {
				closed <- struct{}{}
				return
			}
		}
	})
	await := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(3 * time.Second):
			t.Fatalf("%s within 3s", what)
		}
	}
	mon := NewMonitor(Options{PoolID: "http"})
	cfg := Config{Type: TypeHTTP, Delay: 50 * time.Millisecond, Timeout: 10 * time.Second, Rise: 1, Fall: 1}
	members := []Target{{ID: "m", Addr: silent, Enabled: true, Weight: 1}}
	if err := mon.Update(cfg, members); err != nil {
		t.Fatal(err)
	}
	p, stop := runProber(t, mon)
	await(asked, "no request")
	if err := mon.Update(cfg, nil); err != nil {
		t.Fatal(err)
	}
	await(closed, "the removed member's check not closed")

	if err := mon.Update(cfg, members); err != nil {
		t.Fatal(err)
	}
	await(asked, "no request after the member came back")
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	await(closed, "the check not closed when the monitor stopped")
	await(stopped, "Run not returned")
	if s, _ := mon.Member("m"); s.ChecksFailed != 0 || s.ChecksPassed != 0 {
		t.Errorf("cut-short checks were counted: %+v", s)
	}
	if p.asyncStarts != 0 {
		t.Errorf("%d probes in a goroutine of their own", p.asyncStarts)
	}
}
