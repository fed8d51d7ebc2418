package proxy

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestMemoryReturnedAfterABurst: when a burst of connections (200 here,
// as if burstConns) falls to a quarter of its peak and stays there for
// the calm period, the runtime returns its memory once; not while the
// connections stay open, and not again without a new burst. (The RSS
// this returns is measured against a real process in make soak:
// cmd/lbd's TestSoakConnectionStorm.)
func TestMemoryReturnedAfterABurst(t *testing.T) {
	h := newForwardHarness(t)
	var mu sync.Mutex
	var returned []time.Time
	h.rt.mem.burst, h.rt.mem.calm = 200, 200*time.Millisecond
	h.rt.mem.release = func() {
		mu.Lock()
		returned = append(returned, time.Now())
		mu.Unlock()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(returned)
	}
	burst := func(n int) []net.Conn {
		var conns []net.Conn
		for range n {
			c, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n") // and wait
			conns = append(conns, c)
		}
		deadline := time.Now().Add(10 * time.Second)
		for h.lst.active.Load() < int64(n) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d connections accepted", h.lst.active.Load(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return conns
	}
	closeAll := func(conns []net.Conn) {
		for _, c := range conns {
			c.Close()
		}
	}
	conns := burst(250)
	time.Sleep(4 * h.rt.mem.calm) // connections open through several calm periods
	if n := count(); n != 0 {
		t.Fatalf("memory returned %d times while the burst's connections were open", n)
	}
	closed := time.Now()
	closeAll(conns)
	deadline := time.Now().Add(5 * time.Second)
	for count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("memory not returned after the burst ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if took := returned[0].Sub(closed); took < h.rt.mem.calm {
		t.Errorf("memory returned %v after the burst ended, before the calm period (%v)", took, h.rt.mem.calm)
	}
	// A small wave is no burst.
	closeAll(burst(50))
	time.Sleep(4 * h.rt.mem.calm)
	if n := count(); n != 1 {
		t.Errorf("memory returned %d times, want once: a wave of 50 is no burst", n)
	}
	closeAll(burst(220))
	deadline = time.Now().Add(5 * time.Second)
	for count() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("memory returned %d times after a second burst, want 2", count())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
