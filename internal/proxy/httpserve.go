package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"lbd/internal/accesslog"
	"lbd/internal/balancer"
	"lbd/internal/proxy/http1"
)

// failedConnect is a member the event loop failed to connect to for the
// next request (not acquired), from the pool it routed the request to: the
// first of pool.connect's attempts, which the goroutine path goes on with.
type failedConnect struct {
	m    *balancer.Member
	from *pool
}

// take returns the member and the attempts it makes if the request goes to
// the same pool (the config may have changed); fc is empty after.
func (fc *failedConnect) take(p *pool) (*balancer.Member, int) {
	m, from := fc.m, fc.from
	*fc = failedConnect{}
	if m == nil || from != p {
		return nil, 0
	}
	return m, 1
}

// serveNext reads the next request and serves it. It reports whether the
// connection may carry another request, and whether the exchange was one
// the event loop serves in its steady state (http1.Decision.Steady). fc is
// a connect the event loop made for this request and that failed.
func (hc *httpConn) serveNext(fc *failedConnect) (keep, steady bool) {
	cfg := hc.l.cfg.Load()
	hc.client.setTimeouts(cfg.clientTimeout, cfg.clientTimeout)
	// Armed before the connection shows as idle, so a drain's wake-up
	// deadline (wakeIdle) cannot be pushed back by the arming.
	hc.client.beginHead()
	hc.st.idle.Store(true)
	if hc.l.draining.Load() {
		return false, false
	}
	err := hc.req.ReadHead(hc.br)
	hc.client.endHead()
	hc.st.idle.Store(false)
	return hc.serveRequest(err, fc)
}

// serveRequest serves the request whose head was just read (or failed to
// be, with err).
func (hc *httpConn) serveRequest(err error, fc *failedConnect) (keep, steady bool) {
	cfg := hc.l.cfg.Load() // the config may have changed while the connection was idle
	hc.lr.reset()
	if err != nil {
		answered := len(hc.req.Buf) > 0 || errors.Is(err, http1.ErrHeadTooLarge)
		if answered {
			cfg.traffic.RequestErrors.Add(1)
			hc.writeError(http1.ErrorStatus(err), false)
		}
		// A connection that closes between requests is not logged; one
		// that never sent a request is, as HAProxy logs it.
		if cfg.access != nil && (answered || !hc.accepted.IsZero()) {
			hc.lr.term = headTermination(err)
			hc.logRequest(cfg, time.Time{}, time.Now(), false)
		}
		return false, false
	}
	start := time.Now()
	cfg.traffic.Requests.Add(1)
	if err := hc.req.ParseRequest(); err != nil {
		if hc.h2cPreface() {
			return false, false // served as HTTP/2 (h2c.go)
		}
		cfg.traffic.RequestErrors.Add(1)
		hc.writeError(http1.ErrorStatus(err), false)
		if cfg.access != nil {
			hc.lr.term = accesslog.Term(accesslog.CauseProxy, accesslog.PhaseRequest)
			hc.logRequest(cfg, start, start, false)
		}
		return false, false
	}
	keep, steady = hc.forward(cfg, fc)
	end := time.Now()
	cfg.traffic.RequestTime.Observe(end.Sub(start))
	if cfg.access != nil {
		hc.logRequest(cfg, start, end, true)
	}
	return keep && !hc.l.draining.Load(), steady
}

// headTermination is the termination state of a request whose head could
// not be read: the client closed, timed out, or sent what lbd refused.
func headTermination(err error) accesslog.Termination {
	switch {
	case isTimeout(err):
		return accesslog.Term(accesslog.CauseClientTimeout, accesslog.PhaseRequest)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET):
		return accesslog.Term(accesslog.CauseClient, accesslog.PhaseRequest)
	}
	return accesslog.Term(accesslog.CauseProxy, accesslog.PhaseRequest)
}

// logRequest writes the access log line of the request served: its head
// was complete at start (zero: it never was), it ended at end; line says
// whether the head parsed, so that its request line can be logged.
func (hc *httpConn) logRequest(cfg *listenerConfig, start, end time.Time, line bool) {
	rec, lr := &hc.rec, &hc.lr
	accepted, wait := start, time.Duration(0)
	if !hc.accepted.IsZero() {
		// The connection's first request: it waited from the accept.
		accepted, wait = hc.accepted, since(hc.accepted, start)
		hc.accepted = time.Time{}
	}
	if start.IsZero() {
		wait = accesslog.NoTime
		if accepted.IsZero() {
			accepted = end
		}
	}
	cfg.beginRecord(rec, accesslog.HTTP, accepted, hc.remote)
	if line {
		setRequestLine(rec, &hc.req)
	} else {
		rec.Pool = accesslog.Object{} // never routed: HAProxy names the frontend as the backend
	}
	setMember(rec, lr.member)
	rec.Status = lr.status
	rec.BytesIn, rec.BytesOut = int64(lr.counts.in.Load()), int64(lr.counts.out.Load())
	if rec.BytesIn == 0 {
		rec.BytesIn = int64(len(hc.req.Buf)) // refused before it was forwarded
	}
	rec.WaitRequest, rec.Connect, rec.Response, rec.Total = wait, lr.connect, lr.response, end.Sub(accepted)
	rec.Termination = lr.term
	setTLS(rec, hc.st.peer)
	cfg.access.Log(rec)
}

// forward sends the parsed request to a member and its response back.
func (hc *httpConn) forward(cfg *listenerConfig, fc *failedConnect) (keep, steady bool) {
	req := &hc.req
	d := http1.Decide(req, nil, http1.Conditions{Draining: hc.l.draining.Load()})
	p, ans := route(cfg, req, hc.tls)
	if ans != nil {
		keep := d.ClientKeep && !d.HasBody // a body nobody reads: the connection ends
		status := writeAnswer(hc.bw, ans, req, keep)
		cfg.traffic.CountResponse(status)
		hc.bw.Flush()
		// As HAProxy logs them: a deny "PR", a redirect "LR".
		hc.lr.status, hc.lr.term = status, accesslog.Term(accesslog.CauseLocal, accesslog.PhaseRequest)
		if status == 403 {
			hc.lr.term = accesslog.Term(accesslog.CauseProxy, accesslog.PhaseRequest)
		}
		return keep, false
	}
	if p == nil {
		hc.writeError(503, d.ClientKeep && !d.HasBody)
		hc.lr.term = accesslog.Term(accesslog.CauseServer, accesslog.PhaseConnect)
		return d.ClientKeep && !d.HasBody, false
	}
	ex := &hc.ex
	*ex = exchange{hc: hc, cfg: cfg, p: p, d: d}
	var connecting time.Time
	if cfg.access != nil {
		ex.counts = &hc.lr.counts
		connecting = time.Now()
	}
	// Retries after the loop's failed connect go to another member, as
	// after a failed first attempt here.
	var first *balancer.Member
	avoid, tried := fc.take(p)
	if avoid == nil {
		first, _ = p.pick(hc.remote, req) // none ready: connect's last resorts
	}
	mc, err := p.connect(context.Background(), &connectRequest{
		src: hc.remote, dst: hc.local, tls: hc.st.peer, req: req, timeout: cfg.connectTimeout, first: first, idle: ex,
		avoid: avoid, tried: tried,
	})
	if err != nil {
		hc.writeError(503, d.ClientKeep && !d.HasBody)
		hc.lr.term = accesslog.Term(accesslog.CauseServer, accesslog.PhaseConnect)
		return d.ClientKeep && !d.HasBody, false
	}
	if !connecting.IsZero() {
		hc.lr.connect = 0 // a kept-alive connection, as HAProxy counts it
		if mc.reused == nil {
			hc.lr.connect = time.Since(connecting)
		}
	}
	m, uc := mc.m, mc.reused
	if uc == nil {
		uc = newUpstreamConn(mc.conn, m.State, p.proxyVersion() > 0)
	} else {
		m.Traffic.Reuses.Add(1)
	}
	uc.tc.setTimeouts(cfg.memberTimeout, cfg.memberTimeout)
	if uc.used && d.HasBody && !alive(uc) {
		// A body cannot be replayed, so make sure of a pooled connection first.
		uc.close()
		raw, err := p.dial(context.Background(), m.Addr, cfg.connectTimeout, peer{hc.remote, hc.local, hc.st.peer})
		if err != nil {
			m.Traffic.ConnectErrors.Add(1)
			m.Release()
			hc.writeError(503, false)
			hc.lr.member, hc.lr.term = m, accesslog.Term(accesslog.CauseServer, accesslog.PhaseConnect)
			return false, false
		}
		m.Traffic.Connections.Add(1)
		uc = newUpstreamConn(raw, m.State, p.proxyVersion() > 0)
		uc.tc.setTimeouts(cfg.memberTimeout, cfg.memberTimeout)
	}
	m.Traffic.Requests.Add(1)
	ex.m, ex.uc = m, uc
	return hc.finish(ex.run())
}

// finish accounts for an exchange that ended: it releases the member and
// reports whether the client connection may carry another request, and
// whether the exchange was steady.
func (hc *httpConn) finish(keep bool, err error) (bool, bool) {
	ex := &hc.ex
	m := ex.m // a retry may have moved the request to another member
	m.Release()
	hc.lr.member = m
	if err != nil {
		phase := byte(accesslog.PhaseHeaders)
		if ex.headSent {
			phase = accesslog.PhaseData
		}
		hc.lr.term = termination(err, phase)
	}
	switch {
	case err == nil:
	case errors.Is(err, errClientGone):
		m.Traffic.ClientAborts.Add(1)
	default:
		m.Traffic.MemberAborts.Add(1)
		ex.cfg.log.Debug("request failed", "client", hc.remote, "member_id", m.ID, "member", m.Name, "member_address", m.Addr, "err", err)
	}
	// A member connection of a PROXY pool serves one client only, as
	// HAProxy keeps it private, and a TLS member connection cannot move
	// into an event loop: neither can the client connection using them.
	return keep, keep && err == nil && ex.d.Steady() && ex.p.proxyVersion() == 0 && ex.p.tls.Load() == nil
}

// sentExchange is a request that another engine (the event loop) sent to
// a member, or is sending the body of, and whose response the goroutine
// path takes over, from reading it on, retries and errors included.
type sentExchange struct {
	cfg         *listenerConfig
	p           *pool            // where the request was routed
	m           *balancer.Member // acquired; the goroutine path releases it
	member      *net.TCPConn
	memberRead  []byte // response bytes already read
	head        []byte // the request head as the client sent it
	expired     bool   // the response timed out already
	start, sent time.Time
	// A request body (Content-Length) being relayed: how much of it the
	// member has yet to be given, which the client connection's buffered
	// bytes start with, and what of it was taken and not yet written to
	// the member.
	body      int64
	memberOut []byte
	// bodyExpired: the client did not send the rest of the body within
	// timeout_client_data, which the loop waited out.
	bodyExpired bool
}

// resume takes over x and reports what serveNext reports.
func (hc *httpConn) resume(x *sentExchange) (keep, steady bool) {
	hc.req.Reset()
	hc.req.Buf = append(hc.req.Buf, x.head...)
	if err := hc.req.ParseRequest(); err != nil {
		// The loop parsed the same bytes; this cannot fail.
		x.m.Release()
		x.member.Close()
		return false, false
	}
	uc := newUpstreamConn(x.member, x.m.State, false) // the loop serves no PROXY pool
	uc.used = true
	uc.tc.setTimeouts(x.cfg.memberTimeout, x.cfg.memberTimeout)
	if len(x.memberRead) > 0 {
		prefill(uc.br, &prefixReader{b: x.memberRead, r: &uc.tc}, len(x.memberRead))
	}
	if x.expired {
		uc.tc.expireRead()
	}
	ex := &hc.ex
	*ex = exchange{hc: hc, cfg: x.cfg, p: x.p, m: x.m, uc: uc,
		d: http1.Decide(&hc.req, nil, http1.Conditions{Draining: hc.l.draining.Load()})}
	hc.lr.reset()
	if x.cfg.access != nil {
		ex.counts = &hc.lr.counts
		hc.lr.connect = 0 // the loop sent it on a kept-alive connection
		hc.lr.counts.in.Store(uint64(int64(len(x.head)) + max(hc.req.ContentLength, 0) - x.body))
	}
	switch {
	case x.bodyExpired:
		// As when the client stalls in the goroutine path's own copy.
		keep, steady = hc.finish(ex.bodyFailed(fmt.Errorf("%w: request body: %w", errClientGone, os.ErrDeadlineExceeded)))
	case x.body > 0 || len(x.memberOut) > 0:
		uc.bw.Write(x.memberOut)
		ex.bodyDone = make(chan error, 1)
		go ex.streamBody(x.body)
		fallthrough
	default:
		keep, steady = hc.finish(ex.await(x.sent))
	}
	end := time.Now()
	x.cfg.traffic.RequestTime.Observe(end.Sub(x.start))
	if x.cfg.access != nil {
		hc.logRequest(x.cfg, x.start, end, true)
	}
	return keep && !hc.l.draining.Load(), steady
}
