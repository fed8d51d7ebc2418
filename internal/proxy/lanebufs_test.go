package proxy

import (
	"io"
	"testing"
	"time"

	"lbd/internal/demo"
)

// loopBuffers reports, from inside each event loop, how many client
// connections it holds and how many of those hold a buffer.
func loopBuffers(rt *Runtime) (clients, holding int) {
	for _, el := range rt.lanes.loops {
		done := make(chan struct{})
		el.post(func() {
			defer close(done)
			for _, c := range el.clients {
				clients++
				if c.in != nil || c.wbuf != nil {
					holding++
				}
			}
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

// TestLaneBufsTrim: buffers a steady load keeps taking stay; those left
// spare since the last trim go, half at a time.
func TestLaneBufsTrim(t *testing.T) {
	var p laneBufs
	held := make([][]byte, 8)
	for i := range held {
		held[i] = p.get()
	}
	for _, b := range held {
		p.put(b)
	}
	p.trim() // a first trim sees the burst's 8 spare at their fewest: 0
	mustf(t, len(p.free) == 8, "after the burst: %d spare, want 8", len(p.free))
	for range 3 { // a steady load of 2 at a time
		a, b := p.get(), p.get()
		p.put(a)
		p.put(b)
	}
	p.trim() // 6 stayed spare: 3 go
	mustf(t, len(p.free) == 5, "after a trim: %d spare, want 5", len(p.free))
	p.trim() // nobody took any since: half of 5 go
	mustf(t, len(p.free) == 2, "after an idle trim: %d spare, want 2", len(p.free))
	p.put(make([]byte, 0, 2*laneBufSize))
	mustf(t, len(p.free) == 2, "a grown buffer was kept: %d spare", len(p.free))
	for i := range 3 {
		if b := p.get(); cap(b) != laneBufSize || len(b) != 0 {
			t.Fatalf("get %d: len %d cap %d, want an empty buffer of %d", i, len(b), cap(b), laneBufSize)
		}
	}
}
