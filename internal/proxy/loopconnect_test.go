package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"lbd/internal/balancer"
	"lbd/internal/demo"
)

// An event loop opens the member connections its requests need itself
// (Loop.Connect): a new client's first request, with no idle member
// connection in the loop, stays in the loop. A connect that fails or times
// out goes to the goroutine path, which makes the retries and redispatch
// (pool.connect) with the loop's attempt counted.

// getOn sends a GET on a new connection to addr (Connection: close) and
// returns the status and body.
func getOn(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
	r, err := http.ReadResponse(bufio.NewReader(strings.NewReader(resp)), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("response %q: %v", resp, err)
	}
	defer r.Body.Close()
	var body strings.Builder
	bufio.NewReader(r.Body).WriteTo(&body)
	return r.StatusCode, body.String()
}

// memberAt returns the pool's member whose address is addr.
func memberAt(t *testing.T, rt *Runtime, addr string) *balancer.Member {
	t.Helper()
	for _, m := range rt.PoolMembers(rt.Config().LoadBalancers[0].Pools[0].ID) {
		if m.Addr.String() == addr {
			return m
		}
	}
	t.Fatalf("no member at %s", addr)
	return nil
}

// refusedAddr returns a loopback address nothing listens on: connects to
// it are refused.
func refusedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestLoopConnectsForNewClients: n clients connect at once to a fresh lbd,
// and the member holds every request until all n are in, so each needs a
// member connection of its own: the loops open all n, serve every request,
// and hand no client to a goroutine; while the member has the requests, no
// client holds a buffer. Without the loop's connect, each of
// these requests went to a goroutine to connect (n member_connection
// handoffs).
func TestLoopConnectsForNewClients(t *testing.T) {
	needEventLoop(t)
	const n = 100
	// The member holds the requests until the test lets them go.
	h := &heldMember{want: n + 1, release: make(chan struct{})}
	h.hold.Store(true)
	addr, accepted := rawMember(t, h.serve)
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{addr}}))
	errs := make(chan error, n)
	for range n {
		go func() {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: t\r\n\r\n")); err != nil {
				errs <- err
				return
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			errs <- err
		}()
	}
	waitFor(t, func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.waiting == n }, "the member to have every request")
	// Their heads sent, the clients wait for the answers without a buffer
	// each.
	clients, holding := loopBuffers(rt)
	mustf(t, clients == n && holding == 0, "%d of %d clients hold a buffer while the member has their requests, want none", holding, clients)
	close(h.release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := rt.EventLoopStats()
	mustf(t, st.Handoffs == [handoffReasons]uint64{}, "handoffs %v for %d new clients' GETs, want none", st.Handoffs, n)
	mustf(t, st.Requests == n, "the loops served %d of %d requests", st.Requests, n)
	mustf(t, st.Connects == n && accepted.Load() == n, "the loops started %d member connects, the member accepted %d; want %d",
		st.Connects, accepted.Load(), n)
	m := memberAt(t, rt, addr)
	mustf(t, m.Traffic.Connections.Load() == n && m.Traffic.Requests.Load() == n && m.Traffic.ConnectErrors.Load() == 0,
		"member counted %d connections, %d requests, %d connect errors; want %d, %d, 0",
		m.Traffic.Connections.Load(), m.Traffic.Requests.Load(), m.Traffic.ConnectErrors.Load(), n, n)
}

// TestLoopConnectingClientsHoldNoBuffer: clients whose requests wait for
// the loop's connect to their member hold no buffer meanwhile (before, a
// burst of new clients held 16 KiB each until their connects completed),
// and the request still reaches the goroutine path whole when the connect
// times out: it is redispatched to the other member.
func TestLoopConnectingClientsHoldNoBuffer(t *testing.T) {
	needEventLoop(t)
	stuck, good := unacceptingListener(t), startBackend(t, "good", demo.Options{})
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN",
		Backends: []string{stuck, good.Addr()}, Extra: "timeout_member_connect: 2000"}))
	const n = 10
	answers := make(chan string, n) // the answering member's name, or what went wrong
	for range n {
		go func() {
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				answers <- err.Error()
				return
			}
			defer c.Close()
			c.Write([]byte("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"))
			c.SetReadDeadline(time.Now().Add(15 * time.Second))
			b, _ := io.ReadAll(c)
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(b))), &http.Request{Method: "GET"})
			if err != nil || resp.StatusCode != http.StatusOK {
				answers <- fmt.Sprintf("response %q", b)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			answers <- backendName(string(body))
		}()
	}
	// Round robin: half the requests went to the good member and were
	// answered; the other half wait for their connects to the stuck one.
	gm := memberAt(t, rt, good.Addr())
	var clients, holding int
	waitFor(t, func() bool {
		clients, holding = loopBuffers(rt)
		return gm.Traffic.Requests.Load() == n/2 && clients == n/2
	}, "half the requests answered, the other half waiting in the loop")
	mustf(t, clients == n/2 && holding == 0, "%d of %d clients waiting for a member connection hold a buffer, want 0 of %d", holding, clients, n/2)
	for range n {
		a := <-answers
		mustf(t, a == "good", "answer %s, want a 200 from good", a)
	}
	st := rt.EventLoopStats()
	mustf(t, st.Handoffs[handoffConnect] == n/2, "%d timed-out connects handed over, want %d", st.Handoffs[handoffConnect], n/2)
}

// TestLoopConnectRefusedGoesToTheNextMember: with one member refusing
// connections, every client still gets the other's 200: the loop's refused
// connect counts against the member (connect errors, passive health) and
// the goroutine path redispatches the request.
func TestLoopConnectRefusedGoesToTheNextMember(t *testing.T) {
	needEventLoop(t)
	refused, good := refusedAddr(t), startBackend(t, "good", demo.Options{})
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{refused, good.Addr()}}))
	for range 10 {
		code, body := getOn(t, fmt.Sprintf("127.0.0.1:%d", p))
		mustf(t, code == http.StatusOK && backendName(body) == "good", "status %d from %q, want 200 from good", code, body)
	}
	st, bad := rt.EventLoopStats(), memberAt(t, rt, refused)
	failed := bad.Traffic.ConnectErrors.Load()
	mustf(t, st.Connects >= 1 && failed >= 1, "the loops started %d connects, the refused member counted %d errors; want some of each", st.Connects, failed)
	mustf(t, st.Handoffs[handoffConnect] == failed, "%d failed connects handed over, the refused member counted %d", st.Handoffs[handoffConnect], failed)
	mustf(t, memberAt(t, rt, good.Addr()).Traffic.Redispatches.Load() >= 1, "no redispatch counted on the good member")
}

// TestLoopConnectTimeout: a member that never answers the SYN (a listener
// whose backlog is full) costs the loop's connect timeout_member_connect;
// then the goroutine path retries, on another member (200) or, with none,
// on the same one until the attempts (the loop's included) run out: 503.
func TestLoopConnectTimeout(t *testing.T) {
	needEventLoop(t)
	t.Run("redispatched", func(t *testing.T) {
		stuck, good := unacceptingListener(t), startBackend(t, "good", demo.Options{})
		p := freePort(t)
		rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN",
			Backends: []string{stuck, good.Addr()}, Extra: "timeout_member_connect: 200"}))
		for range 4 {
			code, body := getOn(t, fmt.Sprintf("127.0.0.1:%d", p))
			mustf(t, code == http.StatusOK && backendName(body) == "good", "status %d from %q, want 200 from good", code, body)
		}
		st, bad := rt.EventLoopStats(), memberAt(t, rt, stuck)
		failed := bad.Traffic.ConnectErrors.Load()
		mustf(t, failed >= 1 && st.Handoffs[handoffConnect] == failed,
			"%d timed-out connects handed over, the stuck member counted %d errors; want the same, at least 1", st.Handoffs[handoffConnect], failed)
	})
	t.Run("503", func(t *testing.T) {
		// Two stuck members, so that the attempts alternate and passive
		// health ejects neither (three failures in a row would) before
		// they run out.
		stuck := []string{unacceptingListener(t), unacceptingListener(t)}
		p := freePort(t)
		rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN",
			Backends: stuck, Extra: "timeout_member_connect: 200"}))
		start := time.Now()
		code, _ := getOn(t, fmt.Sprintf("127.0.0.1:%d", p))
		took := time.Since(start)
		mustf(t, code == http.StatusServiceUnavailable, "status %d, want 503", code)
		st := rt.EventLoopStats()
		failed := memberAt(t, rt, stuck[0]).Traffic.ConnectErrors.Load() + memberAt(t, rt, stuck[1]).Traffic.ConnectErrors.Load()
		mustf(t, st.Connects == 1 && st.Handoffs[handoffConnect] == 1, "the loops started %d connects, handed %d over; want 1", st.Connects, st.Handoffs[handoffConnect])
		mustf(t, failed == maxConnectAttempts, "%d connect attempts, want %d, the loop's first", failed, maxConnectAttempts)
		mustf(t, took >= maxConnectAttempts*200*time.Millisecond, "503 after %v, want %d × 200ms", took, maxConnectAttempts)
	})
}
