package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"lbd/internal/balancer"
)

// exchange is one request forwarded to one member and its response.
type exchange struct {
	hc         *httpConn
	cfg        *listenerConfig
	m          *balancer.Member
	uc         *upstreamConn
	upgrade    bool
	clientKeep bool
	hasBody    bool

	laneFit  bool       // the event loop could have served this exchange
	headSent bool       // the response head reached the client: errors can only abort
	noReuse  bool       // the member connection must not carry another request
	bodyDone chan error // a request body streamed in the background, until it ends
}

// copyRequestBody streams the request body to the member.
func (ex *exchange) copyRequestBody() error {
	hc, req := ex.hc, &ex.hc.req
	bc := bodyCopier{
		dst: ex.uc.bw, dstConn: &ex.uc.tc, src: hc.br, srcConn: &hc.client,
		idle: ex.cfg.clientTimeout, readFail: errClientGone, writeFail: errMemberFailed, strict: true,
		counters: [2]*uint64Counter{&ex.cfg.traffic.BytesIn, &ex.m.Traffic.BytesIn},
	}
	if req.chunked {
		return bc.chunked(true, hc.scratch[:0])
	}
	return bc.fixed(req.contentLength)
}

// run performs the exchange and reports whether the client connection may
// carry another request. On failure before the response head was sent the
// client gets 502 or 504; after, the connection is cut. resumed is an
// exchange whose (bodyless) request the event loop sent at sent.
func (ex *exchange) run(resumed bool, sent time.Time) (keep bool, err error) {
	hc, req := ex.hc, &ex.hc.req
	retried := false
	if resumed {
		goto await
	}
send:
	ex.writeRequestHead()
	if ex.hasBody && req.expect100 {
		// The client waits for 100 Continue before sending the body: ask
		// the member first.
		if err := ex.uc.bw.Flush(); err != nil {
			return ex.fail(502, fmt.Errorf("send request head: %w", err))
		}
		proceed, keep, err := ex.awaitContinue()
		if !proceed {
			return keep, err
		}
	}
	if ex.hasBody && req.contentLength >= 0 && int64(hc.br.Buffered()) >= req.contentLength {
		// The whole body is here already (the common small POST): send it
		// with the head.
		if err := ex.copyRequestBody(); err != nil {
			return ex.bodyFailed(err)
		}
	} else if ex.hasBody {
		// Stream the body while reading the response, as HAProxy does: a
		// member may answer before it has read everything (an early 413,
		// or a full-duplex echo), and waiting for the body first would
		// deadlock once the socket buffers fill.
		if err := ex.uc.bw.Flush(); err != nil {
			return ex.fail(502, fmt.Errorf("send request head: %w", err))
		}
		ex.bodyDone = make(chan error, 1)
		go func() {
			err := ex.copyRequestBody()
			if err == nil {
				if ferr := ex.uc.bw.Flush(); ferr != nil {
					err = fmt.Errorf("%w: %w", errMemberFailed, ferr)
				}
			}
			if err != nil && !errors.Is(err, errMemberFailed) {
				// The client's side failed: the member will never see the
				// end of the body, so stop waiting for its answer. Not a
				// deadline, which the reader's lazy re-arming could push
				// back to timeout_member_data: the connection is done.
				ex.uc.tc.CloseRead()
			}
			ex.bodyDone <- err
		}()
	}
	if ex.bodyDone == nil {
		if err := ex.uc.bw.Flush(); err != nil {
			return ex.fail(502, fmt.Errorf("send request: %w", err))
		}
	}
	sent = time.Now()
await:
	if err := ex.readResponseHead(); err != nil {
		if berr := ex.stopBody(); berr != nil && !errors.Is(berr, errMemberFailed) {
			return ex.bodyFailed(berr)
		}
		if !retried && ex.retryable(err) {
			retried = true
			if err := ex.moveToAnotherConnection(); err != nil {
				return ex.fail(503, err)
			}
			goto send
		}
		if isTimeout(err) {
			// A member that takes the request and never answers is as
			// unusable as one that refuses it: passive health counts it,
			// so without an active monitor it stops costing a 504 per
			// request after a few.
			ex.m.Observer().ConnectFailure()
		}
		return ex.fail(gatewayStatus(err), err)
	}
	ex.m.Traffic.ResponseTime.Observe(time.Since(sent))
	if hc.resp.status >= 500 {
		ex.m.Observer().ServerError()
	} else {
		ex.m.Observer().Success()
	}
	return ex.relayResponse(hc)
}

// retryable reports whether a request whose response failed can be sent
// again: only when the member sent nothing back, the request has no body
// (nothing to replay), and either its method is idempotent (RFC 9110
// §9.2.2 lets a proxy retry those) or it went over a pooled connection,
// which the member most likely closed while it was idle. A timeout is not
// retried: the member may still be working on it.
func (ex *exchange) retryable(err error) bool {
	if ex.hasBody || ex.upgrade || len(ex.hc.resp.buf) > 0 || isTimeout(err) {
		return false
	}
	return ex.uc.used || isIdempotent(ex.hc.req.method)
}

func isIdempotent(method []byte) bool {
	switch string(method) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// moveToAnotherConnection drops the failed member connection and connects
// the request anew: to another member when one is ready (redispatch), else
// to a fresh connection to the same one.
func (ex *exchange) moveToAnotherConnection() error {
	failed := ex.m
	ex.uc.close()
	if !ex.uc.used {
		failed.Observer().ConnectFailure() // a fresh connection that died unanswered
	}
	m, raw, uc, err := ex.cfg.pool.connect(context.Background(), ex.hc.remote, ex.cfg.connectTimeout, nil, failed, nil)
	if err != nil {
		return fmt.Errorf("retry after member %s failed: %w", failed.ID, err)
	}
	failed.Release()
	ex.m = m
	if uc == nil {
		uc = newUpstreamConn(raw, m.State)
	}
	uc.tc.setTimeouts(ex.cfg.memberTimeout, ex.cfg.memberTimeout)
	ex.uc = uc
	m.Traffic.Requests.Add(1)
	return nil
}

// bodyGrace is how long a response that is complete waits for the request
// body still being streamed to the member before giving up on it.
const bodyGrace = 2 * time.Second

// finishBody waits for a streamed request body once the response is
// complete. It reports whether the body reached the member whole; if not,
// neither connection can carry another request.
func (ex *exchange) finishBody() bool {
	if ex.bodyDone == nil {
		return true
	}
	t := time.NewTimer(bodyGrace)
	defer t.Stop()
	select {
	case err := <-ex.bodyDone:
		ex.bodyDone = nil
		return err == nil
	case <-t.C:
		// The member answered without reading the whole body.
		ex.stopBody()
		return false
	}
}

// stopBody aborts a request body still being streamed and returns how it
// ended.
func (ex *exchange) stopBody() error {
	if ex.bodyDone == nil {
		return nil
	}
	// The client connection carries no request after an aborted body;
	// CloseRead, unlike a deadline, cannot be re-armed by the copier.
	ex.hc.client.TCPConn.CloseRead()
	ex.uc.close()
	err := <-ex.bodyDone
	ex.bodyDone = nil
	return err
}

// bodyFailed handles a request body that could not be forwarded: malformed
// chunking is the client's error (400), a vanished client needs no answer,
// a failing member is a 502.
func (ex *exchange) bodyFailed(err error) (bool, error) {
	switch {
	case errors.Is(err, errBadChunk) && errors.Is(err, errClientGone):
		ex.cfg.traffic.RequestErrors.Add(1)
		ex.uc.close()
		ex.hc.writeError(400, false)
		return false, err
	case errors.Is(err, errClientGone):
		ex.uc.close()
		return false, err
	}
	return ex.fail(502, err)
}

// fail answers the client with status if nothing was sent yet, drops the
// member connection, and ends the client connection.
func (ex *exchange) fail(status int, err error) (bool, error) {
	ex.stopBody()
	ex.uc.close()
	if errors.Is(err, errClientGone) {
		return false, err
	}
	ex.m.Traffic.CountResponse(status)
	if !ex.headSent {
		ex.hc.writeError(status, false)
	}
	return false, err
}

func gatewayStatus(err error) int {
	if isTimeout(err) {
		return 504
	}
	return 502
}

// writeRequestHead writes the request head for the member and counts it.
func (ex *exchange) writeRequestHead() {
	writeRequestHead(ex.uc.bw, &ex.hc.req, ex.cfg, ex.hc.ipText, ex.upgrade)
	n := uint64(len(ex.hc.req.buf))
	ex.cfg.traffic.BytesIn.Add(n)
	ex.m.Traffic.BytesIn.Add(n)
}

// headWriter is what the head writers need: a *bufio.Writer on the
// goroutine path, a byte slice on the event loop's.
type headWriter interface {
	Write([]byte) (int, error)
	WriteString(string) (int, error)
	WriteByte(byte) error
}

// writeRequestHead writes the request line and fields for the member:
// always HTTP/1.1 with keep-alive, hop-by-hop fields removed (RFC 9110
// §7.6.1), the listener's insert_headers added.
func writeRequestHead(w headWriter, req *msgHead, cfg *listenerConfig, ipText []byte, upgrade bool) {
	w.Write(req.method)
	w.WriteByte(' ')
	w.Write(req.target)
	w.WriteString(" HTTP/1.1\r\n")
	for _, h := range req.headers {
		if req.hopByHop(h.name) ||
			(cfg.xfPort && equalFold(h.name, "x-forwarded-port")) ||
			(cfg.xfProto && equalFold(h.name, "x-forwarded-proto")) {
			continue
		}
		writeField(w, h.name, h.value)
	}
	if req.chunked {
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if req.hosts == 0 {
		// HTTP/1.0 without Host: the member gets HTTP/1.1, which requires
		// one, empty when the authority is unknown (RFC 9112 §3.2).
		w.WriteString("Host: \r\n")
	}
	if upgrade {
		w.WriteString("Connection: Upgrade\r\n")
		for _, h := range req.headers {
			if equalFold(h.name, "upgrade") {
				writeField(w, h.name, h.value)
			}
		}
	}
	if cfg.xff {
		w.WriteString("X-Forwarded-For: ")
		w.Write(ipText)
		w.WriteString("\r\n")
	}
	if cfg.xfPort {
		w.WriteString("X-Forwarded-Port: ")
		w.Write(cfg.portText)
		w.WriteString("\r\n")
	}
	if cfg.xfProto {
		w.WriteString("X-Forwarded-Proto: http\r\n")
	}
	w.WriteString("\r\n")
}

func writeField(w headWriter, name, value []byte) {
	w.Write(name)
	w.WriteString(": ")
	w.Write(value)
	w.WriteString("\r\n")
}

// awaitContinue reads the member's answer to a request with Expect:
// 100-continue. On 100 it tells the client to send the body; on a final
// answer it relays that instead and the body is never read.
func (ex *exchange) awaitContinue() (proceed, keep bool, err error) {
	if err := ex.readResponseHead(); err != nil {
		keep, err := ex.fail(gatewayStatus(err), err)
		return false, keep, err
	}
	if ex.hc.resp.status == 100 {
		return true, false, nil
	}
	// A final response without the body: the client may still send it, so
	// its connection cannot be trusted for another request, nor can the
	// member's.
	ex.clientKeep = false
	ex.noReuse = true
	keep, err = ex.relayResponse(ex.hc)
	return false, keep, err
}

// readResponseHead reads the member's response head, relaying interim
// responses (1xx other than 101) to the client.
func (ex *exchange) readResponseHead() error {
	resp := &ex.hc.resp
	for {
		if err := resp.readHead(ex.uc.br); err != nil {
			return fmt.Errorf("read response head: %w", err)
		}
		if err := resp.parseResponse(); err != nil {
			return fmt.Errorf("parse response head: %w", err)
		}
		if resp.status >= 200 || resp.status == 101 {
			return nil
		}
		if resp.status == 100 && ex.hc.req.expect100 {
			return nil // the caller decides
		}
		// Other interim responses go to HTTP/1.1 clients as they are.
		if ex.hc.req.minor >= 1 {
			w := ex.hc.bw
			w.WriteString("HTTP/1.1 ")
			w.Write(strconv.AppendInt(ex.hc.scratch[:0], int64(resp.status), 10))
			w.WriteByte(' ')
			w.Write(resp.reason)
			w.WriteString("\r\n")
			for _, h := range resp.headers {
				if !resp.hopByHop(h.name) {
					writeField(w, h.name, h.value)
				}
			}
			w.WriteString("\r\n")
			if err := w.Flush(); err != nil {
				return fmt.Errorf("%w: %w", errClientGone, err)
			}
		}
	}
}

// bodyKind is how a message's body is delimited.
type bodyKind int

const (
	bodyNone bodyKind = iota
	bodyFixed
	bodyChunked
	bodyUntilClose
)

// relayResponse sends the response head and streams the body to the
// client, then returns the member connection to the cache when it can carry
// another request.
func (ex *exchange) relayResponse(hc *httpConn) (bool, error) {
	req, resp := &hc.req, &hc.resp
	if resp.status == 101 {
		if !ex.upgrade {
			return ex.fail(502, errors.New("101 Switching Protocols without an upgrade request"))
		}
		return ex.tunnel()
	}
	kind := bodyNone
	switch {
	case string(req.method) == "HEAD" || resp.status == 204 || resp.status == 304:
	case resp.chunked:
		kind = bodyChunked
	case resp.contentLength >= 0:
		kind = bodyFixed
	default:
		kind = bodyUntilClose
	}
	// An HTTP/1.0 client cannot read chunked framing: decode it and
	// delimit the body by closing.
	decode := kind == bodyChunked && req.minor == 0
	keep := ex.clientKeep && kind != bodyUntilClose && !decode
	reuse := resp.minor >= 1 && !resp.connClose && kind != bodyUntilClose && !(resp.chunked && resp.contentLength >= 0)
	ex.laneFit = keep && reuse && !ex.hasBody && !ex.upgrade && !ex.noReuse &&
		(kind == bodyNone || (kind == bodyFixed && int64(len(resp.buf))+resp.contentLength <= laneBufSize))

	ex.writeResponseHead(kind == bodyChunked && !decode, keep)
	ex.headSent = true
	ex.m.Traffic.CountResponse(resp.status)
	ex.cfg.traffic.CountResponse(resp.status)
	headLen := uint64(len(resp.buf))
	ex.cfg.traffic.BytesOut.Add(headLen)
	ex.m.Traffic.BytesOut.Add(headLen)

	var err error
	bc := bodyCopier{
		dst: hc.bw, dstConn: &hc.client, src: ex.uc.br, srcConn: &ex.uc.tc,
		idle: ex.cfg.memberTimeout, readFail: errMemberFailed, writeFail: errClientGone,
		counters: [2]*uint64Counter{&ex.cfg.traffic.BytesOut, &ex.m.Traffic.BytesOut},
	}
	switch kind {
	case bodyFixed:
		err = bc.fixed(resp.contentLength)
	case bodyChunked:
		err = bc.chunked(!decode, hc.scratch[:0])
	case bodyUntilClose:
		err = bc.untilClose()
	}
	if err == nil {
		if ferr := hc.bw.Flush(); ferr != nil {
			err = fmt.Errorf("%w: %w", errClientGone, ferr)
		}
	}
	if err != nil {
		ex.stopBody()
		ex.uc.close()
		return false, err
	}
	if !ex.finishBody() {
		keep, reuse = false, false
	}
	if reuse && !ex.noReuse && ex.uc.br.Buffered() == 0 {
		hc.keepUpstream(ex.cfg.pool, ex.uc)
	} else {
		ex.uc.close()
	}
	return keep, nil
}

// writeResponseHead writes the status line and fields for the client.
func (ex *exchange) writeResponseHead(chunked, keep bool) {
	writeResponseHead(ex.hc.bw, &ex.hc.resp, ex.hc.req.minor, chunked, keep, ex.hc.scratch[:0])
}

// writeResponseHead writes a response head for the client: hop-by-hop
// fields removed, framing and persistence stated for the client's version.
func writeResponseHead(w headWriter, resp *msgHead, reqMinor int, chunked, keep bool, scratch []byte) {
	w.WriteString("HTTP/1.1 ")
	w.Write(strconv.AppendInt(scratch, int64(resp.status), 10))
	w.WriteByte(' ')
	w.Write(resp.reason)
	w.WriteString("\r\n")
	for _, h := range resp.headers {
		if resp.hopByHop(h.name) {
			continue
		}
		if resp.chunked && equalFold(h.name, "content-length") {
			continue // chunked framing wins; the length is not forwarded
		}
		writeField(w, h.name, h.value)
	}
	if chunked {
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	switch {
	case !keep:
		w.WriteString("Connection: close\r\n")
	case reqMinor == 0:
		w.WriteString("Connection: keep-alive\r\n")
	}
	w.WriteString("\r\n")
}

// tunnel completes a protocol upgrade (WebSocket and the like): it relays
// the 101 response, then copies bytes both ways until both sides close.
func (ex *exchange) tunnel() (bool, error) {
	hc := ex.hc
	resp, w := &hc.resp, hc.bw
	w.WriteString("HTTP/1.1 101 ")
	w.Write(resp.reason)
	w.WriteString("\r\n")
	for _, h := range resp.headers {
		if !resp.hopByHop(h.name) || equalFold(h.name, "upgrade") {
			writeField(w, h.name, h.value)
		}
	}
	w.WriteString("Connection: Upgrade\r\n\r\n")
	ex.headSent = true
	ex.m.Traffic.CountResponse(101)
	ex.cfg.traffic.CountResponse(101)
	// Bytes already read past the heads belong to the new protocol.
	if n := ex.uc.br.Buffered(); n > 0 {
		b, _ := ex.uc.br.Peek(n)
		w.Write(b)
	}
	if err := w.Flush(); err != nil {
		ex.uc.close()
		return false, fmt.Errorf("%w: %w", errClientGone, err)
	}
	if n := hc.br.Buffered(); n > 0 {
		b, _ := hc.br.Peek(n)
		if _, err := ex.uc.tc.Write(b); err != nil {
			ex.uc.close()
			return false, err
		}
	}
	if !ex.finishBody() {
		ex.uc.close()
		return false, errors.New("upgrade request body was not forwarded whole")
	}
	hc.client.forget()
	ex.uc.tc.forget()
	defer ex.uc.close()
	return false, bridge(hc.client.TCPConn, ex.uc.tc.TCPConn, ex.cfg, ex.m)
}

var _ io.Reader = (*timedConn)(nil)
