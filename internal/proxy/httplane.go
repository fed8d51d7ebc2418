package proxy

import (
	"bytes"
	"net"
	"syscall"
	"time"

	"lbd/internal/balancer"
)

// The HTTP exchange as the event loop runs it: a bodyless request whose
// member has an idle connection in the loop, answered with a response of
// known length that fits laneBufSize. Everything else goes to the goroutine
// path, which can do it all (see lanehandoff.go).

type lanePhase int

const (
	phaseHead  lanePhase = iota // waiting for a request head
	phaseAwait                  // the request is (being) sent; waiting for the response
	phaseWrite                  // the response is being written
)

// headScan finds the end of a message head in a growing buffer the way
// msgHead.readHead reads one: empty lines before the start line are
// skipped, and the head ends at the first empty line ("\r\n" or "\n").
type headScan struct {
	skip    int  // bytes of empty lines before the start line
	pos     int  // where the next line starts
	started bool // the start line began at skip
}

// next scans what b added since the last call: the head is b[skip:end]
// when ok.
func (s *headScan) next(b []byte) (skip, end int, ok bool) {
	for !s.started {
		switch {
		case s.skip < len(b) && b[s.skip] == '\n':
			s.skip++
		case s.skip+1 < len(b) && b[s.skip] == '\r' && b[s.skip+1] == '\n':
			s.skip += 2
		case s.skip < len(b) && (b[s.skip] != '\r' || s.skip+1 < len(b)):
			s.started, s.pos = true, s.skip
		default:
			return 0, 0, false
		}
	}
	for {
		i := bytes.IndexByte(b[s.pos:], '\n')
		if i < 0 {
			return 0, 0, false
		}
		line := b[s.pos : s.pos+i+1]
		s.pos += i + 1
		if s.pos-len(line) > s.skip && (len(line) == 1 || (len(line) == 2 && line[0] == '\r')) {
			return s.skip, s.pos, true
		}
	}
}

// adopt takes a client connection from a goroutine, with its idle member
// connections.
func (el *eventLoop) adopt(mv *laneMove) {
	for _, mi := range mv.members {
		u := &laneConn{fd: mi.fd, member: true, state: mi.state, since: mi.since}
		if el.register(u) != nil {
			syscall.Close(mi.fd)
			continue
		}
		el.putIdle(u, mi.since)
	}
	c := &laneConn{fd: mv.fd, l: mv.l, traffic: mv.traffic, remote: mv.remote, backoff: mv.backoff}
	if len(mv.buffered) > 0 {
		c.in = append(el.bufs.get(), mv.buffered...)
	}
	c.ipText = mv.remote.Addr().Unmap().AppendTo(nil)
	if err := el.register(c); err != nil {
		el.log.Warn("event loop: connection not taken", "client", mv.remote, "err", err)
		syscall.Close(c.fd)
		mv.l.connEnded(mv.traffic)
		return
	}
	c.slot = len(el.clients)
	el.clients = append(el.clients, c)
	el.stats.adopted.Add(1)
	// The registration reports what is already waiting on the socket.
	el.awaitHead(c)
}

// ready handles an epoll event for a socket of the loop.
func (el *eventLoop) ready(c *laneConn, events uint32) {
	if events&(syscall.EPOLLIN|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
		c.readable = true
	}
	if events&(syscall.EPOLLRDHUP|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
		c.rdhup = true
	}
	writable := events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) != 0
	if c.member {
		el.memberReady(c, writable)
	} else {
		el.clientReady(c, writable)
	}
}

func (el *eventLoop) clientReady(c *laneConn, writable bool) {
	switch c.phase {
	case phaseHead:
		el.readRequest(c)
	case phaseWrite:
		if writable {
			el.writeResponse(c)
		}
	}
	// phaseAwait: the client is read after the response, as the goroutine
	// path does; a client gone shows when the response is written.
}

func (el *eventLoop) memberReady(u *laneConn, writable bool) {
	c := u.client
	if c == nil {
		// Idle: data or a FIN means the member closed it, or broke
		// keep-alive; either way it cannot carry a request.
		if u.readable || u.rdhup {
			el.dropIdle(u)
		}
		return
	}
	if writable && len(u.out) > 0 {
		if err := el.flush(u); err != nil {
			el.handOffExchange(c, false)
			return
		}
	}
	if len(u.out) == 0 && u.readable {
		el.readResponse(c, u)
	}
}

// awaitHead starts waiting for the client's next request. A client with
// nothing read ahead waits without a buffer.
func (el *eventLoop) awaitHead(c *laneConn) {
	el.releaseIn(c)
	c.phase = phaseHead
	c.scan = headScan{}
	cfg := c.l.cfg.Load()
	c.deadline = deadlineAfter(el.now, cfg.clientTimeout)
	el.readRequest(c)
}

func deadlineAfter(now time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return now.Add(d)
}

func (el *eventLoop) readRequest(c *laneConn) {
	for {
		if skip, end, ok := c.scan.next(c.in); ok {
			el.startExchange(c, skip, end)
			return
		}
		if !c.readable && (c.in == nil || len(c.in) < cap(c.in)) {
			return
		}
		switch el.read(c) {
		case readNone:
			return
		case readFull:
			el.handOff(c, handoffRequest) // a head this long is the goroutine path's to take or refuse
			return
		case readEOF:
			if len(c.in) > 0 {
				el.handOff(c, handoffRequest) // it answers a truncated head
			} else {
				el.closeClient(c)
			}
			return
		}
	}
}

// startExchange forwards a request the loop can serve, or hands the
// connection back.
func (el *eventLoop) startExchange(c *laneConn, skip, end int) {
	req := &c.req
	req.reset()
	req.buf = append(req.buf, c.in[skip:end]...)
	if req.parseRequest() != nil || req.chunked || req.contentLength > 0 || (req.connUpgrade && req.hasUpgrade) {
		el.handOff(c, handoffRequest)
		return
	}
	cfg := c.l.cfg.Load()
	p := cfg.pool
	if p == nil || !p.enabled.Load() {
		el.handOff(c, handoffRequest)
		return
	}
	m, err := p.bal.PickExcept(c.remote, nil)
	if err != nil {
		el.handOff(c, handoffRequest)
		return
	}
	u := el.takeIdle(m.State)
	if u == nil {
		// The goroutine path connects to m, and brings the connection back.
		el.handOffPicked(c, m, p)
		return
	}
	c.reqEnd = end
	c.cfg, c.m, c.up = cfg, m, u
	// A draining listener answers what it received, then closes.
	c.keep = ((req.minor >= 1 && !req.connClose) || (req.minor == 0 && req.connKeepAlive && !req.connClose)) && !c.l.draining.Load()
	c.start, c.sent = el.now, el.now
	c.phase = phaseAwait
	c.deadline = deadlineAfter(el.now, cfg.memberTimeout)
	u.client = c
	cfg.traffic.Requests.Add(1)
	m.Traffic.Requests.Add(1)
	m.Traffic.Reuses.Add(1)
	n := uint64(len(req.buf))
	cfg.traffic.BytesIn.Add(n)
	m.Traffic.BytesIn.Add(n)

	writeRequestHead(el.writeBuf(), req, cfg, c.ipText, false)
	el.takeWritten(u)
	if err := el.flush(u); err != nil {
		el.handOffExchange(c, false)
	}
}

// readResponse reads the member's answer and relays it when it is whole.
func (el *eventLoop) readResponse(c, u *laneConn) {
	for {
		if u.respEnd == 0 {
			if skip, end, ok := u.scan.next(u.in); ok && !el.frameResponse(c, u, skip, end) {
				return
			}
		}
		if u.respEnd > 0 && len(u.in) >= u.respTotal {
			el.relay(c, u)
			return
		}
		switch el.read(u) {
		case readNone:
			return
		case readEOF, readFull:
			el.handOffExchange(c, false)
			return
		}
	}
}

// frameResponse parses the response head u.in[skip:end] and notes where
// the response ends; it hands the exchange over, and reports false, when
// the loop cannot relay it.
func (el *eventLoop) frameResponse(c, u *laneConn, skip, end int) bool {
	resp := &u.resp
	resp.reset()
	resp.buf = append(resp.buf, u.in[skip:end]...)
	if resp.parseResponse() != nil || resp.status < 200 || resp.status == 101 || resp.chunked {
		el.handOffExchange(c, false)
		return false
	}
	body := resp.contentLength
	if string(c.req.method) == "HEAD" || resp.status == 204 || resp.status == 304 {
		body = 0
	}
	if body < 0 || int64(end)+body > laneBufSize {
		el.handOffExchange(c, false) // until close, or long: the goroutine path streams it
		return false
	}
	u.respEnd, u.respTotal = end, end+int(body)
	return true
}

// relay writes a whole response to the client and frees the member
// connection.
func (el *eventLoop) relay(c, u *laneConn) {
	resp, cfg, m := &u.resp, c.cfg, c.m
	headEnd, total := u.respEnd, u.respTotal
	m.Traffic.ResponseTime.Observe(el.now.Sub(c.sent))
	if resp.status >= 500 {
		m.Observer().ServerError()
	} else {
		m.Observer().Success()
	}
	m.Traffic.CountResponse(resp.status)
	cfg.traffic.CountResponse(resp.status)
	n := uint64(len(resp.buf) + total - headEnd)
	cfg.traffic.BytesOut.Add(n)
	m.Traffic.BytesOut.Add(n)

	sink := el.writeBuf()
	writeResponseHead(sink, resp, c.req.minor, false, c.keep, el.scratch[:0])
	sink.b = append(sink.b, u.in[headEnd:total]...)
	el.takeWritten(c)

	reuse := resp.minor >= 1 && !resp.connClose && len(u.in) == total
	u.in = u.in[:0]
	el.releaseIn(u)
	u.scan = headScan{}
	u.respEnd, u.respTotal = 0, 0
	u.client = nil
	c.up = nil
	if reuse {
		el.putIdle(u, el.now)
	} else {
		el.closeSocket(u)
	}
	c.phase = phaseWrite
	c.deadline = deadlineAfter(el.now, cfg.clientTimeout)
	// Counted before the client can see the response, so that whoever
	// reads the counter after the response sees it.
	el.stats.served.Add(1)
	el.writeResponse(c)
}

// writeResponse goes on writing the response. Once it is written the
// exchange ends, as on the goroutine path, and the client may send its
// next request.
func (el *eventLoop) writeResponse(c *laneConn) {
	err := el.flush(c)
	if err == nil && len(c.out) > 0 {
		return // the socket is full: on with the next EPOLLOUT
	}
	m := c.m
	m.Release()
	c.m = nil
	c.cfg.traffic.RequestTime.Observe(el.now.Sub(c.start))
	if err != nil {
		m.Traffic.ClientAborts.Add(1)
		el.closeClient(c)
		return
	}
	if !c.keep || c.l.draining.Load() {
		el.closeClient(c)
		return
	}
	c.in = c.in[:copy(c.in, c.in[c.reqEnd:])]
	el.awaitHead(c)
}

// handOff gives the client connection to the goroutine path between
// requests, and makes it wait longer before it comes back.
func (el *eventLoop) handOff(c *laneConn, why handoffReason) {
	el.stats.handoffs[why].Add(1)
	h := &laneHandoff{buffered: c.in, backoff: nextBackoff(c.backoff),
		expired: c.phase == phaseHead && isPast(el.now, c.deadline)}
	el.toGoroutine(c, h)
}

// handOffPicked gives the client connection to the goroutine path because
// the loop has no idle connection to m, the member picked for its request:
// the goroutine path opens one and brings it back, at no cost in backoff.
func (el *eventLoop) handOffPicked(c *laneConn, m *balancer.Member, p *pool) {
	el.stats.handoffs[handoffConnect].Add(1)
	el.toGoroutine(c, &laneHandoff{buffered: c.in, backoff: c.backoff, picked: m, pickedFrom: p})
}

// handOffExchange gives the client connection and its exchange in progress
// to the goroutine path, which reads the response from where the loop is.
func (el *eventLoop) handOffExchange(c *laneConn, expired bool) {
	if expired {
		el.stats.handoffs[handoffTimeout].Add(1)
	} else {
		el.stats.handoffs[handoffResponse].Add(1)
	}
	u := c.up
	x := &laneExchange{cfg: c.cfg, m: c.m, memberRead: u.in, head: append([]byte(nil), c.req.buf...),
		clientKeep: c.keep, expired: expired, start: c.start, sent: c.sent}
	mc, err := el.release(u)
	c.m, c.up = nil, nil
	if err != nil {
		el.log.Warn("event loop: member connection not handed over", "member", x.m.Addr, "err", err)
		x.m.Traffic.MemberAborts.Add(1)
		x.m.Release()
		el.closeClient(c)
		return
	}
	x.member = mc
	h := &laneHandoff{buffered: c.in[c.reqEnd:], backoff: nextBackoff(c.backoff), ex: x}
	el.toGoroutine(c, h)
}

// release takes a socket out of the loop and gives it to Go's poller. Its
// buffers go with it, to the goroutine the caller hands them to, never
// back to the loop's laneBufs.
func (el *eventLoop) release(c *laneConn) (*net.TCPConn, error) {
	el.unregister(c)
	nc, err := attach(c.fd)
	c.fd = -1
	c.in, c.wbuf, c.out = nil, nil, nil
	return nc, err
}

// nextBackoff is the laneBackoff of a connection the loop hands back for
// anything but a missing member connection.
func nextBackoff(b int) int { return min(max(1, 2*b), 64) }

func (el *eventLoop) toGoroutine(c *laneConn, h *laneHandoff) {
	h.home = el
	el.removeClient(c)
	nc, err := el.release(c)
	if err != nil {
		el.log.Warn("event loop: client connection not handed over", "client", c.remote, "err", err)
		if x := h.ex; x != nil {
			x.m.Release()
			x.member.Close()
		}
		if h.picked != nil {
			h.picked.Release()
		}
		c.l.connEnded(c.traffic)
		return
	}
	go c.l.resumeHTTP(nc, c.traffic, c.remote, h)
}

// closeClient closes a client connection of the loop.
func (el *eventLoop) closeClient(c *laneConn) {
	if u := c.up; u != nil {
		u.client = nil
		el.closeSocket(u)
		c.up = nil
	}
	if m := c.m; m != nil {
		if c.phase == phaseWrite {
			m.Traffic.ClientAborts.Add(1) // a response the client stopped taking
		}
		m.Release()
		c.m = nil
	}
	el.removeClient(c)
	el.closeSocket(c)
	c.l.connEnded(c.traffic)
}

func (el *eventLoop) removeClient(c *laneConn) {
	last := el.clients[len(el.clients)-1]
	el.clients[c.slot] = last
	last.slot = c.slot
	el.clients[len(el.clients)-1] = nil
	el.clients = el.clients[:len(el.clients)-1]
}

// closeListener closes a draining listener's connections: idle ones, or
// all of them.
func (el *eventLoop) closeListener(l *listener, all bool) {
	for i := 0; i < len(el.clients); {
		c := el.clients[i]
		if c.l == l && (all || c.phase == phaseHead) {
			el.closeClient(c)
			continue // the last client moved into slot i
		}
		i++
	}
}

func isPast(now, deadline time.Time) bool { return !deadline.IsZero() && !now.Before(deadline) }

// sweep enforces the timeouts and drops member connections idle too long.
func (el *eventLoop) sweep() {
	for i := 0; i < len(el.clients); {
		c := el.clients[i]
		switch {
		case c.phase == phaseHead && c.l.draining.Load():
			el.closeClient(c)
		case !isPast(el.now, c.deadline):
			i++
			continue
		case c.phase == phaseHead && len(c.in) > 0:
			el.handOff(c, handoffTimeout) // the goroutine path answers 408
		case c.phase == phaseAwait:
			el.handOffExchange(c, true) // and 504 here
		default:
			el.closeClient(c)
		}
	}
	for st, list := range el.idle {
		keep := list[:0]
		for _, u := range list {
			if el.now.Sub(u.since) < idleUpstreamTTL {
				keep = append(keep, u)
			} else {
				el.closeSocket(u)
				el.idleDirty = true
			}
		}
		clear(list[len(keep):])
		if len(keep) == 0 {
			delete(el.idle, st)
		} else {
			el.idle[st] = keep
		}
	}
	if el.idleDirty {
		el.idleDirty = false
		counts := make(map[*balancer.State]int, len(el.idle))
		for st, list := range el.idle {
			counts[st] = len(list)
		}
		el.idleCounts.Store(&counts)
	}
	el.bufs.trim()
}

// takeIdle returns the most recently used idle connection to a member.
func (el *eventLoop) takeIdle(st *balancer.State) *laneConn {
	list := el.idle[st]
	for len(list) > 0 {
		u := list[len(list)-1]
		list[len(list)-1] = nil
		list = list[:len(list)-1]
		if el.now.Sub(u.since) < idleUpstreamTTL && !u.readable && !u.rdhup {
			el.idle[st] = list
			el.idleDirty = true
			return u
		}
		el.closeSocket(u)
	}
	delete(el.idle, st)
	el.idleDirty = true
	return nil
}

func (el *eventLoop) putIdle(u *laneConn, since time.Time) {
	list := el.idle[u.state]
	if len(list) >= maxIdlePerMember {
		el.closeSocket(u)
		return
	}
	u.since = since
	el.idle[u.state] = append(list, u)
	el.idleDirty = true
}

// dropIdle closes an idle member connection the member closed.
func (el *eventLoop) dropIdle(u *laneConn) {
	list := el.idle[u.state]
	for i, x := range list {
		if x == u {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			el.idle[u.state] = list[:len(list)-1]
			break
		}
	}
	el.closeSocket(u)
	el.idleDirty = true
}
