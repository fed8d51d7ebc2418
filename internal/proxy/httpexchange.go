package proxy

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"lbd/internal/balancer"
	"lbd/internal/proxy/http1"
)

// copyRequestBody streams the request body to the member: n bytes of one
// delimited by Content-Length (less when another engine sent its start).
func (ex *exchange) copyRequestBody(n int64) error {
	hc, req := ex.hc, &ex.hc.req
	hc.splices[0].pipes = ex.cfg.pipes
	ex.up = splicer{dst: &ex.uc.tc, src: &hc.client, op: hc.splices[0], readFail: errClientGone, writeFail: errMemberFailed}
	bc := http1.BodyCopier{
		Dst: ex.uc.bw, Src: hc.br, Splice: &ex.up,
		ReadFail: errClientGone, WriteFail: errMemberFailed, Strict: true,
		Counters: [3]*atomic.Uint64{&ex.cfg.traffic.BytesIn, &ex.m.Traffic.BytesIn, ex.countIn()},
	}
	if req.Chunked {
		return bc.Chunked(true)
	}
	return bc.Fixed(n)
}

// run performs the exchange and reports whether the client connection may
// carry another request. On failure before the response head was sent the
// client gets 502 or 504; after, the connection is cut.
func (ex *exchange) run() (keep bool, err error) {
	if done, keep, err := ex.send(); done {
		return keep, err
	}
	return ex.await(time.Now())
}

// over is send's result for an exchange that ended while its request was
// being sent, with that outcome.
func over(keep bool, err error) (bool, bool, error) { return true, keep, err }

// send writes the request head and its body, or starts streaming the body
// in the background. It reports done, with the exchange's outcome, when
// the exchange ended there. A request with Expect: 100-continue is no
// different: its body is forwarded as soon as the client sends it, whether
// or not the member sent 100 Continue (relayed as any interim response),
// as HAProxy does; a client waits only so long for one (curl: 1 s).
func (ex *exchange) send() (done, keep bool, err error) {
	hc, req := ex.hc, &ex.hc.req
	ex.writeRequestHead()
	switch {
	case ex.d.HasBody && req.ContentLength >= 0 && int64(hc.br.Buffered()) >= req.ContentLength:
		// The whole body is here already (the common small POST): send it
		// with the head.
		if err := ex.copyRequestBody(req.ContentLength); err != nil {
			return over(ex.bodyFailed(err))
		}
	case ex.d.HasBody:
		// Stream the body while reading the response, as HAProxy does: a
		// member may answer before it has read everything (an early 413,
		// or a full-duplex echo), and waiting for the body first would
		// deadlock once the socket buffers fill.
		if err := ex.uc.bw.Flush(); err != nil {
			return over(ex.fail(502, fmt.Errorf("send request head: %w", err)))
		}
		ex.bodyDone = make(chan error, 1)
		go ex.streamBody(req.ContentLength)
		return false, false, nil
	}
	if err := ex.uc.bw.Flush(); err != nil {
		return over(ex.fail(502, fmt.Errorf("send request: %w", err)))
	}
	return false, false, nil
}

// streamBody copies the request body, n bytes of it (copyRequestBody), in
// the background and reports how it ended on bodyDone.
func (ex *exchange) streamBody(n int64) {
	uc := ex.uc // ex is the request goroutine's once bodyDone has the outcome
	err := ex.copyRequestBody(n)
	if err == nil {
		ex.bodyRead.Store(true)
		if ferr := uc.bw.Flush(); ferr != nil {
			err = fmt.Errorf("%w: %w", errMemberFailed, ferr)
		}
	}
	ex.bodyDone <- err
	if err != nil && !errors.Is(err, errMemberFailed) {
		// The client's side failed: the member will never see the end of
		// the body, so stop waiting for its answer. Not a deadline, which
		// the reader's lazy re-arming could push back to
		// timeout_member_data: the connection is done. After the outcome
		// is on bodyDone, so that a response read this cuts short finds
		// it there.
		closeRead(uc.tc.Conn)
	}
}

// await reads the response to the request sent at sent and relays it. A
// request whose response failed before any of it came back is sent once
// more, on another connection, when that is safe (retryable).
func (ex *exchange) await(sent time.Time) (bool, error) {
	for retried := false; ; retried = true {
		err := ex.readResponseHead()
		if err == nil {
			break
		}
		if ex.bodyStreaming() {
			// The member failed first: the body is stopped here, and how
			// says nothing of the client.
			ex.stopBody()
		} else if berr := ex.bodyErr; berr != nil && !errors.Is(berr, errMemberFailed) {
			return ex.bodyFailed(berr)
		}
		if retried || !ex.retryable(err) {
			if isTimeout(err) {
				// A member that takes the request and never answers is as
				// unusable as one that refuses it: passive health counts
				// it, so without an active monitor it stops costing a 504
				// per request after a few.
				ex.m.Observer().ConnectFailure()
			}
			return ex.fail(gatewayStatus(err), err)
		}
		if err := ex.moveToAnotherConnection(); err != nil {
			return ex.fail(503, err)
		}
		if done, keep, err := ex.send(); done {
			return keep, err
		}
		sent = time.Now()
	}
	took := time.Since(sent)
	ex.m.Traffic.ResponseTime.Observe(took)
	ex.hc.lr.response = took
	if ex.hc.req.Expect100 && ex.bodyStreaming() && !ex.bodyRead.Load() {
		// A final answer to a request that asked first, before its body
		// was all read: the client may not send the rest, so neither
		// connection is trusted with another request. (A body read to its
		// end whose last bytes are still on their way to the member is
		// not pending: the member's answer to them can come before the
		// streaming goroutine says it is done, and the connection used to
		// close then, dropping the client's next request; the
		// differential test against HAProxy caught it once under load.)
		ex.bodyPending = true
	}
	if ex.hc.resp.Status >= 500 {
		ex.m.Observer().ServerError()
	} else {
		ex.m.Observer().Success()
	}
	return ex.relayResponse()
}

// retryable reports whether a request whose response failed can be sent
// again: only when the member sent nothing back, the request has no body
// (nothing to replay), and either its method is idempotent (RFC 9110
// §9.2.2 lets a proxy retry those) or it went over a pooled connection,
// which the member most likely closed while it was idle. A timeout is not
// retried: the member may still be working on it.
func (ex *exchange) retryable(err error) bool {
	if ex.d.HasBody || ex.d.Upgrade || len(ex.hc.resp.Buf) > 0 || isTimeout(err) {
		return false
	}
	return ex.uc.used || http1.Idempotent(ex.hc.req.Method)
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
	mc, err := ex.p.connect(context.Background(), &connectRequest{src: ex.hc.remote, dst: ex.hc.local, tls: ex.hc.st.peer, req: &ex.hc.req,
		timeout: ex.cfg.connectTimeout, avoid: failed})
	if err != nil {
		return fmt.Errorf("retry after member %s failed: %w", failed.ID, err)
	}
	failed.Release()
	ex.m = mc.m
	ex.uc = newUpstreamConn(mc.conn, mc.m.State, ex.p.proxyVersion() > 0)
	ex.uc.tc.setTimeouts(ex.cfg.memberTimeout, ex.cfg.memberTimeout)
	ex.m.Traffic.Requests.Add(1)
	return nil
}

// bodyGrace is how long a response that is complete waits for the request
// body still being streamed to the member before giving up on it.
const bodyGrace = 2 * time.Second

// bodyStreaming reports whether a request body is still being streamed;
// one that ended leaves how in bodyErr.
func (ex *exchange) bodyStreaming() bool {
	if ex.bodyDone == nil {
		return false
	}
	select {
	case err := <-ex.bodyDone:
		ex.bodyDone, ex.bodyErr = nil, err
		return false
	default:
		return true
	}
}

// finishBody waits for a streamed request body once the response is
// complete. It reports whether the body reached the member whole; if not,
// neither connection can carry another request.
func (ex *exchange) finishBody() bool {
	if ex.bodyDone == nil {
		return ex.bodyErr == nil
	}
	t := time.NewTimer(bodyGrace)
	defer t.Stop()
	select {
	case err := <-ex.bodyDone:
		ex.bodyDone, ex.bodyErr = nil, err
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
		return ex.bodyErr
	}
	// The client connection carries no request after an aborted body;
	// CloseRead, unlike a deadline, cannot be re-armed by the copier.
	closeRead(ex.hc.client.Conn)
	ex.uc.close()
	ex.bodyErr = <-ex.bodyDone
	ex.bodyDone = nil
	return ex.bodyErr
}

// bodyFailed handles a request body that could not be forwarded: malformed
// chunking is the client's error (400), a vanished client needs no answer,
// a failing member is a 502.
func (ex *exchange) bodyFailed(err error) (bool, error) {
	switch {
	case errors.Is(err, http1.ErrBadChunk) && errors.Is(err, errClientGone):
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
	writeRequestHead(ex.uc.bw, ex.cfg, ex.p, &ex.hc.req, ex.hc.ipText, ex.hc.st.peer, ex.d.Upgrade)
	n := uint64(len(ex.hc.req.Buf))
	ex.cfg.traffic.BytesIn.Add(n)
	ex.m.Traffic.BytesIn.Add(n)
	if ex.counts != nil {
		ex.counts.in.Add(n)
	}
}

// countIn and countOut are the exchange's own byte counters for its access
// log line, for the body copiers: nil when the listener does not log.
func (ex *exchange) countIn() *atomic.Uint64 {
	if ex.counts == nil {
		return nil
	}
	return &ex.counts.in
}

func (ex *exchange) countOut() *atomic.Uint64 {
	if ex.counts == nil {
		return nil
	}
	return &ex.counts.out
}

// maxInterim bounds the interim responses relayed before a final one.
const maxInterim = 100

// errTooManyInterim refuses a member that sends more than maxInterim
// interim responses.
var errTooManyInterim = errors.New("too many interim responses")

// readResponseHead reads the member's response head, relaying interim
// responses (1xx other than 101) to the client. The final head must come
// within timeout_member_data, interim responses or not: the read deadline
// is held, not pushed back by each read, so a member that trickles a head
// or sends interim responses forever is cut as one that sends nothing (a
// 504), after at most maxInterim of them.
func (ex *exchange) readResponseHead() error {
	resp := &ex.hc.resp
	ex.uc.tc.holdReadDeadline()
	defer ex.uc.tc.endHead()
	for n := 0; ; n++ {
		if err := resp.ReadHead(ex.uc.br); err != nil {
			return fmt.Errorf("read response head: %w", err)
		}
		if err := resp.ParseResponse(); err != nil {
			return fmt.Errorf("parse response head: %w", err)
		}
		if resp.Status >= 200 || resp.Status == 101 {
			return nil
		}
		if n == maxInterim {
			return errTooManyInterim
		}
		ex.interim = true
		// Other interim responses go to HTTP/1.1 clients as they are.
		if ex.hc.req.Minor >= 1 {
			http1.WriteInterim(ex.hc.bw, resp)
			if err := ex.hc.bw.Flush(); err != nil {
				return fmt.Errorf("%w: %w", errClientGone, err)
			}
		}
	}
}

// relayResponse sends the response head and streams the body to the
// client, then returns the member connection to the cache when it can carry
// another request.
func (ex *exchange) relayResponse() (bool, error) {
	hc := ex.hc
	req, resp := &hc.req, &hc.resp
	if resp.Status == 101 {
		if !ex.d.Upgrade {
			return ex.fail(502, errors.New("101 Switching Protocols without an upgrade request"))
		}
		return ex.tunnel()
	}
	d := http1.Decide(req, resp, http1.Conditions{
		Draining: hc.l.draining.Load(), Interim: ex.interim, BodyPending: ex.bodyPending,
	})
	ex.d = d
	writeResponseHead(hc.bw, ex.cfg, ex.p, ex.m, req, resp, d, &hc.scratch)
	ex.headSent = true
	hc.lr.status = resp.Status
	ex.m.Traffic.CountResponse(resp.Status)
	ex.cfg.traffic.CountResponse(resp.Status)
	headLen := uint64(len(resp.Buf))
	ex.cfg.traffic.BytesOut.Add(headLen)
	ex.m.Traffic.BytesOut.Add(headLen)
	if ex.counts != nil {
		ex.counts.out.Add(headLen)
	}

	var err error
	hc.splices[1].pipes = ex.cfg.pipes
	ex.down = splicer{dst: &hc.client, src: &ex.uc.tc, op: hc.splices[1], readFail: errMemberFailed, writeFail: errClientGone}
	bc := http1.BodyCopier{
		Dst: hc.bw, Src: ex.uc.br, Splice: &ex.down,
		ReadFail: errMemberFailed, WriteFail: errClientGone,
		Counters: [3]*atomic.Uint64{&ex.cfg.traffic.BytesOut, &ex.m.Traffic.BytesOut, ex.countOut()},
	}
	switch d.Body {
	case http1.BodyFixed:
		err = bc.Fixed(d.Length)
	case http1.BodyChunked:
		err = bc.Chunked(!d.Decode)
	case http1.BodyUntilClose:
		err = bc.UntilClose()
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
	keep, reuse := d.ClientKeep, d.MemberKeep
	if !ex.finishBody() {
		keep, reuse = false, false
	}
	if reuse && ex.uc.br.Buffered() == 0 {
		hc.keepUpstream(ex.p, ex.uc)
	} else {
		ex.uc.close()
	}
	return keep, nil
}

// tunnel completes a protocol upgrade (WebSocket and the like): it relays
// the 101 response, then copies bytes both ways until both sides close.
func (ex *exchange) tunnel() (bool, error) {
	hc := ex.hc
	w := hc.bw
	http1.WriteSwitching(w, &hc.resp)
	ex.headSent = true
	hc.lr.status = 101
	if ex.counts != nil {
		ex.counts.out.Add(uint64(len(hc.resp.Buf)))
	}
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
	up, down := bridge(hc.client.Conn, ex.uc.tc.Conn, ex.cfg, ex.m, ex.counts)
	if err := errors.Join(up, down); err != nil && !isClosedOrReset(err) {
		return false, err
	}
	return false, nil
}

// takeIdle is the exchange's idleSource for pool.connect: an idle
// connection to the picked member, this client's own first, then the
// pool's.
func (ex *exchange) takeIdle(m *balancer.Member) *upstreamConn {
	now := time.Now()
	if uc := ex.hc.cached(m.State, now); uc != nil {
		if ex.p.current(uc) {
			return uc
		}
		uc.close()
	}
	return ex.p.idle.get(m.State, now)
}
