package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"lbd/internal/balancer"
	"lbd/internal/stats"
)

// A keep-alive HTTP client connection moves between two engines. A
// goroutine serves it first, and anything the event loop does not (bodies,
// upgrades, errors, chunked or large responses, a member without an idle
// connection). Once it has served an exchange the loop could have served,
// the goroutine hands the socket, its unread bytes and its idle member
// connections to the loop (moveToLane). The loop hands it back
// (laneHandoff) as soon as a request or response leaves its narrow path;
// laneBackoff keeps a connection that keeps coming back from bouncing.

// laneHandoff is a client connection the event loop hands to a goroutine.
type laneHandoff struct {
	buffered []byte        // read from the client, not yet served
	backoff  int           // the connection's laneBackoff
	expired  bool          // its request head timed out in the loop
	ex       *laneExchange // an exchange the loop started, or nil
	// picked is the member the loop picked for the first buffered request,
	// acquired, from pickedFrom, when it only lacked a connection to it:
	// picking again would skew round robin.
	picked     *balancer.Member
	pickedFrom *pool
	// home is the loop the connection comes back to, where its member
	// connections wait.
	home *eventLoop
}

// laneExchange is a bodyless request the loop sent whose response it did
// not relay: the goroutine path takes it from reading the response on,
// retries and errors included.
type laneExchange struct {
	cfg         *listenerConfig
	m           *balancer.Member // acquired; the goroutine releases it
	member      *net.TCPConn
	memberRead  []byte // response bytes the loop read
	head        []byte // the request head as the client sent it
	clientKeep  bool
	expired     bool // the response timed out in the loop
	start, sent time.Time
}

// resumeHTTP serves a connection the event loop handed back.
func (l *listener) resumeHTTP(c *net.TCPConn, traffic *stats.Traffic, remote netip.AddrPort, h *laneHandoff) {
	st := &connState{}
	l.track(c, st)
	moved := false
	defer func() {
		if !moved {
			l.closeConn(c, traffic)
		}
	}()
	moved = serveHTTP(l, c, remote, st, traffic, h)
}

// resume takes over from the event loop and reports whether the
// connection may carry another request.
func (hc *httpConn) resume(h *laneHandoff) bool {
	hc.laneBackoff = h.backoff
	hc.picked, hc.pickedFrom, hc.home = h.picked, h.pickedFrom, h.home
	if len(h.buffered) > 0 {
		hc.prefix = prefixReader{b: h.buffered, r: &hc.client}
		prefill(hc.br, &hc.prefix, len(h.buffered))
	}
	cfg := hc.l.cfg.Load()
	hc.client.setTimeouts(cfg.clientTimeout, cfg.clientTimeout)
	if h.expired {
		hc.client.expireRead()
	}
	x := h.ex
	if x == nil {
		return true
	}
	hc.req.reset()
	hc.req.buf = append(hc.req.buf, x.head...)
	if err := hc.req.parseRequest(); err != nil {
		// The loop parsed the same bytes; this cannot fail.
		x.m.Release()
		x.member.Close()
		return false
	}
	uc := newUpstreamConn(x.member, x.m.State)
	uc.used = true
	uc.tc.setTimeouts(x.cfg.memberTimeout, x.cfg.memberTimeout)
	if len(x.memberRead) > 0 {
		prefill(uc.br, &prefixReader{b: x.memberRead, r: &uc.tc}, len(x.memberRead))
	}
	if x.expired {
		uc.tc.expireRead()
	}
	ex := &hc.ex
	*ex = exchange{hc: hc, cfg: x.cfg, m: x.m, uc: uc, clientKeep: x.clientKeep}
	keep := hc.finish(ex.run(true, x.sent))
	x.cfg.traffic.RequestTime.Observe(time.Since(x.start))
	return keep && !hc.l.draining.Load()
}

// noteLaneFit counts exchanges in a row the event loop could have served.
func (hc *httpConn) noteLaneFit(fit bool) {
	if fit {
		hc.laneStreak++
	} else {
		hc.laneStreak = 0
	}
}

// moveToLane hands the connection to an event loop, with the bytes read
// ahead and the idle member connections it keeps. It reports false, and
// changes nothing, when there is no loop or the socket cannot be moved.
func (hc *httpConn) moveToLane() bool {
	lanes := hc.l.rt.lanes
	if lanes == nil || hc.l.draining.Load() {
		return false
	}
	fd, err := detach(hc.client.TCPConn)
	if err != nil {
		return false
	}
	mv := &laneMove{
		l: hc.l, traffic: hc.traffic, remote: hc.remote, fd: fd, backoff: hc.laneBackoff,
	}
	if n := hc.br.Buffered(); n > 0 {
		b, _ := hc.br.Peek(n)
		mv.buffered = append([]byte(nil), b...)
	}
	for i, uc := range hc.cache {
		if uc == nil {
			continue
		}
		mfd, err := detach(uc.tc.TCPConn)
		if err != nil {
			continue // stays in the cache, which goes to the shared pool
		}
		mv.members = append(mv.members, laneIdle{fd: mfd, state: uc.state, since: uc.idleSince})
		uc.close()
		hc.cache[i] = nil
	}
	hc.l.untrack(hc.client.TCPConn)
	hc.client.TCPConn.Close()
	lanes.adopt(hc.home, mv)
	return true
}

// laneMove is a client connection on its way to an event loop.
type laneMove struct {
	l        *listener
	traffic  *stats.Traffic
	remote   netip.AddrPort
	fd       int
	buffered []byte
	members  []laneIdle
	backoff  int
}

// laneIdle is an idle member connection on its way to an event loop.
type laneIdle struct {
	fd    int
	state *balancer.State
	since time.Time
}

// detach duplicates a connection's socket for the event loop. The caller
// then closes the connection, which takes it out of Go's poller; the socket
// lives on in the duplicate.
func detach(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("detach socket: %w", err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		fd = int(r)
	}); err != nil {
		return -1, fmt.Errorf("detach socket: %w", err)
	}
	if derr != nil {
		return -1, fmt.Errorf("detach socket: dup: %w", derr)
	}
	return fd, nil
}

// attach turns an event loop's socket into a connection of Go's poller. It
// closes fd either way.
func attach(fd int) (*net.TCPConn, error) {
	f := os.NewFile(uintptr(fd), "lane")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("attach socket: not TCP: %T", c)
	}
	return tc, nil
}

// prefixReader serves bytes read elsewhere before its reader's.
type prefixReader struct {
	b []byte
	r io.Reader
}

func (p *prefixReader) Read(q []byte) (int, error) {
	if len(p.b) > 0 {
		n := copy(q, p.b)
		p.b = p.b[n:]
		return n, nil
	}
	return p.r.Read(q)
}

// prefill resets br onto p and pulls p's n bytes into br's buffer: the body
// copiers splice from the socket once br is empty, so no byte may wait in p.
func prefill(br *bufio.Reader, p *prefixReader, n int) {
	br.Reset(p)
	br.Peek(n)
}
