package proxy

import "syscall"

// The event loop giving a client connection, and its exchange in progress
// if any, to the goroutine path, which can do what the loop cannot.

// handOff gives the client connection to the goroutine path between
// requests, and makes it wait longer before it comes back.
func (hl *httpLoop) handOff(c *loopClient, why handoffReason) {
	hl.set.stats.handoffs[why].Add(1)
	hl.toGoroutine(c, &loopHandoff{backoff: nextBackoff(c.backoff), expired: c.phase == phaseHead && c.Expired()}, 0)
}

// handOffExchange gives the client connection and its exchange in progress
// to the goroutine path, which reads the response from where the loop is.
func (hl *httpLoop) handOffExchange(c *loopClient, expired bool) {
	if expired {
		hl.handOffSent(c, handoffTimeout, true, false)
	} else {
		hl.handOffSent(c, handoffResponse, false, false)
	}
}

// handOffSent gives the client connection and its exchange in progress to
// the goroutine path, with the rest of the request body to relay if any:
// memberExpired, the member timed out; clientExpired, the client did.
func (hl *httpLoop) handOffSent(c *loopClient, why handoffReason, memberExpired, clientExpired bool) {
	hl.set.stats.handoffs[why].Add(1)
	u := c.up
	x := &sentExchange{cfg: c.cfg, p: c.p, m: c.m, head: append([]byte(nil), c.req.Buf...),
		expired: memberExpired, start: c.start, sent: c.sent, body: c.body,
		// With a response in, the goroutine path relays it whatever
		// becomes of the body.
		bodyExpired: clientExpired && c.body > 0 && len(u.In) == 0}
	if u.Pending() {
		x.memberOut = append([]byte(nil), u.Unsent()...)
	}
	if p := c.pipe; p != nil && p.data > 0 {
		// Taken from the client, not yet given to the member.
		out := make([]byte, p.data)
		k := 0
		for k < len(out) {
			n, err := syscall.Read(p.r, out[k:])
			if err != nil || n <= 0 {
				break
			}
			k += n
		}
		p.data -= k
		x.memberOut = append(x.memberOut, out[:k]...)
	}
	c.dropPipe()
	u.client = nil
	c.m, c.up = nil, nil
	mc, read, err := u.Release()
	if err != nil {
		hl.log.Warn("event loop: member connection not handed over", "member_id", x.m.ID, "member", x.m.Name, "member_address", x.m.Addr, "err", err)
		x.m.Traffic.MemberAborts.Add(1)
		x.m.Release()
		hl.closeClient(c)
		return
	}
	x.member, x.memberRead = mc, read
	hl.toGoroutine(c, &loopHandoff{backoff: nextBackoff(c.backoff), ex: x, expired: clientExpired}, c.reqEnd)
}

// nextBackoff is the loopSeat.backoff of a connection the loop hands back
// for anything but a missing member connection.
func nextBackoff(b int) int { return min(max(1, 2*b), 64) }

// toGoroutine releases the client connection to Go's poller and starts a
// goroutine serving it with what the loop read from skip on. If the
// connection cannot be released, it ends, and what h holds is settled.
func (hl *httpLoop) toGoroutine(c *loopClient, h *loopHandoff, skip int) {
	h.l, h.traffic, h.remote, h.local, h.home = c.l, c.traffic, c.remote, c.local, hl
	nc, in, err := c.Release()
	hl.clients-- // gone from the loop either way
	if err != nil {
		hl.log.Warn("event loop: client connection not handed over", "client", c.remote, "err", err)
		if x := h.ex; x != nil {
			x.m.Release()
			x.member.Close()
		}
		c.l.connEnded(c.traffic)
		return
	}
	h.conn = nc
	if skip < len(in) {
		h.buffered = in[skip:]
	}
	go c.back(h)
}
