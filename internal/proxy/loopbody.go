package proxy

import (
	"lbd/internal/proxy/evloop"
	"lbd/internal/proxy/http1"
)

// The event loop relaying a request body (Content-Length) from the client
// to the member as it comes, with back-pressure: copied through the client
// connection's buffer; a body shorter than copyBodyMin is spliced from
// http1.SpliceMin on, as on the goroutine path.

// copyBodyMin is the length from which a body is copied rather than
// spliced. Splicing spares lbd the copy, but the member's socket then
// holds the pages the client's socket wrote the body into, which the
// client's side can reuse only once the member has read them, and the
// member frees pages it did not allocate: the work lbd saves reappears on
// the client's and the member's side, the more the longer the body.
// Copying beside splicing (docs/performance.md, "Long answers: what the
// load side pays"; 5 pairs each, 22:36–22:44 UTC), requests/s: POSTs of
// 64 KiB 1.09 [0.93–1.11]x and of 128 KiB 0.77 [0.76–1.04]x (not
// distinguishable) at 1.25x and 1.70x lbd's CPU; of 256 KiB 1.39
// [1.31–1.47]x, 512 KiB 1.47x and 1 MiB 1.54 [1.53–1.57]x at 1.7–2.9x
// lbd's CPU, still 0.78–0.81x HAProxy's, which copies.
const copyBodyMin = 256 << 10

// bodyTurn is the most of a copied body a connection relays in one turn
// of its loop; then it lets the loop's other connections have theirs, and
// goes on at the next (evloop's Socket.Resume). Relaying a whole body at
// once, as the client sent it, had the others wait for it: post_1m's p99
// 1.73x splicing's (docs/performance.md).
const bodyTurn = 64 << 10

// sendBody relays the request body from the client to the member as it
// comes. It reads the client only once the member took all that was read
// before, into the client connection's one buffer, or, for a body shorter
// than copyBodyMin while http1.SpliceMin or more of it is left (the
// goroutine path's rule), spliced into a pipe: a body of any length holds
// at most that (back-pressure: EPOLLOUT on the member). A copied body
// goes at most bodyTurn a turn of the loop. Once the body is sent it
// awaits the response.
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
			if t := hl.loop.Turn(); c.turn != t {
				c.turn, c.turnSent = t, 0
			}
			c.turnSent += k
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
		if c.turnSent >= bodyTurn && c.turn == hl.loop.Turn() {
			// The connection had its turn: on at the loop's next.
			c.ReleaseIn()
			c.Resume()
			return
		}
		var res evloop.ReadResult
		if c.body >= http1.SpliceMin && c.req.ContentLength < copyBodyMin {
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
