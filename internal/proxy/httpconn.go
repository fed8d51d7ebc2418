package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"lbd/internal/accesslog"
	"lbd/internal/balancer"
	"lbd/internal/proxy/http1"
	"lbd/internal/proxy/l7"
	"lbd/internal/stats"
)

// The goroutine path serves an HTTP client connection with a goroutine of
// its own: httpConn is the connection and what it reuses from request to
// request, exchange one request forwarded (its steps in httpexchange.go),
// and serveNext (httpserve.go) the loop between them. It can serve anything HTTP/1.1
// allows, over any net.Conn; it knows nothing of the event loops, which
// hand it connections and take them from it (handoff.go).

const clientBufSize = 16 << 10

// httpConn is one client connection served by a goroutine, and everything
// it reuses from request to request. Instances are pooled.
type httpConn struct {
	l       *listener
	st      *connState
	traffic *stats.Traffic // the listener's counters the connection was accepted under
	client  timedConn
	br      *bufio.Reader
	bw      *bufio.Writer
	remote  netip.AddrPort
	local   netip.AddrPort // the address the client reached
	ipText  []byte         // the client address, for X-Forwarded-For
	tls     l7.TLSInfo     // the client's TLS, for SSL L7 rules; nil: plain TCP
	scratch []byte         // a persistence cookie being inserted
	req     http1.Head
	resp    http1.Head
	// cache holds this client's own idle member connections, so keep-alive
	// traffic reuses them without touching the pool's shared, locked list.
	cache  [4]*upstreamConn
	prefix prefixReader // bytes read elsewhere, served before the socket's
	// splices are the splicers' ops, request body and response body,
	// kept so that splicing allocates nothing.
	splices [2]*spliceOp
	// ex is the exchange in progress, kept here so that it is not
	// allocated per request.
	ex exchange
	// What the access log needs: when the connection was accepted (for
	// its first request; zero after), what the request being served came
	// to, and the record it is written into.
	accepted time.Time
	lr       requestLog
	rec      accesslog.Record
}

// requestLog is what an access log line needs of a request that its
// exchange does not keep: the status sent to the client (0: none), the
// member it went to last, the connect and response times, how it ended
// and in which phase, and the bytes each way.
type requestLog struct {
	status            int
	member            *balancer.Member
	connect, response time.Duration
	term              accesslog.Termination
	counts            byteCounts
}

func (lr *requestLog) reset() {
	lr.status, lr.member, lr.term = 0, nil, accesslog.Normal
	lr.connect, lr.response = accesslog.NoTime, accesslog.NoTime
	lr.counts.in.Store(0)
	lr.counts.out.Store(0)
}

// exchange is one request forwarded to one member and its response, on the
// goroutine path.
type exchange struct {
	hc  *httpConn
	cfg *listenerConfig
	p   *pool // where the request was routed
	m   *balancer.Member
	uc  *upstreamConn
	// counts counts the exchange's bytes for its access log line; nil
	// when the listener does not log.
	counts *byteCounts
	// d is what the heads decided: the request's, then the response's
	// once it is in.
	d           http1.Decision
	interim     bool       // interim responses came before the final one
	bodyPending bool       // a final response came before the request body (Expect: 100-continue)
	headSent    bool       // the response head reached the client: errors can only abort
	bodyDone    chan error // a request body streamed in the background, until it ends
	bodyErr     error      // how it ended, once bodyDone said so
	// bodyRead: the streamed body was read from the client to its end
	// (set before its last bytes go to the member, so a response to them
	// finds it set).
	bodyRead atomic.Bool
	// The splicers of the request body (client to member) and the
	// response body (member to client), which may run at once.
	up, down splicer
}

// splicer is the goroutine path's http1.Splicer: spliceN between two timed
// connections, which then re-arm their deadlines. Each side keeps its own
// timeout: the source's for reading, the destination's for writing, so a
// client that stops taking a response is cut after timeout_client_data, a
// member that stops taking a request body after timeout_member_data.
type splicer struct {
	dst, src            *timedConn
	op                  *spliceOp // the connection's own, for this direction
	readFail, writeFail error     // what a failure on each side wraps
}

func (s *splicer) Splice(n int64, counters [3]*atomic.Uint64) error {
	var act activity
	act.touch(time.Now())
	s.op.rsrc, s.op.rdst = s.src.raw, s.dst.raw
	_, err := spliceN(s.dst.Conn, s.src.Conn, n, idles{read: s.src.readTimeout, write: s.dst.writeTimeout}, &act, s.op,
		counters[0], counters[1], counters[2])
	s.src.forgetRead()
	s.dst.forgetWrite()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errCopyWrite):
		return fmt.Errorf("%w: splice body: %w", s.writeFail, err)
	default:
		return fmt.Errorf("%w: splice body: %w", s.readFail, err)
	}
}

var httpConnPool = sync.Pool{New: func() any {
	hc := &httpConn{}
	hc.br = bufio.NewReaderSize(nil, clientBufSize)
	hc.bw = bufio.NewWriterSize(nil, clientBufSize)
	hc.splices = [2]*spliceOp{newSpliceOp(), newSpliceOp()}
	return hc
}}

// newHTTPConn takes a pooled httpConn for c, with the listener's timeouts.
func newHTTPConn(l *listener, c net.Conn, pr peer, st *connState, traffic *stats.Traffic) *httpConn {
	hc := httpConnPool.Get().(*httpConn)
	hc.l, hc.st, hc.remote, hc.local, hc.traffic = l, st, pr.remote, pr.local, traffic
	remote := pr.remote
	hc.client = newTimedConn(c)
	hc.br.Reset(&hc.client)
	hc.bw.Reset(&hc.client)
	hc.ipText = remote.Addr().Unmap().AppendTo(hc.ipText[:0])
	cfg := l.cfg.Load()
	hc.client.setTimeouts(cfg.clientTimeout, cfg.clientTimeout)
	hc.tls = tlsInfo(st.peer)
	return hc
}

// release gives the cached member connections to their pool and hc back to
// the pool of httpConns. The client connection is the caller's to close.
func (hc *httpConn) release() {
	hc.releaseCache()
	hc.br.Reset(nil)
	hc.bw.Reset(nil)
	hc.prefix = prefixReader{}
	hc.l, hc.st, hc.client, hc.ex, hc.traffic, hc.tls = nil, nil, timedConn{}, exchange{}, nil, nil
	hc.accepted, hc.lr.member = time.Time{}, nil
	httpConnPool.Put(hc)
}

// readAhead makes b, bytes of the connection read elsewhere, come before
// what the socket has.
func (hc *httpConn) readAhead(b []byte) {
	if len(b) > 0 {
		hc.prefix = prefixReader{b: b, r: &hc.client}
		prefill(hc.br, &hc.prefix, len(b))
	}
}

// expireRead makes the next request head's read time out at once: the
// client already had its timeout elsewhere.
func (hc *httpConn) expireRead() { hc.client.expireRead() }

// handOver gives up what the connection holds besides its socket, for
// another engine to take over: the bytes read ahead, and the idle member
// connections it caches, which leave the cache.
func (hc *httpConn) handOver() (buffered []byte, idle []*upstreamConn) {
	if n := hc.br.Buffered(); n > 0 {
		b, _ := hc.br.Peek(n)
		buffered = append([]byte(nil), b...)
	}
	for i, uc := range hc.cache {
		if uc != nil {
			hc.cache[i] = nil
			if uc.private {
				uc.close() // the loop's member connections serve anyone
				continue
			}
			idle = append(idle, uc)
		}
	}
	return buffered, idle
}

// cached takes this client's idle connection to a member from its cache,
// if it has a live one.
func (hc *httpConn) cached(st *balancer.State, now time.Time) *upstreamConn {
	for i, uc := range hc.cache {
		if uc != nil && uc.state == st {
			hc.cache[i] = nil
			if now.Sub(uc.idleSince) < idleUpstreamTTL {
				return uc
			}
			uc.close()
		}
	}
	return nil
}

// keepUpstream caches a connection that finished its exchange cleanly. The
// oldest cached connection moves to p's shared list when the cache is full.
func (hc *httpConn) keepUpstream(p *pool, uc *upstreamConn) {
	now := time.Now()
	uc.idleSince = now
	uc.used = true
	oldest := 0
	for i, c := range hc.cache {
		if c == nil {
			hc.cache[i] = uc
			return
		}
		if c.idleSince.Before(hc.cache[oldest].idleSince) {
			oldest = i
		}
	}
	p.idle.put(hc.cache[oldest], now)
	hc.cache[oldest] = uc
}

// releaseCache hands the cached connections to the listener's pool when the
// client connection ends.
func (hc *httpConn) releaseCache() {
	cfg := hc.l.cfg.Load()
	now := time.Now()
	for i, uc := range hc.cache {
		if uc == nil {
			continue
		}
		hc.cache[i] = nil
		if cfg.pool != nil {
			cfg.pool.idle.put(uc, now)
		} else {
			uc.close()
		}
	}
}

// writeError answers with lbd's own short plain-text error.
func (hc *httpConn) writeError(status int, keep bool) {
	before := hc.bw.Buffered()
	http1.WriteError(hc.bw, status, keep, string(hc.req.Method) == "HEAD")
	hc.lr.status = status
	hc.lr.counts.out.Add(uint64(hc.bw.Buffered() - before))
	hc.bw.Flush()
	if cfg := hc.l.cfg.Load(); cfg != nil {
		cfg.traffic.CountResponse(status)
	}
}

// alive checks that a pooled connection has not been closed by its member
// while idle: a read that would block means alive; EOF or stray data means
// not.
func alive(uc *upstreamConn) bool {
	if uc.br.Buffered() > 0 {
		return false
	}
	var b [1]byte
	uc.tc.Conn.SetReadDeadline(time.Unix(1, 0))
	_, err := uc.tc.Conn.Read(b[:])
	uc.tc.forget()
	return err != nil && errors.Is(err, os.ErrDeadlineExceeded)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

var (
	// errClientGone marks a failure on the client's side: nothing to
	// answer.
	errClientGone = errors.New("client connection failed")
	// errMemberFailed marks a failure on the member's side of an exchange.
	errMemberFailed = errors.New("member connection failed")
)

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
