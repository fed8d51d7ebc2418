package proxy

import (
	"net"
	"net/netip"
	"syscall"
	"time"

	"lbd/internal/accesslog"
	"lbd/internal/balancer"
	"lbd/internal/proxy/evloop"
	"lbd/internal/proxy/http1"
	"lbd/internal/stats"
)

// TCP connections in the event loops (issue 22). A goroutine accepts the
// client and connects to a member (retries and redispatch stay in one
// place, pool.connect); then, when the runtime has loops, both sockets
// move into one and the loop relays their bytes: it reads a socket when
// epoll says it has something (a short read clears the readiness, so no
// read finds nothing), and sends what it read to the other side at once.
// That is two system calls a message, as HAProxy makes, where the
// goroutine path's splice took three (one finding nothing) plus a park and
// a wake-up in Go's poller for each direction.
//
// Small messages go through the loop's buffers. A read that fills a whole
// buffer switches that direction to splice(2) through a pipe of the
// runtime's pool, 1 MiB a call at most, as the goroutine path splices;
// a splice that moves less than a quarter of a buffer switches it back
// (HAProxy's splice-auto does the same, by its own measure).
//
// A message waits in the loop's buffer (or pipe) only while the other side has no
// room; the source is not read meanwhile, so a slow reader slows its
// writer, as a splice would. A tunnel holds no buffer while idle. What the
// goroutine path does the loop does too: a FIN is passed on once what came
// before it is written (a half-close), an error on either side ends both,
// and the connection ends after the smaller of timeout_client_data and
// timeout_member_data without a byte either way (bridge's timeouts share
// their activity the same way).

// loopTunnel is a TCP connection a loop relays: the client's socket and the
// member's, each the handler of its own socket. Only the loop's goroutine
// touches it.
type loopTunnel struct {
	hl      *httpLoop
	l       *listener
	cfg     *listenerConfig
	traffic *stats.Traffic // the listener's counters it was accepted under
	m       *balancer.Member
	remote  netip.AddrPort
	client  tunnelEnd
	member  tunnelEnd
	start   time.Time
	idle    time.Duration     // the idle timeout; 0: none
	rec     *accesslog.Record // nil: not logged
	in, out int64             // bytes from the client, and to it
	done    bool
}

// tunnelEnd is one side of a tunnel: its socket, and in Socket.In what was
// read from it and not yet written to the other side.
type tunnelEnd struct {
	evloop.Socket
	t      *loopTunnel
	peer   *tunnelEnd
	client bool // the client's side
	eof    bool // read to its end
	finned bool // its peer was sent the FIN that followed
	// splice: this direction splices (a read filled a buffer); pipe holds
	// what was spliced in and not yet out. It stays, empty, while the
	// source has more, and goes back to the pool once it has not.
	splice bool
	pipe   *splicePipe
}

// pending reports whether bytes read from e wait for room on its peer.
func (e *tunnelEnd) pending() bool { return len(e.In) > 0 || (e.pipe != nil && e.pipe.data > 0) }

// tunnelMove is a TCP connection on its way from its goroutine to a loop.
type tunnelMove struct {
	l        *listener
	cfg      *listenerConfig
	traffic  *stats.Traffic
	m        *balancer.Member
	remote   netip.AddrPort
	cfd, mfd int
	start    time.Time
	rec      *accesslog.Record
	in       int64 // bytes from the client already sent (a PROXY header's read-ahead)
}

// moveTunnel hands a connected TCP connection to an event loop, which
// then owns both sockets, the acquired member and the listener's
// connection count. It reports false, and changes nothing, when there is
// no loop or a socket cannot be moved.
func moveTunnel(ls *loopSet, l *listener, cfg *listenerConfig, client, member *net.TCPConn, m *balancer.Member,
	remote netip.AddrPort, start time.Time, rec *accesslog.Record, in int64) bool {
	if ls == nil || len(ls.loops) == 0 || l.draining.Load() {
		return false
	}
	mfd, err := evloop.Detach(member)
	if err != nil {
		return false
	}
	cfd, err := evloop.Detach(client)
	if err != nil {
		// The member's socket lives on in mfd only: the connection is over.
		syscall.Close(mfd)
		return false
	}
	l.untrack(client)
	mv := &tunnelMove{l: l, cfg: cfg, traffic: cfg.traffic, m: m, remote: remote, cfd: cfd, mfd: mfd, start: start, rec: rec, in: in}
	hl := ls.loops[int(ls.next.Add(1))%len(ls.loops)]
	hl.loop.Post(func() { hl.adoptTunnel(mv) })
	return true
}

// adoptTunnel registers a tunnel's two sockets; epoll then reports what is
// already waiting on them.
func (hl *httpLoop) adoptTunnel(mv *tunnelMove) {
	t := &loopTunnel{hl: hl, l: mv.l, cfg: mv.cfg, traffic: mv.traffic, m: mv.m, remote: mv.remote, start: mv.start, rec: mv.rec, in: mv.in}
	t.idle = minTimeout(mv.cfg.clientTimeout, mv.cfg.memberTimeout)
	t.client = tunnelEnd{t: t, peer: &t.member, client: true}
	t.member = tunnelEnd{t: t, peer: &t.client}
	if mv.l.draining.Load() {
		// The drain's closeListener may have run here already.
		syscall.Close(mv.cfd)
		syscall.Close(mv.mfd)
		t.finish(accesslog.Term(accesslog.CauseKilled, accesslog.PhaseData))
		return
	}
	if err := hl.loop.Register(&t.client.Socket, mv.cfd, &t.client); err != nil {
		hl.log.Warn("event loop: connection not taken", "client", mv.remote, "err", err)
		syscall.Close(mv.cfd)
		syscall.Close(mv.mfd)
		t.finish(accesslog.Term(accesslog.CauseKilled, accesslog.PhaseData))
		return
	}
	if err := hl.loop.Register(&t.member.Socket, mv.mfd, &t.member); err != nil {
		hl.log.Warn("event loop: connection not taken", "client", mv.remote, "err", err)
		syscall.Close(mv.mfd)
		t.close(accesslog.Term(accesslog.CauseKilled, accesslog.PhaseData))
		return
	}
	hl.set.stats.tunnels.Add(1)
	t.touch()
}

// minTimeout is the smaller of two timeouts, where 0 means none.
func minTimeout(a, b time.Duration) time.Duration {
	switch {
	case a <= 0:
		return max(b, 0)
	case b <= 0:
		return a
	}
	return min(a, b)
}

// touch notes that bytes moved: the idle timeout starts again.
func (t *loopTunnel) touch() {
	t.client.SetTimeout(t.idle)
}

// Ready moves what this side has to its peer, and, when this side has room
// again, what its peer had waiting for it.
func (e *tunnelEnd) Ready(writable bool) {
	if writable && e.peer.pending() && !e.t.relay(e.peer) {
		return
	}
	e.t.relay(e)
}

// Expire ends a tunnel with no byte either way for its idle timeout. The
// termination names the side that stopped taking bytes, if one did, else
// the side whose timeout is the shorter.
func (e *tunnelEnd) Expire() {
	t := e.t
	cause := byte(accesslog.CauseClientTimeout)
	switch {
	case t.client.pending(): // the member stopped reading
		cause = accesslog.CauseServerTimeout
	case t.member.pending():
	case t.cfg.clientTimeout <= 0 || (t.cfg.memberTimeout > 0 && t.cfg.memberTimeout < t.cfg.clientTimeout):
		cause = accesslog.CauseServerTimeout
	}
	t.close(accesslog.Term(cause, accesslog.PhaseData))
}

// Abort ends the tunnel: the loop is stopping.
func (e *tunnelEnd) Abort() { e.t.close(accesslog.Term(accesslog.CauseKilled, accesslog.PhaseData)) }

// relay moves what src read, and what it can read, to its peer, until src
// has nothing more for now or the peer has no room. It passes on src's
// FIN once what came before it is written. It reports false when the
// tunnel ended.
func (t *loopTunnel) relay(src *tunnelEnd) bool {
	dst := src.peer
	for {
		if len(src.In) > 0 {
			n, err := dst.Send(src.In)
			if n > 0 {
				t.count(src, n)
			}
			if err != nil {
				t.failWrite(dst)
				return false
			}
			if n < len(src.In) {
				// dst is full: the rest waits until the loop says it has room.
				rest := copy(src.In, src.In[n:])
				src.In = src.In[:rest]
				return true
			}
			src.In = src.In[:0]
			src.ReleaseIn()
		}
		if p := src.pipe; p != nil && p.data > 0 {
			n, err := dst.SpliceOut(p.r, p.data)
			if n > 0 {
				p.data -= n
				t.count(src, n)
			}
			if err != nil {
				t.failWrite(dst)
				return false
			}
			if p.data > 0 {
				return true // dst is full
			}
			if !src.splice {
				t.cfg.pipes.put(p)
				src.pipe = nil
			}
		}
		if src.eof {
			if !src.finned {
				src.finned = true
				dst.CloseWrite()
				if dst.finned { // both ways done
					t.close(accesslog.Normal)
					return false
				}
			}
			return true
		}
		if !src.Readable() {
			return true
		}
		var res evloop.ReadResult
		if src.splice {
			if src.pipe == nil {
				p, err := t.cfg.pipes.get()
				if err != nil {
					t.close(accesslog.Term(accesslog.CauseProxy, accesslog.PhaseData))
					return false
				}
				src.pipe = p
			}
			var n int
			n, res = src.SpliceIn(src.pipe.w, copyChunk)
			src.pipe.data = n
			if res != evloop.ReadData {
				t.cfg.pipes.put(src.pipe)
				src.pipe = nil
			}
			if res == evloop.ReadData && n < tunnelSpliceMin/4 {
				src.splice = false // small messages again
			}
		} else {
			res = src.Read()
			if res == evloop.ReadData && len(src.In) == cap(src.In) {
				src.splice = true // a full buffer: more is probably coming
			}
		}
		switch res {
		case evloop.ReadNone:
			return true
		case evloop.ReadEOF:
			if src.ReadErr() != nil {
				// A reset: both sides end, as bridge ends them.
				if src.client {
					src.ResetOnClose()
					t.close(accesslog.Term(accesslog.CauseClient, accesslog.PhaseData))
				} else {
					t.close(accesslog.Term(accesslog.CauseServer, accesslog.PhaseData))
				}
				return false
			}
			src.eof = true
		}
	}
}

// tunnelSpliceMin is the loop's buffer size: a read that fills it switches
// a direction to splicing.
const tunnelSpliceMin = http1.FastRoom

// failWrite ends the tunnel after a write to dst failed: dst's side ended
// it.
func (t *loopTunnel) failWrite(dst *tunnelEnd) {
	if dst.client {
		t.close(accesslog.Term(accesslog.CauseClient, accesslog.PhaseData))
	} else {
		t.close(accesslog.Term(accesslog.CauseServer, accesslog.PhaseData))
	}
}

// count adds n bytes moved from src to the counters.
func (t *loopTunnel) count(src *tunnelEnd, n int) {
	if src.client {
		t.in += int64(n)
		t.cfg.traffic.BytesIn.Add(uint64(n))
		t.m.Traffic.BytesIn.Add(uint64(n))
	} else {
		t.out += int64(n)
		t.cfg.traffic.BytesOut.Add(uint64(n))
		t.m.Traffic.BytesOut.Add(uint64(n))
	}
	t.touch()
}

// close ends the tunnel: both sockets, then what it holds.
func (t *loopTunnel) close(term accesslog.Termination) {
	if t.done {
		return
	}
	t.client.Close()
	t.member.Close()
	for _, e := range [2]*tunnelEnd{&t.client, &t.member} {
		if e.pipe != nil {
			t.cfg.pipes.put(e.pipe) // closed: bytes are left in it
			e.pipe = nil
		}
	}
	t.finish(term)
}

// finish settles what the tunnel holds once its sockets are closed: the
// member, its counters, the access log line and the listener's connection
// count.
func (t *loopTunnel) finish(term accesslog.Termination) {
	if t.done {
		return
	}
	t.done = true
	now := time.Now()
	t.m.Traffic.Active.Add(-1)
	t.m.Release()
	t.cfg.traffic.SessionTime.Observe(now.Sub(t.start))
	if rec := t.rec; rec != nil {
		rec.BytesIn, rec.BytesOut = t.in, t.out
		rec.Total = now.Sub(t.start)
		rec.Termination = term
		t.cfg.access.Log(rec)
		putRecord(rec)
		t.rec = nil
	}
	t.l.connEnded(t.traffic)
}
