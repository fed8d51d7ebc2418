package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"lbd/internal/balancer"
	"lbd/internal/stats"
)

const clientBufSize = 16 << 10

// httpConn is one client connection of an HTTP listener and everything it
// reuses from request to request. Instances are pooled.
type httpConn struct {
	l      *listener
	st     *connState
	client timedConn
	br     *bufio.Reader
	bw     *bufio.Writer
	remote netip.AddrPort
	ipText []byte // the client address, for X-Forwarded-For
	req    msgHead
	resp   msgHead
	// cache holds this client's own idle member connections, so keep-alive
	// traffic reuses them without touching the pool's shared, locked list.
	cache   [4]*upstreamConn
	scratch [32]byte
	traffic *stats.Traffic // the listener's counters the connection was accepted under
	// picked is the member the event loop picked for the request it handed
	// over, from pickedFrom; acquired, so it must be used or released.
	picked     *balancer.Member
	pickedFrom *pool
	home       *eventLoop   // the loop the connection came from, if any
	prefix     prefixReader // bytes the event loop read, served before the socket's
	// laneStreak counts exchanges in a row the event loop could have served;
	// the connection moves there once it exceeds laneBackoff, which grows
	// each time the loop had to hand it back.
	laneStreak, laneBackoff int
	// ex is the exchange in progress, kept here so that it is not
	// allocated per request.
	ex exchange
}

var httpConnPool = sync.Pool{New: func() any {
	hc := &httpConn{}
	hc.br = bufio.NewReaderSize(nil, clientBufSize)
	hc.bw = bufio.NewWriterSize(nil, clientBufSize)
	return hc
}}

// serveHTTP serves one client connection: requests one after the other,
// each parsed once, forwarded to a member over a keep-alive connection, and
// the response streamed back. from, when set, is a connection the event loop
// handed over, with what it had read and maybe an exchange in progress. It
// reports whether the connection moved to the event loop, which then owns
// it.
func serveHTTP(l *listener, c *net.TCPConn, remote netip.AddrPort, st *connState, traffic *stats.Traffic, from *laneHandoff) (moved bool) {
	hc := httpConnPool.Get().(*httpConn)
	hc.l, hc.st, hc.remote, hc.traffic = l, st, remote, traffic
	hc.client = timedConn{TCPConn: c}
	hc.br.Reset(&hc.client)
	hc.bw.Reset(&hc.client)
	hc.ipText = remote.Addr().Unmap().AppendTo(hc.ipText[:0])
	hc.laneBackoff, hc.laneStreak = 0, 0
	defer func() {
		hc.takePicked(nil)
		hc.home = nil
		hc.releaseCache()
		hc.br.Reset(nil)
		hc.bw.Reset(nil)
		hc.prefix = prefixReader{}
		hc.l, hc.st, hc.client, hc.ex, hc.traffic = nil, nil, timedConn{}, exchange{}, nil
		httpConnPool.Put(hc)
	}()
	if from != nil {
		if !hc.resume(from) {
			return false
		}
	}
	for {
		cfg := l.cfg.Load()
		hc.client.setTimeouts(cfg.clientTimeout, cfg.clientTimeout)
		if hc.laneStreak > hc.laneBackoff && hc.moveToLane() {
			return true
		}
		// Armed before the connection shows as idle, so a drain's wake-up
		// deadline (wakeIdle) cannot be pushed back by the arming.
		hc.client.beginHead()
		st.idle.Store(true)
		if l.draining.Load() {
			return false
		}
		err := hc.req.readHead(hc.br)
		hc.client.endHead()
		st.idle.Store(false)
		keep := hc.serveRequest(err)
		hc.takePicked(nil) // not used: the request failed before a member was needed
		if !keep {
			return false
		}
	}
}

// serveRequest serves the request whose head was just read (or failed to
// be, with err) and reports whether the connection may carry another.
func (hc *httpConn) serveRequest(err error) bool {
	cfg := hc.l.cfg.Load() // the config may have changed while the connection was idle
	if err != nil {
		if len(hc.req.buf) > 0 || errors.Is(err, errHeadTooLarge) {
			cfg.traffic.RequestErrors.Add(1)
			hc.writeError(headErrorStatus(err), false)
		}
		return false
	}
	start := time.Now()
	cfg.traffic.Requests.Add(1)
	if err := hc.req.parseRequest(); err != nil {
		cfg.traffic.RequestErrors.Add(1)
		hc.writeError(headErrorStatus(err), false)
		return false
	}
	keep := hc.forward(cfg)
	cfg.traffic.RequestTime.Observe(time.Since(start))
	return keep && !hc.l.draining.Load()
}

func headErrorStatus(err error) int {
	switch {
	case errors.Is(err, errHeadTooLarge):
		return 431
	case errors.Is(err, errBadVersion):
		return 505
	case errors.Is(err, errUnsupportedTE):
		return 501
	case isTimeout(err):
		return 408
	default:
		return 400
	}
}

// forward sends the parsed request to a member and its response back. It
// reports whether the client connection may carry another request.
func (hc *httpConn) forward(cfg *listenerConfig) bool {
	req := &hc.req
	clientKeep := (req.minor >= 1 && !req.connClose) || (req.minor == 0 && req.connKeepAlive && !req.connClose)
	hasBody := req.chunked || req.contentLength > 0
	upgrade := req.connUpgrade && req.hasUpgrade
	p := cfg.pool
	if p == nil {
		hc.writeError(503, clientKeep && !hasBody)
		return clientKeep && !hasBody
	}

	m, raw, uc, err := p.connect(context.Background(), hc.remote, cfg.connectTimeout, hc.reuse(p), nil, hc.takePicked(p))
	if err != nil {
		hc.writeError(503, clientKeep && !hasBody)
		return clientKeep && !hasBody
	}
	if uc == nil {
		uc = newUpstreamConn(raw, m.State)
	} else {
		m.Traffic.Reuses.Add(1)
	}
	uc.tc.setTimeouts(cfg.memberTimeout, cfg.memberTimeout)
	if uc.used && hasBody && !alive(uc) {
		// A body cannot be replayed, so make sure of a pooled connection first.
		uc.close()
		raw, err := dialMember(context.Background(), m.Addr, cfg.connectTimeout)
		if err != nil {
			m.Traffic.ConnectErrors.Add(1)
			m.Release()
			hc.writeError(503, false)
			return false
		}
		m.Traffic.Connections.Add(1)
		uc = newUpstreamConn(raw, m.State)
		uc.tc.setTimeouts(cfg.memberTimeout, cfg.memberTimeout)
	}
	m.Traffic.Requests.Add(1)

	ex := &hc.ex
	*ex = exchange{hc: hc, cfg: cfg, m: m, uc: uc, upgrade: upgrade, clientKeep: clientKeep, hasBody: hasBody}
	return hc.finish(ex.run(false, time.Time{}))
}

// finish accounts for an exchange that ended, and reports whether the
// client connection may carry another request.
func (hc *httpConn) finish(keep bool, err error) bool {
	ex := &hc.ex
	m := ex.m // a retry may have moved the request to another member
	m.Release()
	switch {
	case err == nil:
	case errors.Is(err, errClientGone):
		m.Traffic.ClientAborts.Add(1)
	default:
		m.Traffic.MemberAborts.Add(1)
		ex.cfg.log.Debug("request failed", "client", hc.remote, "member", m.Addr, "err", err)
	}
	hc.noteLaneFit(keep && err == nil && ex.laneFit)
	return keep
}

// takePicked returns the member the event loop picked for the request, if
// it belongs to p, and releases it otherwise (the config changed).
func (hc *httpConn) takePicked(p *pool) *balancer.Member {
	m := hc.picked
	if m == nil {
		return nil
	}
	hc.picked = nil
	if hc.pickedFrom != p {
		m.Release()
		return nil
	}
	return m
}

// reuse returns the callback pool.connect uses to find an idle connection
// to the picked member: first this client's own, then the pool's.
func (hc *httpConn) reuse(p *pool) func(*balancer.Member) *upstreamConn {
	return func(m *balancer.Member) *upstreamConn {
		now := time.Now()
		for i, uc := range hc.cache {
			if uc != nil && uc.state == m.State {
				hc.cache[i] = nil
				if now.Sub(uc.idleSince) < idleUpstreamTTL {
					return uc
				}
				uc.close()
			}
		}
		return p.idle.get(m.State, now)
	}
}

// keepUpstream caches a connection that finished its exchange cleanly. The
// oldest cached connection moves to the shared pool when the cache is full.
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

// releaseCache hands the cached connections to their pools when the client
// connection ends.
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

// alive checks that a pooled connection has not been closed by its member
// while idle: a read that would block means alive; EOF or stray data means
// not.
func alive(uc *upstreamConn) bool {
	if uc.br.Buffered() > 0 {
		return false
	}
	var b [1]byte
	uc.tc.TCPConn.SetReadDeadline(time.Unix(1, 0))
	_, err := uc.tc.TCPConn.Read(b[:])
	uc.tc.forget()
	return err != nil && errors.Is(err, os.ErrDeadlineExceeded)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// errClientGone marks a failure on the client's side: nothing to answer.
var errClientGone = errors.New("client connection failed")

// writeError answers with a short plain-text error.
func (hc *httpConn) writeError(status int, keep bool) {
	body := errorBodies[status]
	if body == "" {
		body = "Error.\n"
	}
	w := hc.bw
	w.WriteString("HTTP/1.1 ")
	w.Write(strconv.AppendInt(hc.scratch[:0], int64(status), 10))
	w.WriteByte(' ')
	w.WriteString(statusText[status])
	w.WriteString("\r\nContent-Type: text/plain\r\nCache-Control: no-cache\r\nContent-Length: ")
	w.Write(strconv.AppendInt(hc.scratch[:0], int64(len(body)), 10))
	if !keep {
		w.WriteString("\r\nConnection: close")
	}
	w.WriteString("\r\n\r\n")
	if hc.req.method == nil || string(hc.req.method) != "HEAD" {
		w.WriteString(body)
	}
	w.Flush()
	if cfg := hc.l.cfg.Load(); cfg != nil {
		cfg.traffic.CountResponse(status)
	}
}

var statusText = map[int]string{
	400: "Bad Request",
	408: "Request Timeout",
	431: "Request Header Fields Too Large",
	501: "Not Implemented",
	502: "Bad Gateway",
	503: "Service Unavailable",
	504: "Gateway Timeout",
	505: "HTTP Version Not Supported",
}

var errorBodies = map[int]string{
	400: "Your browser sent an invalid request.\n",
	408: "Your browser didn't send a complete request in time.\n",
	431: "Request header fields too large.\n",
	501: "Unsupported transfer coding.\n",
	502: "The server returned an invalid or incomplete response.\n",
	503: "No server is available to handle this request.\n",
	504: "The server didn't respond in time.\n",
	505: "HTTP version not supported.\n",
}

var _ io.Writer = (*timedConn)(nil)
