package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
)

// TestOwnershipAcrossHandoffs: client connections move between the
// goroutine path and the event loops in every way there is (a response the
// loop hands back, a request it hands back, a timeout, a member it lacks a
// connection to, a response delimited by close, a client that leaves
// mid-response or while idle in a loop), several at once. Once every client
// has gone, the listener counts no open connection, no member is held by a
// request, and the loops hold no client: each connection count and each
// acquired member was settled exactly once (settled twice, a count falls
// below zero and stays there, or the listener's WaitGroup panics; never, it
// stays above).
func TestOwnershipAcrossHandoffs(t *testing.T) {
	a, b := mixedMember(t), mixedMember(t)
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{a, b},
		Extra: "timeout_client_data: 300"}))
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Error(err)
			return nil, nil
		}
		return c, bufio.NewReader(c)
	}
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: t\r\n\r\n" }
	small := func(c net.Conn, br *bufio.Reader, n int) {
		for range n {
			exchangeOn(t, c, br, "GET", get("/small"), 200, "hello")
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every kind of exchange, in and out of the loop, ending with a
			// response delimited by close.
			c, br := dial()
			if c == nil {
				return
			}
			small(c, br, 5)
			exchangeOn(t, c, br, "GET", get("/chunked"), 200, "hello world")
			small(c, br, 3)
			exchangeOn(t, c, br, "POST", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc", 200, "abc")
			exchangeOn(t, c, br, "POST", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, "abc")
			small(c, br, 3)
			exchangeOn(t, c, br, "HEAD", "HEAD /small HTTP/1.1\r\nHost: t\r\n\r\n", 200, "")
			io.WriteString(c, get("/small")+get("/nocontent"))
			exchangeOn(t, c, br, "GET", "", 200, "hello")
			exchangeOn(t, c, br, "GET", "", 204, "")
			exchangeOn(t, c, br, "GET", get("/early"), 103, "")
			exchangeOn(t, c, br, "GET", "", 200, "ok")
			small(c, br, 3)
			exchangeOn(t, c, br, "GET", get("/close"), 200, "until the end")
			c.Close()

			// A head that stalls: 408 after timeout_client_data.
			c, br = dial()
			if c == nil {
				return
			}
			small(c, br, 4)
			io.WriteString(c, "GET /small HTTP/1.1\r\nHo")
			exchangeOn(t, c, br, "GET", "", 408, "Your browser didn't send a complete request in time.\n")
			c.Close()

			// A client that leaves while a long response is on its way.
			c, br = dial()
			if c == nil {
				return
			}
			small(c, br, 4)
			io.WriteString(c, get("/big"))
			br.ReadString('\n')
			c.Close()

			// A client that leaves while idle, in the loop by now.
			c, br = dial()
			if c == nil {
				return
			}
			small(c, br, 6)
			c.Close()
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	held := func() (conns, members int64, inLoops int) {
		for _, l := range rt.listeners {
			conns += l.active.Load()
		}
		for _, pl := range rt.pools {
			for _, m := range pl.bal.Members() {
				members += m.Active()
			}
		}
		if rt.loops != nil {
			inLoops, _ = loopBuffers(rt)
		}
		return conns, members, inLoops
	}
	waitFor(t, func() bool { c, m, l := held(); return c == 0 && m == 0 && l == 0 }, "every connection and member to be settled")
	// And stays so: nothing is settled a second time later.
	st := rt.EventLoopStats()
	c, m, l := held()
	mustf(t, c == 0 && m == 0 && l == 0, "after settling: %d connections, %d members held, %d clients in loops", c, m, l)
	tr := rt.ListenerTraffic(rt.Config().LoadBalancers[0].Listeners[0].ID)
	mustf(t, tr.Active.Load() == 0, "the listener's counters show %d active connections", tr.Active.Load())
	if rt.loops != nil {
		mustf(t, st.Adopted > 0 && st.Handoffs[handoffResponse] > 0 && st.Handoffs[handoffRequest] > 0 && st.Handoffs[handoffTimeout] > 0,
			"the connections did not move every way: %+v", st)
	}
}
