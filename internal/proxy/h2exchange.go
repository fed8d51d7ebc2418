package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"lbd/internal/accesslog"
	"lbd/internal/balancer"
	"lbd/internal/proxy/http1"
)

// An HTTP/2 stream forwarded: the request, as net/http's HTTP/2 server
// decoded it, becomes an HTTP/1.1 head that http1 parses and lbd's rules
// (route, Decide, writeRequestHead with the listener's insert_headers)
// handle as any other; the member's HTTP/1.1 response goes back as the
// stream's headers and DATA, through http1's body copier.

// h2exchange is one stream's exchange and what it reuses from stream to
// stream (pooled).
type h2exchange struct {
	req, resp http1.Head
	p         *pool
	bw        *bufio.Writer // to the stream's ResponseWriter
	buf       []byte        // for bodies copied past bw
	scratch   []byte        // a persistence cookie being inserted
	lr        requestLog
	rec       accesslog.Record
}

var h2exchangePool = sync.Pool{New: func() any {
	return &h2exchange{bw: bufio.NewWriterSize(nil, 16<<10)}
}}

// takeIdle is the stream's idleSource: an idle connection to the picked
// member from the pool's shared list.
func (x *h2exchange) takeIdle(m *balancer.Member) *upstreamConn {
	return x.p.idle.get(m.State, time.Now())
}

// serveH2Stream is the HTTP/2 handler: one stream, forwarded.
func (rt *Runtime) serveH2Stream(w http.ResponseWriter, r *http.Request) {
	hc, _ := r.Context().Value(h2ConnKey{}).(*h2Conn)
	if hc == nil {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	cfg := hc.l.cfg.Load()
	start := time.Now()
	cfg.traffic.Requests.Add(1)
	x := h2exchangePool.Get().(*h2exchange)
	x.lr.reset()
	defer func() {
		if cfg.access != nil {
			x.log(r, hc, cfg, start)
		}
		x.p = nil
		x.lr.member = nil
		x.bw.Reset(nil)
		h2exchangePool.Put(x)
	}()
	if r.Method == http.MethodConnect {
		// Extended CONNECT (WebSocket over HTTP/2) is not offered, and
		// lbd tunnels nothing else.
		h2Error(w, r, cfg, http.StatusNotImplemented)
		return
	}
	// A stream that ended with its headers (or said content-length: 0)
	// has no body: ContentLength 0.
	hasBody := r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
	if err := x.buildRequest(r, hasBody); err != nil {
		cfg.traffic.RequestErrors.Add(1)
		h2Error(w, r, cfg, http1.ErrorStatus(err))
		return
	}
	p, ans := route(cfg, &x.req, tlsInfo(hc.st.peer))
	if ans != nil {
		x.lr.status = h2Answer(w, cfg, ans, &x.req)
		return
	}
	if p == nil {
		h2Error(w, r, cfg, http.StatusServiceUnavailable)
		return
	}
	x.p = p
	x.forward(w, r, hc, cfg, hasBody)
	cfg.traffic.RequestTime.Observe(time.Since(start))
	hc.noteStream(r.Context().Err() != nil)
}

// buildRequest renders r as an HTTP/1.1 request head and parses it, so
// that it is held to the same rules as one that came as HTTP/1.1. Cookie
// fields split across HTTP/2 header fields are joined (RFC 9113 §8.2.3).
// The framing is lbd's: Content-Length when known, chunked otherwise.
func (x *h2exchange) buildRequest(r *http.Request, hasBody bool) error {
	x.req.Reset()
	b := x.req.Buf
	b = append(b, r.Method...)
	b = append(b, ' ')
	b = append(b, r.RequestURI...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, r.Host...)
	b = append(b, "\r\n"...)
	for name, vals := range r.Header {
		switch name {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Proxy-Connection", "Upgrade", "Te":
			continue
		case "Cookie":
			b = append(b, "Cookie: "...)
			for i, v := range vals {
				if i > 0 {
					b = append(b, "; "...)
				}
				b = append(b, v...)
			}
			b = append(b, "\r\n"...)
			continue
		}
		for _, v := range vals {
			b = append(b, name...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	switch {
	case hasBody && r.ContentLength >= 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, r.ContentLength, 10)
		b = append(b, "\r\n"...)
	case hasBody:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		b = append(b, "Content-Length: 0\r\n"...)
	}
	b = append(b, "\r\n"...)
	x.req.Buf = b
	if len(b) > http1.MaxHeadBytes {
		return http1.ErrHeadTooLarge
	}
	return x.req.ParseRequest()
}

// forward sends the request to a member of x.p and relays the response.
func (x *h2exchange) forward(w http.ResponseWriter, r *http.Request, hc *h2Conn, cfg *listenerConfig, hasBody bool) {
	ctx := r.Context()
	if ctx.Err() != nil {
		return // reset before it was forwarded (rapid reset): nothing to do
	}
	// Connects are bounded by their timeout, not by the client: a stream
	// reset while its member connection is being made must not count
	// against the member.
	// The member session persistence names, when it may take the request
	// (the one rule, persist.go, as for HTTP/1.1).
	first, _ := x.p.pick(hc.remote, &x.req) // none ready: connect's last resorts
	connecting := time.Now()
	mc, err := x.p.connect(context.Background(), &connectRequest{src: hc.remote, dst: hc.local, tls: hc.st.peer, req: &x.req, timeout: cfg.connectTimeout, first: first, idle: x})
	if err != nil {
		x.lr.term = accesslog.Term(accesslog.CauseServer, accesslog.PhaseConnect)
		x.lr.status = http.StatusServiceUnavailable
		h2Error(w, r, cfg, http.StatusServiceUnavailable)
		return
	}
	m, uc := mc.m, mc.reused
	x.lr.connect = 0 // a kept-alive connection, as HAProxy counts it
	if uc == nil {
		x.lr.connect = time.Since(connecting)
		uc = newUpstreamConn(mc.conn, m.State, x.p.proxyVersion() > 0)
	} else {
		m.Traffic.Reuses.Add(1)
	}
	defer func() {
		if m != nil {
			m.Release()
		}
	}()
	var bodyDone chan error
	var sent time.Time
	for retried := false; ; retried = true {
		uc.tc.setTimeouts(cfg.memberTimeout, cfg.memberTimeout)
		m.Traffic.Requests.Add(1)
		// A stream the client resets stops waiting for its member.
		conn := uc.tc.Conn
		stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
		writeRequestHead(uc.bw, cfg, x.p, &x.req, hc.ipText, hc.st.peer, false)
		n := uint64(len(x.req.Buf))
		cfg.traffic.BytesIn.Add(n)
		m.Traffic.BytesIn.Add(n)
		err := uc.bw.Flush()
		if err == nil && hasBody {
			bodyDone = make(chan error, 1)
			go x.sendBody(w, r, uc, cfg, m, bodyDone)
		}
		sent = time.Now()
		if err == nil {
			err = x.readResponseHead(uc)
		}
		if !stop() && err == nil {
			// The stream was reset as its response head arrived: the
			// deadline that stops the wait may land on the connection at
			// any moment, and must not on one back in the idle pool.
			err = errClientGone
		}
		if err == nil {
			break
		}
		if bodyDone != nil {
			closeRead(uc.tc.Conn)
			uc.close()
			<-bodyDone
			bodyDone = nil
		}
		uc.close()
		if ctx.Err() != nil {
			m.Traffic.ClientAborts.Add(1)
			x.lr.member, x.lr.term = m, accesslog.Term(accesslog.CauseClient, accesslog.PhaseHeaders)
			return
		}
		if retried || hasBody || len(x.resp.Buf) > 0 || isTimeout(err) || !(uc.used || http1.Idempotent(x.req.Method)) {
			if isTimeout(err) {
				m.Observer().ConnectFailure()
			}
			m.Traffic.MemberAborts.Add(1)
			status := gatewayStatus(err)
			m.Traffic.CountResponse(status)
			x.lr.member, x.lr.status, x.lr.term = m, status, termination(err, accesslog.PhaseHeaders)
			h2Error(w, r, cfg, status)
			return
		}
		// A pooled connection the member closed while idle: once more on a
		// fresh one, another member's if one is ready.
		failed := m
		if !uc.used {
			failed.Observer().ConnectFailure()
		}
		connecting := time.Now()
		mc, err := x.p.connect(context.Background(), &connectRequest{src: hc.remote, dst: hc.local, tls: hc.st.peer, req: &x.req, timeout: cfg.connectTimeout, avoid: failed})
		failed.Release()
		if err != nil {
			m = nil
			x.lr.status, x.lr.term = http.StatusServiceUnavailable, accesslog.Term(accesslog.CauseServer, accesslog.PhaseConnect)
			h2Error(w, r, cfg, http.StatusServiceUnavailable)
			return
		}
		m, uc = mc.m, newUpstreamConn(mc.conn, mc.m.State, x.p.proxyVersion() > 0)
		x.lr.connect = time.Since(connecting)
	}
	x.lr.response = time.Since(sent)
	x.lr.member, x.lr.status = m, x.resp.Status
	m.Traffic.ResponseTime.Observe(x.lr.response)
	if x.resp.Status >= 500 {
		m.Observer().ServerError()
	} else {
		m.Observer().Success()
	}
	keep, err := x.relay(w, uc, cfg, m, hc)
	if bodyDone != nil {
		if !finishStreamedBody(bodyDone, uc) {
			keep = false
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, errClientGone):
		m.Traffic.ClientAborts.Add(1)
	default:
		m.Traffic.MemberAborts.Add(1)
	}
	x.lr.term = termination(err, accesslog.PhaseData)
	if keep && err == nil && uc.br.Buffered() == 0 {
		uc.used = true
		x.p.idle.put(uc, time.Now())
	} else {
		uc.close()
	}
}

// log writes the stream's access log line; its request line names the
// protocol the client spoke (HTTP/2.0, as HAProxy writes it).
func (x *h2exchange) log(r *http.Request, hc *h2Conn, cfg *listenerConfig, start time.Time) {
	rec := &x.rec
	end := time.Now()
	cfg.beginRecord(rec, accesslog.HTTP, start, hc.remote)
	line := make([]byte, 0, len(r.Method)+len(r.RequestURI)+10)
	line = append(append(append(append(line, r.Method...), ' '), r.RequestURI...), " HTTP/2.0"...)
	rec.SetRequestLine(line)
	setMember(rec, x.lr.member)
	rec.Status = x.lr.status
	if rec.Status == 0 && r.Context().Err() == nil {
		rec.Status = http.StatusOK // answered by the handler's own write
	}
	rec.BytesIn, rec.BytesOut = int64(len(x.req.Buf)), int64(x.lr.counts.out.Load())
	rec.WaitRequest, rec.Connect, rec.Response, rec.Total = 0, x.lr.connect, x.lr.response, end.Sub(start)
	rec.Termination = x.lr.term
	if r.Context().Err() != nil && rec.Termination == accesslog.Normal {
		rec.Termination = accesslog.Term(accesslog.CauseClient, accesslog.PhaseRequest)
	}
	setTLS(rec, hc.st.peer)
	cfg.access.Log(rec)
}

// readResponseHead reads the final response head; interim responses are
// dropped (net/http's HTTP/2 server answers Expect: 100-continue itself).
func (x *h2exchange) readResponseHead(uc *upstreamConn) error {
	for {
		if err := x.resp.ReadHead(uc.br); err != nil {
			return fmt.Errorf("read response head: %w", err)
		}
		if err := x.resp.ParseResponse(); err != nil {
			return fmt.Errorf("parse response head: %w", err)
		}
		switch {
		case x.resp.Status == 101:
			return errors.New("101 Switching Protocols without an upgrade request")
		case x.resp.Status >= 200:
			return nil
		}
	}
}

// relay writes the response's headers and body to the stream; keep
// reports whether the member connection may carry another request.
func (x *h2exchange) relay(w http.ResponseWriter, uc *upstreamConn, cfg *listenerConfig, m *balancer.Member, hc *h2Conn) (keep bool, err error) {
	d := http1.Decide(&x.req, &x.resp, http1.Conditions{Draining: hc.l.draining.Load()})
	h := w.Header()
	var ins http1.Inserted
	x.resp.EndToEndInserted(persisted(x.p, m, &x.req, &x.resp, &ins, &x.scratch), func(name, value []byte) { h.Add(string(name), string(value)) })
	w.WriteHeader(x.resp.Status)
	m.Traffic.CountResponse(x.resp.Status)
	cfg.traffic.CountResponse(x.resp.Status)
	n := uint64(len(x.resp.Buf))
	cfg.traffic.BytesOut.Add(n)
	m.Traffic.BytesOut.Add(n)
	x.lr.counts.out.Add(n)
	fw := &flushWriter{w: w, rc: http.NewResponseController(w)}
	x.bw.Reset(fw)
	if x.buf == nil {
		x.buf = make([]byte, 32<<10)
	}
	bc := http1.BodyCopier{
		Dst: x.bw, Src: uc.br, Splice: &h2splicer{dst: fw, src: &uc.tc, buf: x.buf},
		ReadFail: errMemberFailed, WriteFail: errClientGone,
		Counters: [3]*atomic.Uint64{&cfg.traffic.BytesOut, &m.Traffic.BytesOut, &x.lr.counts.out},
	}
	switch d.Body {
	case http1.BodyFixed:
		err = bc.Fixed(d.Length)
	case http1.BodyChunked:
		err = bc.Chunked(false) // decoded: HTTP/2 frames the body itself
	case http1.BodyUntilClose:
		err = bc.UntilClose()
	}
	if err == nil {
		// The rest goes with the end of the stream, in its last DATA frame,
		// when the handler returns.
		fw.last = true
		if ferr := x.bw.Flush(); ferr != nil {
			err = fmt.Errorf("%w: %w", errClientGone, ferr)
		}
	}
	return d.MemberKeep && d.Body != http1.BodyUntilClose, err
}

// sendBody streams the request body to the member, chunked when its
// length is unknown, while the response is read: a member may answer
// before it has read it all. Each read from the client waits at most
// timeout_client_data.
func (x *h2exchange) sendBody(w http.ResponseWriter, r *http.Request, uc *upstreamConn, cfg *listenerConfig, m *balancer.Member, done chan<- error) {
	rc := http.NewResponseController(w)
	buf := make([]byte, 16<<10)
	chunked := r.ContentLength < 0
	var err error
	for {
		if cfg.clientTimeout > 0 {
			rc.SetReadDeadline(time.Now().Add(cfg.clientTimeout))
		}
		n, rerr := r.Body.Read(buf)
		if n > 0 {
			if chunked {
				uc.bw.WriteString(strconv.FormatInt(int64(n), 16))
				uc.bw.WriteString("\r\n")
			}
			uc.bw.Write(buf[:n])
			if chunked {
				uc.bw.WriteString("\r\n")
			}
			cfg.traffic.BytesIn.Add(uint64(n))
			m.Traffic.BytesIn.Add(uint64(n))
			if err = uc.bw.Flush(); err != nil {
				err = fmt.Errorf("%w: %w", errMemberFailed, err)
				break
			}
		}
		if rerr == io.EOF {
			if chunked {
				uc.bw.WriteString("0\r\n\r\n")
			}
			if ferr := uc.bw.Flush(); ferr != nil {
				err = fmt.Errorf("%w: %w", errMemberFailed, ferr)
			}
			break
		}
		if rerr != nil {
			err = fmt.Errorf("%w: %w", errClientGone, rerr)
			// The member will never see the end of the body.
			closeRead(uc.tc.Conn)
			break
		}
	}
	done <- err
}

// finishStreamedBody waits, at most bodyGrace, for a request body still
// being sent once the response is complete; it reports whether the body
// reached the member whole.
func finishStreamedBody(done <-chan error, uc *upstreamConn) bool {
	t := time.NewTimer(bodyGrace)
	defer t.Stop()
	select {
	case err := <-done:
		return err == nil
	case <-t.C:
		uc.close()
		<-done
		return false
	}
}

// h2Error answers a stream with lbd's own short error.
func h2Error(w http.ResponseWriter, r *http.Request, cfg *listenerConfig, status int) {
	body := http1.ErrorBody(status)
	h := w.Header()
	h.Set("Content-Type", "text/plain")
	h.Set("Cache-Control", "no-cache")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		io.WriteString(w, body)
	}
	cfg.traffic.CountResponse(status)
}

// flushWriter writes to a stream and sends what it wrote at once: the
// body copier's buffer decides when (full, or before it waits on the
// member). The last write is not flushed: it leaves with the stream's end.
type flushWriter struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	last bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil && !f.last {
		err = f.rc.Flush()
	}
	return n, err
}

// h2splicer is the body copier's Splicer for a stream: a plain copy, as
// there is no socket on the client's side to splice to.
type h2splicer struct {
	dst io.Writer
	src io.Reader
	buf []byte
}

func (s *h2splicer) Splice(n int64, counters [3]*atomic.Uint64) error {
	var src io.Reader = s.src
	if n >= 0 {
		src = io.LimitReader(s.src, n)
	}
	for {
		k, rerr := src.Read(s.buf)
		if k > 0 {
			if _, err := s.dst.Write(s.buf[:k]); err != nil {
				return fmt.Errorf("%w: %w", errClientGone, err)
			}
			for _, c := range counters {
				if c != nil {
					c.Add(uint64(k))
				}
			}
		}
		if rerr == io.EOF {
			if n >= 0 && s.src != src && src.(*io.LimitedReader).N > 0 {
				return fmt.Errorf("%w: %w", errMemberFailed, io.ErrUnexpectedEOF)
			}
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("%w: %w", errMemberFailed, rerr)
		}
	}
}

// h2Answer writes an L7 policy's own answer (REJECT, a redirect) to a
// stream: what an HTTP/1.1 client gets (writeAnswer, the one rule), taken
// apart into the stream's status, fields and body. It returns the status.
func h2Answer(w http.ResponseWriter, cfg *listenerConfig, a *answer, req *http1.Head) int {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	status := writeAnswer(bw, a, req, true)
	bw.Flush()
	br := bufio.NewReader(&buf)
	var resp http1.Head
	if err := resp.ReadHead(br); err != nil || resp.ParseResponse() != nil {
		w.WriteHeader(http.StatusInternalServerError)
		return http.StatusInternalServerError
	}
	h := w.Header()
	resp.EndToEnd(func(name, value []byte) { h.Add(string(name), string(value)) })
	w.WriteHeader(resp.Status)
	io.Copy(w, br)
	cfg.traffic.CountResponse(status)
	return status
}
