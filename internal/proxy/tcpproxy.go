package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"lbd/internal/accesslog"
	"lbd/internal/balancer"
	"lbd/internal/proxy/proxyproto"
)

// serveTCP forwards one client connection to a member, byte for byte in both
// directions. A half-close is passed on (the side that finished sending gets
// a FIN towards its peer and the other direction goes on); an error or idle
// timeout on either side closes both. A listener that logs connections
// gets a line when the connection ends. Once connected, the connection moves
// into an event loop of ls when there is one (looptcp.go: moved reports
// it, and the loop owns it then); otherwise this goroutine splices it.
func serveTCP(ls *loopSet, l *listener, cfg *listenerConfig, client *net.TCPConn, pr peer, pre []byte) (moved bool) {
	remote := pr.remote
	start := time.Now()
	var rec *accesslog.Record
	var counts *byteCounts
	if cfg.access != nil {
		rec, counts = getRecord(), &byteCounts{}
		cfg.beginRecord(rec, accesslog.TCP, start, remote)
		defer func() {
			if moved {
				return // the loop logs it
			}
			end := time.Now()
			rec.BytesIn, rec.BytesOut = int64(counts.in.Load()), int64(counts.out.Load())
			rec.Total = end.Sub(start)
			cfg.access.Log(rec)
			putRecord(rec)
		}()
	}
	p := cfg.pool
	if p == nil {
		if rec != nil {
			rec.Termination = accesslog.Term(accesslog.CauseServer, accesslog.PhaseConnect)
		}
		return false // no pool: HAProxy closes the connection
	}
	defer func() {
		if !moved {
			cfg.traffic.SessionTime.Observe(time.Since(start))
		}
	}()
	first, _ := p.pick(remote, nil) // none ready: connect's last resorts
	mc, err := p.connect(context.Background(), &connectRequest{src: remote, dst: pr.local, timeout: cfg.connectTimeout, first: first})
	if err != nil {
		cfg.traffic.RequestErrors.Add(1)
		cfg.log.Debug("no member for connection", "client", remote, "err", err)
		if rec != nil {
			rec.Termination = accesslog.Term(accesslog.CauseServer, accesslog.PhaseConnect)
		}
		return false
	}
	m, member := mc.m, mc.conn
	defer func() {
		if !moved {
			m.Release()
			member.Close()
		}
	}()
	if rec != nil {
		setMember(rec, m)
		rec.Connect = time.Since(start)
	}
	if len(pre) > 0 { // read with a trusted upstream's PROXY header
		if _, err := member.Write(pre); err != nil {
			return false
		}
		cfg.traffic.BytesIn.Add(uint64(len(pre)))
		m.Traffic.BytesIn.Add(uint64(len(pre)))
		if counts != nil {
			counts.in.Add(uint64(len(pre)))
		}
	}
	// For TCP a completed connect is all there is to judge the member by;
	// HTTP waits for the response head.
	m.Observer().Success()
	m.Traffic.Active.Add(1)
	// On a listener that accepts PROXY headers from its upstreams, a client
	// that is not one of them must not pass one on to the member: its
	// first bytes are screened, which the goroutine path does.
	screen := cfg.proxyFrom != nil && !cfg.trustsProxy(client.RemoteAddr().(*net.TCPAddr).AddrPort().Addr())
	// A member connection that is not plain TCP (a tls_enabled pool's)
	// stays on the goroutine path too.
	if tcp, ok := member.(*net.TCPConn); ok && !screen && moveTunnel(ls, l, cfg, client, tcp, m, remote, start, rec, int64(len(pre))) {
		return true
	}
	defer m.Traffic.Active.Add(-1)
	up, down := bridgeScreened(client, member, cfg, m, counts, screen)
	if rec != nil {
		rec.Termination = bridgeTermination(up, down)
	}
	if err := errors.Join(up, down); err != nil && !isClosedOrReset(err) {
		cfg.log.Debug("tcp connection ended", "client", remote, "member_id", m.ID, "member", m.Name, "member_address", m.Addr, "err", err)
	}
	return false
}

// byteCounts are one connection's or exchange's bytes, from the client
// (in) and to it (out).
type byteCounts struct{ in, out atomic.Uint64 }

// counters are c's counters for pipe, nil when c is.
func (c *byteCounts) counters() (in, out *atomic.Uint64) {
	if c == nil {
		return nil, nil
	}
	return &c.in, &c.out
}

// bridge copies both ways between a client and a member connection until
// both directions end, and returns how each ended: up from the client,
// down to it (nil: at its end). A half-close is passed on: the side that
// finished sending gets its peer a FIN, and the other direction goes on.
// An error or idle timeout on either side closes both. The client may be
// any net.Conn (an upgraded HTTP connection may be TLS); TCP connections
// are spliced. counts, when not nil, counts the bytes.
func bridge(client, member net.Conn, cfg *listenerConfig, m *balancer.Member, counts *byteCounts) (up, down error) {
	return bridgeScreened(client, member, cfg, m, counts, false)
}

// bridgeScreened is bridge; with screen, the client's first bytes are
// checked before any reaches the member, and a PROXY protocol header among
// them ends the connection: it is refused, not read.
func bridgeScreened(client, member net.Conn, cfg *listenerConfig, m *balancer.Member, counts *byteCounts, screen bool) (up, down error) {
	var act activity
	act.touch(time.Now())
	in, out := counts.counters()
	upOp, downOp := newSpliceOp(), newSpliceOp()
	upOp.pipes, upOp.rsrc, upOp.rdst = cfg.pipes, rawOf(client), rawOf(member)
	downOp.pipes, downOp.rsrc, downOp.rdst = cfg.pipes, rawOf(member), rawOf(client)
	upDone := make(chan error, 1)
	go func() {
		var err error
		if screen {
			err = screenProxyHeader(client, member, cfg, in)
		}
		if err == nil {
			_, err = spliceN(member, client, -1, idles{read: cfg.clientTimeout, write: cfg.memberTimeout}, &act, upOp,
				&cfg.traffic.BytesIn, &m.Traffic.BytesIn, in)
		}
		if err == nil {
			closeWrite(member)
		} else {
			// Unblock the other direction: the connection is over.
			if tc, ok := client.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			client.Close()
			member.Close()
		}
		upDone <- err
	}()
	_, down = spliceN(client, member, -1, idles{read: cfg.memberTimeout, write: cfg.clientTimeout}, &act, downOp,
		&cfg.traffic.BytesOut, &m.Traffic.BytesOut, out)
	if down == nil {
		closeWrite(client)
	} else {
		member.Close()
		client.Close()
	}
	return <-upDone, down
}

// bridgeTermination is the termination state of a bridged connection that
// ended so: the direction that failed first (a side closed by the other
// direction's failure reads "use of closed connection") names who ended
// it, its timeout in lower case: the side it read from, or the one it
// wrote to when the write failed (errCopyWrite).
func bridgeTermination(up, down error) accesslog.Termination {
	first := func(err error) bool { return err != nil && !errors.Is(err, net.ErrClosed) }
	client := func(err error, reading bool) accesslog.Termination {
		// The client's side failed: reading from it, or writing to it.
		switch clientSide, idle := reading != errors.Is(err, errCopyWrite), errors.Is(err, errIdle); {
		case clientSide && idle:
			return accesslog.Term(accesslog.CauseClientTimeout, accesslog.PhaseData)
		case clientSide:
			return accesslog.Term(accesslog.CauseClient, accesslog.PhaseData)
		case idle:
			return accesslog.Term(accesslog.CauseServerTimeout, accesslog.PhaseData)
		}
		return accesslog.Term(accesslog.CauseServer, accesslog.PhaseData)
	}
	switch {
	case first(up):
		return client(up, true) // up reads from the client
	case first(down):
		return client(down, false) // down reads from the member
	}
	return accesslog.Normal
}

// closeWrite sends a FIN (a TLS close_notify first, for a *tls.Conn): the
// connection's other direction goes on.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// closeRead stops reading from c: a read blocked in it returns at once,
// for good, which a deadline the reader re-arms could not promise.
func closeRead(c net.Conn) {
	switch c := c.(type) {
	case interface{ CloseRead() error }:
		c.CloseRead()
	case interface{ NetConn() net.Conn }: // TLS: stop the connection under it
		closeRead(c.NetConn())
	default:
		c.Close()
	}
}

func isClosedOrReset(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, errIdle)
}

// errProxyRefused ends a connection whose client, not a trusted upstream,
// began with a PROXY protocol header.
var errProxyRefused = errors.New("PROXY header from a source not allowed to send one")

// screenProxyHeader reads the client's first bytes until they cannot be
// the start of a PROXY protocol header, and passes them on; if they are
// one, it refuses the connection instead.
func screenProxyHeader(client, member net.Conn, cfg *listenerConfig, in *atomic.Uint64) error {
	var buf [16]byte // longer than either signature
	n := 0
	for n < len(buf) {
		k, err := client.Read(buf[n:])
		n += k
		if n > 0 && !proxyproto.Starts(buf[:n]) {
			break
		}
		if n >= 12 || (n >= 6 && string(buf[:6]) == "PROXY ") {
			cfg.traffic.RequestErrors.Add(1)
			return errProxyRefused
		}
		if err != nil {
			if n > 0 {
				break
			}
			return nil // EOF before any byte: pipe sees it too
		}
	}
	if _, err := member.Write(buf[:n]); err != nil {
		return err
	}
	cfg.traffic.BytesIn.Add(uint64(n))
	if in != nil {
		in.Add(uint64(n))
	}
	return nil
}
