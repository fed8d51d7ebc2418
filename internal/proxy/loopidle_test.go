package proxy

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// heldMember answers every request with "ok", but while hold is set it
// holds each answer until want requests are waiting, then answers them all:
// the member has that many requests at once, one per connection.
type heldMember struct {
	hold    atomic.Bool
	want    int
	mu      sync.Mutex
	waiting int
	release chan struct{}
}

func (h *heldMember) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		req.Body.Close()
		if h.hold.Load() {
			h.mu.Lock()
			h.waiting++
			if h.waiting == h.want {
				close(h.release)
			}
			release := h.release
			h.mu.Unlock()
			<-release
		}
		if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")); err != nil {
			return
		}
	}
}

// TestLoopKeepsAMemberConnectionPerClient: a loop with more keep-alive
// clients than maxIdlePerMember, all of whose requests are at the member at
// once, keeps the member connections they used: the next such round finds
// one idle for each request, opens no connection and hands no client to a
// goroutine to open one. With the loop's idle list capped at
// maxIdlePerMember, the connections over the cap were closed and each
// round reopened them through the goroutine path.
func TestLoopKeepsAMemberConnectionPerClient(t *testing.T) {
	needEventLoop(t)
	h := &heldMember{}
	addr, accepted := rawMember(t, h.serve)
	p := freePort(t)
	rt := startRuntime(t, config(t, oneHTTPPool, poolData{Port: p, Algorithm: "ROUND_ROBIN", Backends: []string{addr}}))
	n := (maxIdlePerMember + 20) * len(rt.loops.loops) // clients are spread over the loops
	h.want, h.release = n, make(chan struct{})

	type client struct {
		c  net.Conn
		br *bufio.Reader
	}
	clients := make([]client, n)
	for i := range clients {
		clients[i].c, clients[i].br = loopConn(t, rt, p, "ok")
	}
	round := func() {
		t.Helper()
		errs := make(chan error, n)
		for _, cl := range clients {
			go func() {
				if _, err := cl.c.Write([]byte("GET / HTTP/1.1\r\nHost: t\r\n\r\n")); err != nil {
					errs <- err
					return
				}
				resp, err := http.ReadResponse(cl.br, &http.Request{Method: "GET"})
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}

	h.hold.Store(true)
	round() // the member has n requests at once: the loops need n connections to it
	before, conns := rt.EventLoopStats(), accepted.Load()
	h.mu.Lock()
	h.waiting, h.release = 0, make(chan struct{})
	h.mu.Unlock()
	round()
	after := rt.EventLoopStats()
	mustf(t, after.Handoffs[handoffConnect] == before.Handoffs[handoffConnect],
		"%d clients handed to a goroutine for a member connection in a round of %d (the loops dropped idle ones)",
		after.Handoffs[handoffConnect]-before.Handoffs[handoffConnect], n)
	mustf(t, accepted.Load() == conns, "the member accepted %d new connections in the second round, want 0", accepted.Load()-conns)
	mustf(t, after.Requests-before.Requests == uint64(n), "the loops served %d of %d requests", after.Requests-before.Requests, n)
}
