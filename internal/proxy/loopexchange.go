package proxy

import (
	"syscall"
	"time"

	"lbd/internal/accesslog"
	"lbd/internal/balancer"
	"lbd/internal/proxy/evloop"
	"lbd/internal/proxy/http1"
)

// The HTTP exchange as an event loop runs it: a request http1.Decide says
// the loop can serve, to a member with an idle connection in the loop,
// its body (Content-Length) relayed as it comes, answered with a response
// Decide says fits. Everything else goes to the goroutine path, which can
// do it all, at the point it arises and with what the loop read
// (handOff...).

// adopt gives a client connection to a loop: home, the one it came from
// if any (its member connections wait there), or the next one.
func (ls *loopSet) adopt(home *httpLoop, mv *loopMove) {
	hl := home
	if hl == nil {
		hl = ls.loops[int(ls.next.Add(1))%len(ls.loops)]
	}
	hl.loop.Post(func() { hl.adopt(mv) })
}

// adopt takes a client connection from a goroutine, with its idle member
// connections, or one just accepted (fresh).
func (hl *httpLoop) adopt(mv *loopMove) {
	hl.adoptIdle(mv.members)
	if mv.l.draining.Load() {
		// The drain's closeListener may have run here already.
		syscall.Close(mv.fd)
		mv.l.connEnded(mv.traffic)
		return
	}
	c := &loopClient{hl: hl, l: mv.l, traffic: mv.traffic, remote: mv.remote, local: mv.local, backoff: mv.backoff, back: mv.back}
	register := hl.loop.Register
	if mv.fresh {
		register = hl.loop.RegisterReadable // its request is there: read it at once
	}
	if err := register(&c.Socket, mv.fd, c); err != nil {
		hl.log.Warn("event loop: connection not taken", "client", mv.remote, "err", err)
		syscall.Close(mv.fd)
		mv.l.connEnded(mv.traffic)
		return
	}
	hl.clients++
	c.ipText = mv.remote.Addr().Unmap().AppendTo(nil)
	if len(mv.buffered) > 0 {
		c.Preload(mv.buffered)
	}
	if !mv.fresh {
		hl.set.stats.adopted.Add(1) // a move from a goroutine; a new connection is not one
	}
	// The registration reports what is already waiting on the socket.
	hl.awaitHead(c)
}

// adoptIdle takes idle member connections from a goroutine.
func (hl *httpLoop) adoptIdle(members []loopIdle) {
	for _, mi := range members {
		u := &loopMember{hl: hl, state: mi.state}
		if hl.loop.Register(&u.Socket, mi.fd, u) != nil {
			syscall.Close(mi.fd)
			continue
		}
		hl.putIdle(u, mi.since)
	}
}

// Ready is evloop's: the client is read for a request head or its body,
// or written its response. While the member has the whole request it is
// not read, as on the goroutine path: a client gone shows when the
// response is written.
func (c *loopClient) Ready(writable bool) {
	switch c.phase {
	case phaseHead:
		c.hl.readRequest(c)
	case phaseBody:
		c.hl.sendBody(c)
	case phaseWrite:
		if writable {
			c.hl.writeResponse(c)
		}
	case phaseStream:
		if writable {
			c.hl.stream(c)
		}
	}
}

// Expire is evloop's: a timeout in the loop goes to the goroutine path,
// which answers it (408, 504), or closes an idle connection.
func (c *loopClient) Expire() {
	switch {
	case c.phase == phaseHead && len(c.In) > 0:
		c.hl.handOff(c, handoffTimeout)
	case c.phase == phaseBody:
		// The member not taking the body (the goroutine path answers
		// 504), or the client not sending it.
		member := c.up.Pending() || c.reqEnd < len(c.In) || (c.pipe != nil && c.pipe.data > 0)
		c.hl.handOffSent(c, handoffTimeout, member, !member)
	case c.phase == phaseAwait:
		c.hl.handOffExchange(c, true)
	case c.phase == phaseStream:
		c.hl.streamExpired(c)
	default:
		c.hl.closeClient(c)
	}
}

// Abort is evloop's: the loop stops.
func (c *loopClient) Abort() { c.hl.closeClient(c) }

// Ready is evloop's: an idle connection that turns readable was closed by
// its member, or broke keep-alive; either way it cannot carry a request. A
// busy one sends its request and reads the response.
func (u *loopMember) Ready(writable bool) {
	c := u.client
	if c == nil {
		if u.Readable() || u.Hup() {
			u.hl.dropIdle(u)
		}
		return
	}
	if u.connecting {
		if !writable {
			return
		}
		u.hl.connected(c, u)
		if c = u.client; c == nil {
			return // handed over
		}
	}
	if c.phase == phaseBody {
		// A member may answer before it has the whole body (nginx's
		// "return 200" does): the response is read, and relayed once the
		// body is sent.
		if u.Readable() {
			u.hl.readResponse(c, u)
		}
		if writable && u.client == c && c.phase == phaseBody {
			u.hl.sendBody(c)
		}
		return
	}
	if writable && u.Pending() {
		if err := u.Flush(); err != nil {
			u.hl.handOffExchange(c, false)
			return
		}
	}
	if !u.Pending() && u.Readable() {
		if c.phase == phaseStream {
			u.hl.stream(c)
			return
		}
		u.hl.readResponse(c, u)
	}
}

// Expire is evloop's: a connect the loop started ran out of the pool's
// timeout_member_connect, or an idle connection reached idleUpstreamTTL
// after it became idle.
func (u *loopMember) Expire() {
	if u.connecting {
		u.hl.connectFailed(u.client, u, errConnectTimeout)
		return
	}
	u.hl.dropIdle(u)
}

// Abort is evloop's: the loop stops.
func (u *loopMember) Abort() {
	if u.client != nil {
		u.hl.closeClient(u.client) // and u with it
		return
	}
	u.hl.dropIdle(u)
}

// awaitHead starts waiting for the client's next request. A client with
// nothing read ahead waits without a buffer.
func (hl *httpLoop) awaitHead(c *loopClient) {
	c.ReleaseIn()
	c.phase = phaseHead
	c.scan = http1.HeadScan{}
	c.SetTimeout(c.l.cfg.Load().clientTimeout)
	hl.readRequest(c)
}

func (hl *httpLoop) readRequest(c *loopClient) {
	for {
		if skip, end, ok := c.scan.Next(c.In); ok {
			hl.startExchange(c, skip, end)
			return
		}
		if !c.Readable() && (c.In == nil || len(c.In) < cap(c.In)) {
			return
		}
		switch c.Read() {
		case evloop.ReadNone:
			return
		case evloop.ReadFull:
			hl.handOff(c, handoffRequest) // a head this long is the goroutine path's to take or refuse
			return
		case evloop.ReadEOF:
			if len(c.In) > 0 {
				hl.handOff(c, handoffRequest) // it answers a truncated head
			} else {
				hl.closeClient(c)
			}
			return
		}
	}
}

// startExchange forwards a request the loop can serve, or hands the
// connection back.
func (hl *httpLoop) startExchange(c *loopClient, skip, end int) {
	req := &c.req
	req.Reset()
	req.Buf = append(req.Buf, c.In[skip:end]...)
	if req.ParseRequest() != nil || !http1.Decide(req, nil, http1.Conditions{}).Fast {
		hl.handOff(c, handoffRequest)
		return
	}
	cfg := c.l.cfg.Load()
	p, ans := route(cfg, req, nil)
	if ans != nil || p == nil || !p.enabled.Load() || p.proxyVersion() > 0 || p.tls.Load() != nil {
		// lbd's own answers, PROXY pools' private member connections
		// and tls_enabled pools' TLS ones are the goroutine path's.
		hl.handOff(c, handoffRequest)
		return
	}
	m, err := p.pick(c.remote, req)
	if err != nil {
		hl.handOff(c, handoffRequest)
		return
	}
	now := hl.loop.Now()
	c.reqEnd = end
	c.cfg, c.p, c.m = cfg, p, m
	c.start, c.connect = now, 0
	c.status, c.bytesOut, c.response = 0, 0, 0
	c.phase = phaseAwait
	u := hl.takeIdle(m.State)
	if u == nil {
		hl.releaseHead(c)
		hl.connect(c)
		return
	}
	hl.sendRequest(c, u, true)
}

// releaseHead gives the client's buffer back to the loop while its
// request waits for the member connection the loop opens, when all the
// buffer holds is the request's head (no body, nothing pipelined): the
// head is in req.Buf. A burst of new clients, each waiting for a connect,
// held 16 KiB each: 80 MB for make bench's 5000, the most of lbd's peak
// memory there (issue 22). connectFailed puts the head back for the
// goroutine path.
func (hl *httpLoop) releaseHead(c *loopClient) {
	if c.req.ContentLength > 0 || len(c.In) != c.reqEnd {
		return
	}
	c.In, c.reqEnd = c.In[:0], 0
	c.ReleaseIn()
}

// sendRequest sends c's request to its member on u, a connection idle in
// the loop (reused) or one it just opened.
func (hl *httpLoop) sendRequest(c *loopClient, u *loopMember, reused bool) {
	cfg, p, m, req := c.cfg, c.p, c.m, &c.req
	c.up, u.client = u, c
	// The head goes out with as much of the body as came with it and
	// fits the member connection's buffer; sendBody relays the rest.
	w := u.Writer()
	writeRequestHead(w, cfg, p, req, c.ipText, nil, false)
	end := c.reqEnd
	c.body = max(req.ContentLength, 0)
	first := min(c.body, int64(len(c.In)-end), int64(cap(*w)-len(*w)))
	*w = append(*w, c.In[end:end+int(first)]...)
	total := len(*w)
	err := u.Flush()
	if err != nil && c.body > 0 && len(u.Unsent()) == total {
		// Not a byte of a request with a body reached the member, whose
		// connection was dead: the goroutine path takes the request from
		// its head, and makes sure of its member connection before it
		// sends a body, which cannot be replayed.
		u.client, c.up, c.m = nil, nil, nil
		u.Close()
		m.Release()
		hl.handOff(c, handoffRequest)
		return
	}
	c.sent = hl.loop.Now()
	c.SetTimeout(cfg.memberTimeout)
	cfg.traffic.Requests.Add(1)
	m.Traffic.Requests.Add(1)
	if reused {
		m.Traffic.Reuses.Add(1)
	}
	n := uint64(len(req.Buf))
	cfg.traffic.BytesIn.Add(n)
	m.Traffic.BytesIn.Add(n)
	hl.tookBody(c, int(first))
	// The head is in req.Buf now, the body's first bytes with the member:
	// unless more of the body or a pipelined request follows, the
	// client's buffer goes back to the loop while the member answers (16
	// KiB for each exchange in flight: 80 MB with 5000 clients).
	if len(c.In) == c.reqEnd {
		c.In, c.reqEnd = c.In[:0], 0
		c.ReleaseIn()
	}
	if err != nil {
		hl.handOffExchange(c, false)
		return
	}
	if c.body > 0 {
		c.phase = phaseBody
		hl.sendBody(c)
	}
}

// readResponse reads the member's answer and relays it when it is whole.
func (hl *httpLoop) readResponse(c *loopClient, u *loopMember) {
	for {
		if u.respEnd == 0 {
			if skip, end, ok := u.scan.Next(u.In); ok && !hl.frameResponse(c, u, skip, end) {
				return
			}
		}
		if u.respEnd > 0 && len(u.In) >= u.respTotal {
			if c.phase == phaseBody {
				return // relayed once the body is sent (sendBody)
			}
			hl.relay(c, u)
			return
		}
		if u.respEnd > 0 && u.respTotal > cap(u.In) {
			if c.phase == phaseBody {
				// A long answer before the request body's end: the
				// goroutine path relays both at once.
				hl.handOffExchange(c, false)
				return
			}
			hl.startStream(c, u) // longer than the buffer: the head now, the body as it comes
			return
		}
		switch u.Read() {
		case evloop.ReadNone:
			return
		case evloop.ReadEOF, evloop.ReadFull:
			hl.handOffExchange(c, false)
			return
		}
	}
}

// frameResponse parses the response head u.In[skip:end] and notes where
// the response ends; it hands the exchange over, and reports false, when
// the loop cannot relay it.
func (hl *httpLoop) frameResponse(c *loopClient, u *loopMember, skip, end int) bool {
	resp := &u.resp
	resp.Reset()
	resp.Buf = append(resp.Buf, u.In[skip:end]...)
	if resp.ParseResponse() != nil {
		hl.handOffExchange(c, false)
		return false
	}
	c.d = http1.Decide(&c.req, resp, http1.Conditions{Draining: c.l.draining.Load()})
	if !c.d.Fast {
		hl.handOffExchange(c, false) // interim, chunked, until close or long: the goroutine path streams it
		return false
	}
	u.respEnd, u.respTotal = end, end+int(c.d.Length)
	return true
}

// relay writes a whole response to the client and frees the member
// connection.
func (hl *httpLoop) relay(c *loopClient, u *loopMember) {
	headEnd, total := u.respEnd, u.respTotal
	now := hl.answered(c, u, total-headEnd)
	w := c.Writer()
	writeResponseHead(w, c.cfg, c.p, c.m, &c.req, &u.resp, c.d, &c.scratch)
	w.Write(u.In[headEnd:total])
	hl.freeMember(c, u, c.d.MemberKeep && len(u.In) == total, now)
	c.phase = phaseWrite
	c.SetTimeout(c.cfg.clientTimeout)
	// Counted before the client can see the response, so that whoever
	// reads the counter after the response sees it.
	hl.set.stats.served.Add(1)
	hl.writeResponse(c)
}

// answered accounts for the response head u holds, body bytes of it
// counted out now: the member's verdict and response time, the status and
// byte counters. It returns the loop's time.
func (hl *httpLoop) answered(c *loopClient, u *loopMember, body int) time.Time {
	resp, cfg, m, now := &u.resp, c.cfg, c.m, hl.loop.Now()
	m.Traffic.ResponseTime.Observe(now.Sub(c.sent))
	if resp.Status >= 500 {
		m.Observer().ServerError()
	} else {
		m.Observer().Success()
	}
	m.Traffic.CountResponse(resp.Status)
	cfg.traffic.CountResponse(resp.Status)
	n := uint64(len(resp.Buf) + body)
	cfg.traffic.BytesOut.Add(n)
	m.Traffic.BytesOut.Add(n)
	c.status, c.bytesOut, c.response = resp.Status, int64(n), now.Sub(c.sent)
	return now
}

// freeMember ends u's part in c's exchange: it goes idle if reuse, else
// it is closed.
func (hl *httpLoop) freeMember(c *loopClient, u *loopMember, reuse bool, now time.Time) {
	u.In = u.In[:0]
	u.ReleaseIn()
	u.scan = http1.HeadScan{}
	u.respEnd, u.respTotal = 0, 0
	u.client = nil
	c.up = nil
	if reuse {
		hl.putIdle(u, now)
	} else {
		u.Close()
	}
}

// writeResponse goes on writing the response. Once it is written the
// exchange ends, as on the goroutine path, and the client may send its
// next request.
func (hl *httpLoop) writeResponse(c *loopClient) {
	err := c.Flush()
	if err == nil && c.Pending() {
		return // the socket is full: on with the next EPOLLOUT
	}
	hl.endExchange(c, err)
}

// endExchange ends an exchange whose response was written to the client,
// or failed to be (err).
func (hl *httpLoop) endExchange(c *loopClient, err error) {
	m := c.m
	m.Release()
	c.m = nil
	now := hl.loop.Now()
	c.cfg.traffic.RequestTime.Observe(now.Sub(c.start))
	if c.cfg.access != nil {
		term := accesslog.Normal
		if err != nil {
			term = accesslog.Term(accesslog.CauseClient, accesslog.PhaseData)
		}
		hl.logExchange(c, m, now, term)
	}
	if err != nil {
		m.Traffic.ClientAborts.Add(1)
		hl.closeClient(c)
		return
	}
	if !c.d.ClientKeep || c.l.draining.Load() {
		hl.closeClient(c)
		return
	}
	c.In = c.In[:copy(c.In, c.In[c.reqEnd:])]
	hl.awaitHead(c)
}

// logExchange writes the access log line of the exchange c served from m,
// which ended at end so. The loop sent the request as soon as its head was
// in, on a kept-alive member connection (connect time 0) or one it opened.
func (hl *httpLoop) logExchange(c *loopClient, m *balancer.Member, end time.Time, term accesslog.Termination) {
	rec := &hl.rec
	c.cfg.beginRecord(rec, accesslog.HTTP, c.start, c.remote)
	setRequestLine(rec, &c.req)
	setMember(rec, m)
	rec.Status, rec.BytesIn, rec.BytesOut = c.status, int64(len(c.req.Buf))+max(c.req.ContentLength, 0)-c.body, c.bytesOut
	rec.WaitRequest, rec.Connect, rec.Response, rec.Total = 0, c.connect, c.response, end.Sub(c.start)
	if c.status == 0 {
		rec.Response = accesslog.NoTime
	}
	rec.Termination = term
	c.cfg.access.Log(rec)
}
