package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"lbd/internal/accesslog"
	"lbd/internal/lbdtest/stub"
)

// fixedServer is a member that allocates nothing and costs almost nothing
// per request, so benchmarks measure the proxy.
func fixedServer(b testing.TB) string {
	return stub.FixedServer(b, []byte("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/plain\r\n\r\nHello World!"))
}

// BenchmarkHTTPKeepAlive sends requests one after another over one client
// connection through a listener with insert_headers, two members and a
// health monitor: the per-request cost of the forwarding path, and its
// allocations (the client and the members here allocate nothing per
// request, so allocs/op is lbd's own: zero).
func BenchmarkHTTPKeepAlive(b *testing.B) {
	for _, logged := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "access_log"}[logged], func(b *testing.B) {
			roundTrip := keepAliveClient(b, "healthmonitor: {type: TCP, delay: 5, timeout: 2, max_retries: 2}", devNullLog(b, logged))
			roundTrip()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				roundTrip()
			}
		})
	}
	// The bench scenarios http_l7 and http_cookie (make bench: scripts/bench-paired.sh).
	for _, name := range []string{"l7_last_of_10", "http_cookie"} {
		b.Run(name, func(b *testing.B) {
			sc := pathScenarios[name]
			sc.Monitor = "healthmonitor: {type: TCP, delay: 5, timeout: 2, max_retries: 2}"
			roundTrip := keepAliveScenario(b, sc, nil)
			roundTrip()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				roundTrip()
			}
		})
	}
}

// devNullLog is an access log of Octavia's format into /dev/null (nil
// unless on), whose writer allocates nothing either.
func devNullLog(tb testing.TB, on bool) *accesslog.Logger {
	if !on {
		return nil
	}
	f, err := accesslog.ParseFormat(accesslog.AmphoraFormat)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := accesslog.OpenSink("file:"+os.DevNull, accesslog.SinkOptions{Format: f})
	if err != nil {
		tb.Fatal(err)
	}
	l, err := accesslog.New([]*accesslog.Sink{s}, 0, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close(context.Background()) })
	return l
}

// TestHTTPPathAllocatesNothing: once warm, forwarding a request and its
// response allocates nothing (the test's own client and members do not
// either, and no monitor runs, so the process-wide count is lbd's).
func TestHTTPPathAllocatesNothing(t *testing.T) {
	for _, logged := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "access_log"}[logged], func(t *testing.T) {
			al := devNullLog(t, logged)
			roundTrip := keepAliveClient(t, "", al)
			for range 100 {
				roundTrip()
			}
			if n := testing.AllocsPerRun(500, roundTrip); n != 0 {
				t.Fatalf("%v allocations per proxied request, want 0", n)
			}
			if logged && al.Stats().Written == 0 {
				t.Fatal("no access log line written")
			}
		})
	}
	// L7 matching, HTTP_COOKIE persistence and a request body (relayed
	// by the event loop) on the path allocate nothing either.
	for _, name := range []string{"l7_last_of_10", "http_cookie", "post"} {
		t.Run(name, func(t *testing.T) {
			if name == "post" {
				needEventLoop(t) // the goroutine path's body copy allocates
			}
			roundTrip := keepAliveScenario(t, pathScenarios[name], nil)
			for range 100 {
				roundTrip()
			}
			if n := testing.AllocsPerRun(500, roundTrip); n != 0 {
				t.Fatalf("%v allocations per proxied request, want 0", n)
			}
		})
	}
}

// keepAliveClient starts two fixed members and a listener in front of them
// and returns a function that sends one request over one kept-alive client
// connection and reads the response.
func keepAliveClient(b testing.TB, monitor string, al *accesslog.Logger) func() {
	return keepAliveScenario(b, pathScenario{Monitor: monitor}, al)
}

// pathScenario is what a listener adds to the plain path: L7 policies
// (ten of three rules, the request matching the last), session
// persistence, and the request that exercises them.
type pathScenario struct {
	Monitor string
	L7      bool
	Persist string // a session_persistence type
	Request string // "": a plain GET
}

// pathScenarios are the variants the benchmark and the allocation test
// run: the plain path, and the bench scenarios http_l7 and http_cookie.
var pathScenarios = map[string]pathScenario{
	"plain": {},
	"l7_last_of_10": {L7: true, Request: "GET /section9/items?id=4 HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: bench\r\n" +
		"X-Tenant: tenant-42\r\nAccept: */*\r\n\r\n"},
	"http_cookie": {Persist: "HTTP_COOKIE", Request: "GET / HTTP/1.1\r\nHost: bench\r\nCookie: lang=en; SRV=6b1ee6a0-0000-4000-8000-000000000002\r\n\r\n"},
	// A POST with a 12-byte body, which the fixed member skips as the first
	// line of the next request's head.
	"post": {Request: "POST / HTTP/1.1\r\nHost: bench\r\nContent-Length: 12\r\n\r\n0123456789\r\n"},
}

func keepAliveScenario(b testing.TB, sc pathScenario, al *accesslog.Logger) func() {
	m1, m2 := fixedServer(b), fixedServer(b)
	p := freePort(b)
	cfg := config(b, `
loadbalancers:
  - name: lb
    vip_address: 127.0.0.1
    listeners:
      - name: web
        protocol: HTTP
        protocol_port: {{.Port}}
        insert_headers: {X-Forwarded-For: "true", X-Forwarded-Port: "true"}
{{- if .L7}}
        l7policies:
{{- range .Sections}}
          - action: REDIRECT_TO_POOL
            redirect_pool: {name: pool}
            rules:
              - {type: HOST_NAME, compare_type: EQUAL_TO, value: shop.example.com}
              - {type: PATH, compare_type: STARTS_WITH, value: /section{{.}}}
              - {type: HEADER, key: X-Tenant, compare_type: REGEX, value: '^tenant-[0-9]+$'}
{{- end}}
{{- end}}
        default_pool:
          name: pool
          protocol: HTTP
          lb_algorithm: ROUND_ROBIN
          {{.Monitor}}
{{- if .Persist}}
          session_persistence: {type: {{.Persist}}}
{{- end}}
          members:
            - {id: 6b1ee6a0-0000-4000-8000-000000000001, address: 127.0.0.1, protocol_port: {{port .A}}}
            - {id: 6b1ee6a0-0000-4000-8000-000000000002, address: 127.0.0.1, protocol_port: {{port .B}}}
`, struct {
		Port          int
		A, B, Monitor string
		L7            bool
		Persist       string
		Sections      []int
	}{p, m1, m2, sc.Monitor, sc.L7, sc.Persist, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}})
	rt := New(testLogger(b), Options{DrainTimeout: 5 * time.Second, NoEventLoop: goroutinesOnly(), AccessLog: al, ConnectionLogging: al != nil})
	if err := rt.Apply(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rt.Shutdown(ctx)
	})
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	br := bufio.NewReader(c)
	req := []byte("GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	if sc.Request != "" {
		req = []byte(sc.Request)
	}
	body := make([]byte, 12)
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n := -1
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) <= 2 {
				break
			}
			if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
				n = 0
				for _, d := range bytes.TrimSpace(v) {
					n = n*10 + int(d-'0')
				}
			}
		}
		if _, err := io.ReadFull(br, body[:n]); err != nil {
			b.Fatal(err)
		}
	}
	return roundTrip
}
