package health

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/netip"
	"time"
)

// The prober's inline plain-HTTP check (Octavia type HTTP) goes through
// these phases on one socket of p.socks, waiting in the prober's epoll set
// between them with the phase's deadline in the heap:
//
//	connect  a connect still under way when connect returned (on loopback
//	         or a near member it is over by then, and the request goes out
//	         at once)
//	send     the request, written whole in one call unless the socket is
//	         full
//	recv     the response head: read as it comes until its blank line (or
//	         the end of the stream, or an error), then judged by the same
//	         http.ReadResponse and HTTPChecker.verdict as HTTPChecker.Check
//
// The first read of a response is not waited for in the epoll set: the
// check goes into p.reading, and the prober reads it at the next point of
// its grid, at most batchTick later, when it wakes for the slots due then
// anyway (at 1,000 members at delay 1s, 20 of them). On loopback or a near
// member the response is in by then: no epoll_ctl, and no wake-up of the
// prober for the response, which at 1,000 members a second cost as much
// as the rest of the check. Only a response not in at that first read is
// awaited in the epoll set. A check's recorded duration may so include up
// to batchTick of waiting for the grid; its timeouts do not (the prober
// wakes for a deadline at its time, and reads what came before it judges).
//
// The connection is then reset (connect(AF_UNSPEC)), whatever of the body
// came with the head having been read, and the socket kept for the next
// check. That is how HAProxy closes its checks: it drains what is pending
// with one non-blocking recv and closes with SO_LINGER 0 ("a hard close
// ... otherwise we end up with many TIME_WAITs and eat all the source port
// range quickly", src/checks.c); HTTPChecker.Check, which still serves
// HTTPS and zoned addresses, reads up to 16 KiB of body and closes.
const (
	phaseTCP     uint8 = iota // not an HTTP check: a TCP check's pending connect
	phaseConnect              // the HTTP check's connect is under way
	phaseSend                 // its request is partly written
	phaseRecv                 // it awaits the response head
)

// maxHead bounds the response head an inline check reads; a longer one
// fails the check as malformed.
const maxHead = 16 << 10

// httpState is what an inline HTTP check keeps between events: everything
// but the socket (slot.fd) and the deadline (slot.at).
type httpState struct {
	phase  uint8
	v6     bool      // the socket's family, for p.socks
	polled bool      // the socket is most likely in the epoll set (see connPoller.arm)
	ri     int       // index in p.reading; -1 when not there
	sent   int       // bytes of req written
	respBy time.Time // the response phase's deadline
	head   []byte    // the response so far, when it came in more than one read

	req     []byte // the request, rendered for reqFor and reqTo
	reqFor  *runConfig
	reqTo   netip.AddrPort
	checker *HTTPChecker
}

// httpReader is the prober's parser of response heads, reused from check
// to check.
type httpReader struct {
	buf [maxHead]byte // where a head is read
	rd  bytes.Reader
	br  *bufio.Reader
	req http.Request
}

// parse runs http.ReadResponse over head, as HTTPChecker.Check does over
// the connection.
func (h *httpReader) parse(head []byte, method string) (*http.Response, error) {
	h.rd.Reset(head)
	if h.br == nil {
		h.br = bufio.NewReaderSize(&h.rd, 4096)
	} else {
		h.br.Reset(&h.rd)
	}
	h.req.Method = method
	return http.ReadResponse(h.br, &h.req)
}

// headComplete reports whether b holds a response head's blank line (a
// line ends with LF, with or without CR, as net/textproto reads it).
func headComplete(b []byte) bool {
	return bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\n\r\n"))
}

// startHTTP starts an inline HTTP check of mem. It returns false, having
// done nothing, when the check must go through c.Check instead: a zoned
// address, no epoll set to be had, or not on Linux.
func (p *prober) startHTTP(mem *member, addr netip.AddrPort, c *HTTPChecker) bool {
	if !p.poller() {
		return false
	}
	fd, v6, err := p.socks.open(addr)
	switch err {
	case errConnectUnsupported:
		return false
	case nil, errConnectPending:
	default:
		p.finish(mem, err, time.Now())
		return true
	}
	s := &mem.slot
	h := &s.http
	if h.reqFor != s.rc || h.reqTo != addr {
		h.req = []byte(c.request(orDefault(c.Method, "GET"), addr))
		h.reqFor, h.reqTo = s.rc, addr
	}
	h.checker, h.v6, h.sent, h.head = c, v6, 0, h.head[:0]
	h.polled = true // most likely: p.socks's sockets are kept from check to check, in the set
	s.fd = fd
	if err == errConnectPending {
		h.phase = phaseConnect
		bound := s.rc.budget
		if c.Connect > 0 {
			bound = min(bound, c.Connect)
		}
		p.httpWait(mem, waitWritable, s.start.Add(bound))
		return true
	}
	p.httpSend(mem, time.Now())
	return true
}

// httpSend writes the request, or what is left of it, and waits for the
// response, or for room to write the rest.
func (p *prober) httpSend(mem *member, now time.Time) {
	s := &mem.slot
	h := &s.http
	if h.phase != phaseSend { // connected just now: the response phase starts
		h.respBy = s.start.Add(s.rc.budget)
		if r := h.checker.Response; r > 0 && now.Add(r).Before(h.respBy) {
			h.respBy = now.Add(r)
		}
	}
	n, err := sockSend(s.fd, h.req[h.sent:])
	if err != nil && err != errWouldBlock {
		p.httpEnd(mem, errors.New(describeIOError("send request", err)), true)
		return
	}
	if h.sent += n; h.sent < len(h.req) {
		h.phase = phaseSend
		p.httpWait(mem, waitWritable, h.respBy)
		return
	}
	h.phase = phaseRecv
	p.pending[s.fd] = mem
	s.at = h.respBy
	p.heap.set(mem)
	h.ri = len(p.reading)
	p.reading = append(p.reading, mem)
}

// readResponses reads the responses of the checks in p.reading: those
// whose head is in are judged, the others awaited in the epoll set.
func (p *prober) readResponses() {
	for len(p.reading) > 0 {
		mem := p.reading[len(p.reading)-1]
		p.unread(mem)
		p.httpRead(mem)
		if mem.slot.http.phase == phaseTCP {
			p.tickReads++ // judged: its head was in
		}
	}
}

// unread takes mem out of p.reading.
func (p *prober) unread(mem *member) {
	h := &mem.slot.http
	i := h.ri
	if i < 0 {
		return
	}
	last := len(p.reading) - 1
	if i != last {
		p.reading[i] = p.reading[last]
		p.reading[i].slot.http.ri = i
	}
	p.reading[last] = nil
	p.reading = p.reading[:last]
	h.ri = -1
}

// httpRead reads what has come of the response and judges it once its
// head is whole.
func (p *prober) httpRead(mem *member) {
	s := &mem.slot
	h := &s.http
	buf := append(p.heads.buf[:0], h.head...)
	n, err := sockRead(s.fd, buf[len(buf):cap(buf)])
	switch {
	case err == errWouldBlock:
		p.httpWait(mem, waitReadable, h.respBy)
		return
	case err != nil:
		p.httpEnd(mem, errors.New(describeIOError("response", err)), true)
		return
	}
	buf = buf[:len(buf)+n]
	if n > 0 && !headComplete(buf) {
		if len(buf) == cap(buf) {
			p.httpEnd(mem, errors.New("malformed response: head longer than 16384 bytes"), true)
			return
		}
		h.head = append(h.head[:0], buf...)
		p.httpWait(mem, waitReadable, h.respBy)
		return
	}
	method := orDefault(h.checker.Method, "GET")
	resp, perr := p.heads.parse(buf, method)
	p.httpEnd(mem, h.checker.verdict(resp, perr), true)
}

// httpWait arms mem's socket for one event and puts mem in the heap at
// deadline.
func (p *prober) httpWait(mem *member, events uint32, deadline time.Time) {
	s := &mem.slot
	p.gen++
	if err := p.conns.arm(s.fd, p.gen, events, s.http.polled); err != nil {
		p.httpEnd(mem, errors.New("epoll: "+rootCause(err)), s.http.phase != phaseConnect)
		return
	}
	s.http.polled = true
	s.gen = p.gen
	p.pending[s.fd] = mem
	s.at = deadline
	p.heap.set(mem)
}

// httpEvent moves mem's check on: its socket polled ready.
func (p *prober) httpEvent(mem *member) {
	s := &mem.slot
	switch s.http.phase {
	case phaseConnect:
		if err := pendingError(s.fd); err != nil {
			p.httpEnd(mem, err, false)
			return
		}
		p.httpSend(mem, time.Now())
	case phaseSend:
		p.httpSend(mem, time.Now())
	case phaseRecv:
		p.httpRead(mem)
	}
}

// httpTimeout ends mem's check, whose phase ran out of time.
func (p *prober) httpTimeout(mem *member) {
	switch mem.slot.http.phase {
	case phaseConnect:
		p.httpEnd(mem, errConnectTimeout, false)
	case phaseSend:
		p.httpEnd(mem, errors.New("send request timeout"), true)
	default:
		p.httpEnd(mem, errors.New("response timeout"), true)
	}
}

// httpEnd finishes mem's check with err: the socket is reset and kept when
// connected, closed when its connect never completed.
func (p *prober) httpEnd(mem *member, err error, connected bool) {
	s := &mem.slot
	h := &s.http
	if p.pending[s.fd] == mem {
		delete(p.pending, s.fd)
	}
	p.unread(mem)
	if connected {
		p.socks.release(s.fd, h.v6)
	} else {
		closeSocket(s.fd)
	}
	s.fd, h.phase, h.head = -1, phaseTCP, h.head[:0]
	if cap(h.head) > 1024 {
		h.head = nil // a long head that came in pieces: not kept for each member
	}
	p.finish(mem, err, time.Now())
}
