package proxy

import (
	"errors"
	"time"
)

// The event loop opening a member connection itself: a non-blocking
// connect completed on EPOLLOUT, its failures given to the goroutine
// path's retries and redispatch (pool.connect), counted once.

// errConnectTimeout is a connect of the loop's that ran out of the pool's
// timeout_member_connect.
var errConnectTimeout = errors.New("event loop: timeout_member_connect ran out")

// connect opens a connection to the member picked for c's request, which
// the loop sends once it is up (connected). The request waits for it
// without a client deadline: the member connection's is the pool's
// timeout_member_connect.
func (hl *httpLoop) connect(c *loopClient) {
	u := &loopMember{hl: hl, state: c.m.State, client: c, connecting: true}
	hl.set.stats.connects.Add(1)
	if err := hl.loop.Connect(&u.Socket, c.m.Addr, u); err != nil {
		hl.connectFailed(c, nil, err)
		return
	}
	c.up = u
	c.SetTimeout(0)
	u.SetTimeout(c.cfg.connectTimeout)
}

// connected is a member connection the loop opened whose connect ended:
// the request goes out on it, or, if it failed, to the goroutine path.
func (hl *httpLoop) connected(c *loopClient, u *loopMember) {
	if err := u.ConnectErr(); err != nil {
		hl.connectFailed(c, u, err)
		return
	}
	u.connecting = false
	u.SetDeadline(time.Time{})
	m := c.m
	c.connect = hl.loop.Now().Sub(c.start)
	m.Traffic.ConnectTime.Observe(c.connect)
	m.Traffic.Connections.Add(1)
	hl.sendRequest(c, u, false)
}

// connectFailed is a connect of the loop's to the member picked for c's
// request that failed (err), or timed out: it counts against the member as
// a failed connect of the goroutine path's does, and the goroutine path
// takes the request, with the attempt made, for its retries and
// redispatch (pool.connect).
func (hl *httpLoop) connectFailed(c *loopClient, u *loopMember, err error) {
	m := c.m
	m.Traffic.ConnectErrors.Add(1)
	m.Observer().ConnectFailure()
	m.Release()
	hl.log.Debug("event loop: member connect failed", "member_id", m.ID, "member", m.Name, "member_address", m.Addr, "err", err)
	if u != nil {
		u.client = nil
		u.Close()
	}
	c.m, c.up = nil, nil
	if len(c.In) == 0 {
		c.Preload(c.req.Buf) // releaseHead let the buffer go: the request is its head
	}
	hl.set.stats.handoffs[handoffConnect].Add(1)
	hl.toGoroutine(c, &loopHandoff{backoff: c.backoff, failed: failedConnect{m: m, from: c.p}}, 0)
}
