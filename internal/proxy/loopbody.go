package proxy

import (
	"lbd/internal/proxy/evloop"
	"lbd/internal/proxy/http1"
)

// The event loop relaying a request body (Content-Length) from the client
// to the member as it comes, with back-pressure; spliced from
// http1.SpliceMin on, as on the goroutine path.

// sendBody relays the request body from the client to the member as it
// comes. It reads the client only once the member took all that was read
// before, into the client connection's one buffer, or, while http1.SpliceMin
// or more of the body is left (the goroutine path's rule), spliced into a
// pipe: a body of any length holds at most that (back-pressure: EPOLLOUT on
// the member). Once the body is sent it awaits the response.
func (hl *httpLoop) sendBody(c *loopClient) {
	u := c.up
	for {
		if u.Pending() {
			if err := u.Flush(); err != nil {
				hl.handOffExchange(c, false)
				return
			}
			if u.Pending() {
				c.SetTimeout(c.cfg.memberTimeout)
				return // on with the member's EPOLLOUT
			}
		}
		if p := c.pipe; p != nil && p.data > 0 {
			n, err := u.SpliceOut(p.r, p.data)
			p.data -= n
			hl.countBody(c, n)
			if err != nil {
				hl.handOffExchange(c, false)
				return
			}
			if p.data > 0 {
				c.SetTimeout(c.cfg.memberTimeout)
				return // on with the member's EPOLLOUT
			}
		}
		if c.body == 0 {
			c.dropPipe()
			c.phase = phaseAwait
			c.SetTimeout(c.cfg.memberTimeout)
			if u.Readable() || u.respEnd > 0 {
				hl.readResponse(c, u) // or relays the one that came early
			}
			return
		}
		if n := int(min(c.body, int64(len(c.In)-c.reqEnd))); n > 0 {
			k, err := u.Send(c.In[c.reqEnd : c.reqEnd+n])
			hl.tookBody(c, k)
			if err != nil {
				hl.handOffExchange(c, false)
				return
			}
			if k < n {
				c.SetTimeout(c.cfg.memberTimeout)
				return // on with the member's EPOLLOUT
			}
			continue
		}
		// All that was read is the member's: read on from the start of
		// the buffer.
		c.In, c.reqEnd = c.In[:0], 0
		c.SetTimeout(c.cfg.clientTimeout)
		if !c.Readable() {
			c.ReleaseIn()
			return
		}
		var res evloop.ReadResult
		if c.body >= http1.SpliceMin {
			c.ReleaseIn()
			if err := c.takePipe(); err != nil {
				hl.handOffSent(c, handoffRequest, false, false)
				return
			}
			var n int
			n, res = c.SpliceIn(c.pipe.w, int(min(c.body, copyChunk)))
			c.pipe.data += n
			c.body -= int64(n)
		} else {
			res = c.Read()
		}
		switch res {
		case evloop.ReadNone:
			return
		case evloop.ReadEOF:
			// The client gone mid-body: the goroutine path accounts for
			// it as for its own.
			hl.handOffSent(c, handoffRequest, false, false)
			return
		}
	}
}

// tookBody accounts for n bytes of the request body given to the member
// from the client's buffer.
func (hl *httpLoop) tookBody(c *loopClient, n int) {
	c.reqEnd += n
	c.body -= int64(n)
	hl.countBody(c, n)
}

// countBody counts n bytes of the request body given to the member.
func (hl *httpLoop) countBody(c *loopClient, n int) {
	if n <= 0 {
		return
	}
	k := uint64(n)
	c.cfg.traffic.BytesIn.Add(k)
	c.m.Traffic.BytesIn.Add(k)
}
