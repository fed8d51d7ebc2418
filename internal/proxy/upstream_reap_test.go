package proxy

import (
	"net"
	"testing"
	"time"

	"lbd/internal/balancer"
)

// TestIdlePoolExpire: connections idle longer than the cutoff are closed
// and leave the pool; younger ones stay and are handed out.
func TestIdlePoolExpire(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	dial := func(st *balancer.State) *upstreamConn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return newUpstreamConn(c.(*net.TCPConn), st, false)
	}
	st := balancer.NewState()
	ip := newIdlePool()
	ip.known.Store(&map[*balancer.State]struct{}{st: {}}) // a member the pool keeps connections for
	now := time.Now()
	old, young := dial(st), dial(st)
	ip.put(old, now.Add(-10*time.Second))
	ip.put(young, now)
	ip.expire(now.Add(-idleUpstreamTTL))
	if _, err := old.tc.Write([]byte("x")); err == nil {
		t.Error("an expired connection is still open")
	}
	if got := ip.get(st, now); got != young {
		t.Errorf("get after expire = %p, want the young connection %p", got, young)
	}
	if got := ip.get(st, now); got != nil {
		t.Errorf("the pool still holds %p", got)
	}
	young.close()
}
