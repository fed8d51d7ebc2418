package health

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"lbd/internal/balancer"
)

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// wired is a monitor driving a real balancer.Pool, as the data plane wires
// them: Report calls SetHealthy.
type wired struct {
	pool    *balancer.Pool
	mon     *Monitor
	reports chan event
	logs    *syncBuffer
}

func wire(t *testing.T, cfg Config, targets ...Target) *wired {
	t.Helper()
	var members []balancer.MemberConfig
	for _, tg := range targets {
		members = append(members, balancer.MemberConfig{ID: tg.ID, Addr: tg.Addr, Weight: tg.Weight, Enabled: tg.Enabled})
	}
	w := &wired{pool: balancer.NewPool(balancer.RoundRobin, members), reports: make(chan event, 16), logs: &syncBuffer{}}
	w.mon = NewMonitor(Options{
		PoolID: "pool-e2e",
		Log:    slog.New(slog.NewJSONHandler(w.logs, nil)),
		Report: func(id string, up bool, reason string) {
			w.pool.SetHealthy(id, up)
			w.reports <- event{id: id, up: up, reason: reason, at: time.Now()}
		},
	})
	if err := w.mon.Update(cfg, targets); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.mon.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func (w *wired) await(t *testing.T, within time.Duration) event {
	t.Helper()
	select {
	case ev := <-w.reports:
		return ev
	case <-time.After(within):
		t.Fatalf("no report within %s", within)
		return event{}
	}
}

// ready returns the IDs the balancer would pick from.
func (w *wired) ready() []string {
	var ids []string
	for _, m := range w.pool.Ready() {
		ids = append(ids, m.ID)
	}
	return ids
}

func TestMonitorTCPEndToEnd(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve := func(ln net.Listener) {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}
	go serve(ln)
	addr := netip.MustParseAddrPort(ln.Addr().String())
	other := rawServer(t, func(net.Conn) {})

	const delay, timeout = 100 * time.Millisecond, 100 * time.Millisecond
	cfg := Config{Type: TypeTCP, Delay: delay, Timeout: timeout, Rise: 2, Fall: 3}
	w := wire(t, cfg, Target{ID: "a", Name: "web-a", Addr: addr, Enabled: true, Weight: 1}, Target{ID: "b", Addr: other, Enabled: true, Weight: 1})

	// Let both members pass a probe (confirmed), then stop member a.
	deadline := time.Now().Add(5 * time.Second)
	for {
		a, _ := w.mon.Member("a")
		b, _ := w.mon.Member("b")
		if a.ChecksPassed > 0 && b.ChecksPassed > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("members never checked")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopped := time.Now()
	ln.Close()
	ev := w.await(t, 5*time.Second)
	took := time.Since(stopped)
	if ev.id != "a" || ev.up || ev.reason != "connect refused" {
		t.Fatalf("report %+v, want a down: connect refused", ev)
	}
	// Out within about delay × max_retries_down + timeout.
	if limit := 3*delay + timeout + 400*time.Millisecond; took > limit {
		t.Errorf("member out %s after it stopped, want within %s", took, limit)
	}
	if got := w.ready(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("balancer ready set %v, want [b]", got)
	}

	// Start it again on the same port: back after max_retries passes.
	ln2, err := net.Listen("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	go serve(ln2)
	restarted := time.Now()
	ev = w.await(t, 5*time.Second)
	if ev.id != "a" || !ev.up || ev.reason != "2 consecutive checks passed" {
		t.Fatalf("report %+v, want a up", ev)
	}
	if took := time.Since(restarted); took > 3*delay+400*time.Millisecond {
		t.Errorf("member back %s after it restarted, want within about 2 × delay", took)
	}
	if got := w.ready(); len(got) != 2 {
		t.Fatalf("balancer ready set %v, want both", got)
	}
	// One Info line per transition, with the fields the brief names.
	logs := w.logs.String()
	if n := strings.Count(logs, `"msg":"member is down"`); n != 1 {
		t.Errorf("%d down lines in\n%s", n, logs)
	}
	for _, want := range []string{
		`"level":"INFO","msg":"member is down","pool_id":"pool-e2e","member_id":"a","member":"web-a","addr":"` + addr.String() + `","from":"ONLINE","to":"ERROR","reason":"connect refused"`,
		`"msg":"member is up","pool_id":"pool-e2e","member_id":"a","member":"web-a","addr":"` + addr.String() + `","from":"ERROR","to":"ONLINE","reason":"2 consecutive checks passed"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s\n%s", want, logs)
		}
	}
}

func TestMonitorHTTPEndToEnd(t *testing.T) {
	var status atomic.Int32
	status.Store(200)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" || r.Host != "svc.example.org" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		hits.Add(1)
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	// What the data plane makes of {type: HTTP, delay: 1, timeout: 1,
	// max_retries: 1, max_retries_down: 1, url_path: /healthz,
	// expected_codes: 200-204, http_version: 1.1, domain_name:
	// svc.example.org}, with a delay shorter than Octavia's unit (seconds).
	cfg := Config{
		Type: TypeHTTP, Delay: 50 * time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 1,
		HTTPMethod: "GET", URLPath: "/healthz", ExpectedCodes: codes(200, 204), HTTPVersion: "1.1", DomainName: "svc.example.org",
	}
	w := wire(t, cfg, Target{ID: "web", Addr: netip.MustParseAddrPort(srv.Listener.Addr().String()), Enabled: true, Weight: 1})
	for deadline := time.Now().Add(5 * time.Second); hits.Load() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the health endpoint was never probed with the right path and Host")
		}
	}
	status.Store(503)
	if ev := w.await(t, 5*time.Second); ev.up || ev.reason != "status 503 not in 200-204" {
		t.Fatalf("report %+v, want down: status 503 not in 200-204", ev)
	}
	if len(w.ready()) != 0 {
		t.Fatal("down member still ready")
	}
	status.Store(204)
	if ev := w.await(t, 5*time.Second); !ev.up {
		t.Fatalf("report %+v, want up", ev)
	}
}
