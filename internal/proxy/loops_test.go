package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"lbd/internal/demo"
	"lbd/internal/proxy/evloop"
)

// The event loop serves keep-alive connections once they have shown
// exchanges it can serve, and hands them back to a goroutine for anything
// else. These tests drive one client connection through both engines and
// check every answer, and the loop's counters, which say which engine served
// what: without the loop, or with a loop that hands everything back, they
// fail.

// TestEventLoopServesSteadyState: over one keep-alive connection the loop
// serves all but the first requests, round robin stays exact, and the
// traffic counters match what was sent.
func TestEventLoopServesSteadyState(t *testing.T) {
	needEventLoop(t)
	a, b := startBackend(t, "a", demo.Options{}), startBackend(t, "b", demo.Options{})
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{a.Addr(), b.Addr()}, Headers: true}))
	c := clientFrom("127.0.0.1")
	names := map[string]int{}
	for range 100 {
		code, body := get(t, c, fmt.Sprintf("http://127.0.0.1:%d/", p))
		mustf(t, code == http.StatusOK, "status %d", code)
		names[backendName(body)]++
	}
	mustf(t, names["a"] == 50 && names["b"] == 50, "round robin gave %v, want 50 each", names)
	st := rt.EventLoopStats()
	mustf(t, st.Loops > 0, "no event loop running")
	mustf(t, st.Requests >= 95, "the loop served %d of 100 requests, want all but the first few", st.Requests)
	mustf(t, st.Handoffs[handoffRequest] == 0 && st.Handoffs[handoffResponse] == 0 && st.Handoffs[handoffTimeout] == 0,
		"handoffs %v for plain GETs", st.Handoffs)
	tr := rt.ListenerTraffic(rt.Config().LoadBalancers[0].Listeners[0].ID)
	mustf(t, tr.Requests.Load() == 100 && tr.Responses[2].Load() == 100, "listener counted %d requests, %d 2xx; want 100",
		tr.Requests.Load(), tr.Responses[2].Load())
}

// mixedMember answers by path, one response framing per path, over
// keep-alive: what the loop relays itself and what it must hand back.
func mixedMember(t *testing.T) string {
	addr, _ := rawMember(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			body, _ := io.ReadAll(req.Body)
			var resp string
			switch req.URL.Path {
			case "/small":
				resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
				if req.Method == http.MethodHead {
					resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
				}
			case "/chunked":
				resp = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"
			case "/big":
				resp = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("x", 100000)
			case "/early":
				resp = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
			case "/split":
				// The body, with what looks like a head's end in it, comes
				// in a second segment: the pause spaces the writes (the
				// test passes whether or not they arrive apart).
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab\n\n")
				time.Sleep(20 * time.Millisecond)
				resp = "\r\n\r\ncd"
			case "/nocontent":
				resp = "HTTP/1.1 204 No Content\r\n\r\n"
			case "/echo":
				resp = fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			case "/close":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end")
				return
			default:
				resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
			}
			if _, err := io.WriteString(c, resp); err != nil {
				return
			}
		}
	})
	return addr
}

// exchange sends raw on c and reads one response for method, failing the
// test unless it has the status and body given.
func exchangeOn(t *testing.T, c net.Conn, br *bufio.Reader, method, raw string, status int, body string) {
	t.Helper()
	if raw != "" {
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatalf("write %q: %v", raw, err)
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("after %q: read response: %v", raw, err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("after %q: read body: %v", raw, err)
	}
	if resp.StatusCode != status || string(got) != body {
		t.Fatalf("after %q: %d with a %d-byte body %.40q, want %d %.40q", raw, resp.StatusCode, len(got), got, status, body)
	}
}

// loopConn dials the listener on port and sends plain GETs, each answered
// with body, until the event loop has served one on the connection: it
// returns a connection the loop holds.
func loopConn(t *testing.T, rt *Runtime, port int, body string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	br := bufio.NewReader(c)
	before := rt.EventLoopStats().Requests
	for range 10 {
		exchangeOn(t, c, br, "GET", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", 200, body)
		if rt.EventLoopStats().Requests > before {
			return c, br
		}
	}
	t.Fatal("the event loop did not take the connection")
	return nil, nil
}

// TestEventLoopAndGoroutinePathShareOneConnection: every kind of exchange
// on one keep-alive connection, in and out of the loop: each answer is
// exact, and the loop served the plain ones and handed over the others.
func TestEventLoopAndGoroutinePathShareOneConnection(t *testing.T) {
	needEventLoop(t)
	member := mixedMember(t)
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{member}}))
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	c, br := dial()
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n" }
	small := func(n int) {
		for range n {
			exchangeOn(t, c, br, "GET", get("/small"), 200, "hello")
		}
	}
	served := func() uint64 { return rt.EventLoopStats().Requests }

	handoffs := func(why handoffReason) uint64 { return rt.EventLoopStats().Handoffs[why] }
	// backInLoop sends plain requests until the loop serves one: a
	// connection handed back earns its way in again.
	backInLoop := func() {
		t.Helper()
		before := served()
		for range 70 {
			small(1)
			if served() > before {
				return
			}
		}
		t.Fatal("the connection never went back to the loop")
	}
	// handedOver runs one exchange that starts in the loop and must be
	// handed to a goroutine for why.
	handedOver := func(why handoffReason, run func()) {
		t.Helper()
		backInLoop()
		before, n := served(), handoffs(why)
		run()
		mustf(t, served() == before, "the loop claims to have served an exchange it cannot")
		mustf(t, handoffs(why) == n+1, "%s handoffs went from %d to %d, want one more", HandoffReasons[why], n, handoffs(why))
	}

	small(3)
	handedOver(handoffResponse, func() { exchangeOn(t, c, br, "GET", get("/chunked"), 200, "hello world") })
	handedOver(handoffRequest, func() {
		exchangeOn(t, c, br, "POST", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, "abc")
	})
	handedOver(handoffResponse, func() {
		exchangeOn(t, c, br, "GET", get("/early"), 103, "")
		exchangeOn(t, c, br, "GET", "", 200, "ok")
	})
	handedOver(handoffRequest, func() {
		exchangeOn(t, c, br, "GET", "GET /small HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n", 400, "Your browser sent an invalid request.\n")
	})
	c, br = dial()
	small(3)
	backInLoop()
	before := served()
	exchangeOn(t, c, br, "GET", get("/split"), 200, "ab\n\n\r\n\r\ncd")
	exchangeOn(t, c, br, "HEAD", "HEAD /small HTTP/1.1\r\nHost: t\r\n\r\n", 200, "")
	exchangeOn(t, c, br, "GET", get("/nocontent"), 204, "")
	exchangeOn(t, c, br, "GET", get("/big"), 200, strings.Repeat("x", 100000)) // longer than the loop's buffer: streamed
	exchangeOn(t, c, br, "POST", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", 200, "abc")
	// Pipelined: three requests in one write.
	if _, err := io.WriteString(c, get("/small")+get("/small")+get("/small")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		exchangeOn(t, c, br, "GET", "", 200, "hello")
	}
	mustf(t, served() == before+8, "the loop served %d of a response in two parts, HEAD, 204, a long response, a POST and three pipelined requests, want 8", served()-before)
	handedOver(handoffResponse, func() { exchangeOn(t, c, br, "GET", get("/close"), 200, "until the end") })
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after a response delimited by close: read %d, %v; want EOF", n, err)
	}
}

// TestEventLoopMemberTimeout: a member that stops answering a connection the
// loop serves costs one 504 after timeout_member_data, not two timeouts'
// wait (the loop's, then the goroutine's).
func TestEventLoopMemberTimeout(t *testing.T) {
	needEventLoop(t)
	var hang atomic.Bool
	member, _ := rawMember(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if hang.Load() {
				io.Copy(io.Discard, c)
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	p := freePort(t)
	const timeout = time.Second
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{member},
		Extra: fmt.Sprintf("timeout_member_data: %d", timeout.Milliseconds())}))
	c, br := loopConn(t, rt, p, "ok")
	hang.Store(true) // from now on the member takes requests and never answers
	start := time.Now()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	took := time.Since(start)
	mustf(t, resp.StatusCode == http.StatusGatewayTimeout, "status %d, want 504", resp.StatusCode)
	mustf(t, took >= timeout-timeout/8 && took < timeout*3/2, "504 after %v, want about %v", took, timeout)
	mustf(t, rt.EventLoopStats().Handoffs[handoffTimeout] == 1, "handoffs %v, want one timeout", rt.EventLoopStats().Handoffs)
}

// TestEventLoopClientTimeouts: in the loop, a client that sends part of a
// head and stalls gets 408 after timeout_client_data, and one that sends
// nothing is closed.
func TestEventLoopClientTimeouts(t *testing.T) {
	needEventLoop(t)
	b := startBackend(t, "a", demo.Options{})
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{b.Addr()},
		Extra: "timeout_client_data: 500"}))
	stalled, sbr := loopConn(t, rt, p, "Hello World! from a\n")
	idle, ibr := loopConn(t, rt, p, "Hello World! from a\n")
	io.WriteString(stalled, "GET / HTTP/1.1\r\nHo")
	exchangeOn(t, stalled, sbr, "GET", "", http.StatusRequestTimeout, "Your browser didn't send a complete request in time.\n")
	idle.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := ibr.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: read %d, %v; want EOF once timeout_client_data passed", n, err)
	}
	mustf(t, rt.EventLoopStats().Handoffs[handoffTimeout] == 1, "handoffs %v, want the stalled head's", rt.EventLoopStats().Handoffs)
}

// TestEventLoopDrain: removing a listener closes the loop's idle
// connections at once; Shutdown then completes.
func TestEventLoopDrain(t *testing.T) {
	needEventLoop(t)
	b := startBackend(t, "a", demo.Options{})
	p := freePort(t)
	cfg := config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{b.Addr()}})
	rt := startRuntime(t, cfg)
	c, br := loopConn(t, rt, p, "Hello World! from a\n")
	empty := config(t, `loadbalancers: []`, nil)
	if err := rt.Apply(t.Context(), empty); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection of a removed listener: read %d, %v; want EOF", n, err)
	}
}

// TestSmugglingAttemptsInTheEventLoop: each smuggling shape of
// TestSmugglingAttempts, sent on a connection the event loop holds, gets the
// same first answer as on a fresh connection (the loop hands the bytes over
// untouched); and the connection still frames what follows correctly.
func TestSmugglingAttemptsInTheEventLoop(t *testing.T) {
	needEventLoop(t)
	b := startBackend(t, "a", demo.Options{})
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{b.Addr()}}))
	for _, tt := range smugglingCases() {
		t.Run(tt.name, func(t *testing.T) {
			c, br := loopConn(t, rt, p, "Hello World! from a\n")
			if _, err := io.WriteString(c, tt.req); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if want := "HTTP/1.1 " + tt.status + " "; !strings.HasPrefix(line, want) {
				t.Fatalf("answer %q, want %s", line, want)
			}
		})
	}
}

// loopBuffers reports, from inside each event loop, how many client
// connections it holds and how many of those hold a buffer.
func loopBuffers(rt *Runtime) (clients, holding int) {
	for _, hl := range rt.loops.loops {
		done := make(chan struct{})
		hl.loop.Post(func() {
			defer close(done)
			hl.loop.Each(func(s *evloop.Socket) {
				if _, ok := s.Handler().(*loopClient); ok {
					clients++
					if s.HoldsBuffer() {
						holding++
					}
				}
			})
		})
		<-done
	}
	return clients, holding
}

// TestIdleLoopConnectionsHoldNoBuffers: keep-alive clients waiting in the
// event loop for their next request hold no message buffer; one whose
// request head is half in keeps it, and the request is served whole once
// the rest arrives.
func TestIdleLoopConnectionsHoldNoBuffers(t *testing.T) {
	needEventLoop(t)
	b := startBackend(t, "a", demo.Options{})
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{b.Addr()}}))
	const n = 20
	for range n {
		loopConn(t, rt, p, "Hello World! from a\n")
	}
	clients, holding := loopBuffers(rt)
	mustf(t, clients == n, "the loops hold %d clients, want %d", clients, n)
	mustf(t, holding == 0, "%d of %d idle clients hold a buffer, want none", holding, clients)

	c, br := loopConn(t, rt, p, "Hello World! from a\n")
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHo"); err != nil {
		t.Fatal(err)
	}
	// The loop reads the half head when epoll reports it: wait for that.
	deadline := time.Now().Add(5 * time.Second)
	for {
		clients, holding = loopBuffers(rt)
		if holding > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mustf(t, clients == n+1 && holding == 1, "%d clients, %d holding a buffer; want %d and 1 (the half head)", clients, holding, n+1)
	exchangeOn(t, c, br, "GET", "st: t\r\n\r\n", 200, "Hello World! from a\n")
	_, holding = loopBuffers(rt)
	mustf(t, holding == 0, "%d clients hold a buffer after the last exchange, want none", holding)
}

// TestEventLoopServesNewConnections: the loops take an HTTP listener's
// connections as they are accepted, so a client that opens a connection
// per request (Connection: close) is served by a loop from its first
// request once the loop holds member connections (the first requests,
// which find none, go to goroutines, which connect and give their member
// connections to the loop when they end). Without that, every such
// request is the goroutine path's: a connection ends before it can earn
// its move. The counters still add up, and every answer is right.
func TestEventLoopServesNewConnections(t *testing.T) {
	needEventLoop(t)
	a, b := startBackend(t, "a", demo.Options{}), startBackend(t, "b", demo.Options{})
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{a.Addr(), b.Addr()}}))
	const n = 200
	names := map[string]int{}
	for range n {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("read response: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		c.Close()
		mustf(t, err == nil && resp.StatusCode == http.StatusOK, "status %d, body error %v", resp.StatusCode, err)
		names[backendName(string(body))]++
	}
	mustf(t, names["a"] == n/2 && names["b"] == n/2, "round robin gave %v, want %d each", names, n/2)
	st := rt.EventLoopStats()
	mustf(t, st.Requests >= n*3/4, "the loop served %d of %d requests on new connections, want most", st.Requests, n)
	tr := rt.ListenerTraffic(rt.Config().LoadBalancers[0].Listeners[0].ID)
	waitFor(t, func() bool { return tr.Active.Load() == 0 }, "the listener's connections to close")
	mustf(t, tr.Requests.Load() == n && tr.Responses[2].Load() == n && tr.Connections.Load() == n,
		"listener counted %d requests, %d 2xx, %d connections; want %d", tr.Requests.Load(), tr.Responses[2].Load(), tr.Connections.Load(), n)
}

// TestRawAcceptedSocketsHaveNoDelay: a socket the listener accepts for an
// event loop (acceptRaw, without net's setsockopt) has TCP_NODELAY, from
// the listening socket, and the client's address.
func TestRawAcceptedSocketsHaveNoDelay(t *testing.T) {
	ln, err := listenTCP(t.Context(), "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	l := newListener("test", ln, nil)
	t.Cleanup(func() { ln.Close(); l.acc.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fd, remote, err := l.acceptRaw()
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	nodelay, err := syscall.GetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	mustf(t, err == nil && nodelay == 1, "TCP_NODELAY %d (%v), want 1", nodelay, err)
	mustf(t, remote.String() == c.LocalAddr().String(), "remote %v, want %v", remote, c.LocalAddr())
	mustf(t, l.addr.String() == ln.Addr().String(), "listener address %v, want %v", l.addr, ln.Addr())
}
