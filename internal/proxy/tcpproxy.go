package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"time"

	"lbd/internal/balancer"
)

// serveTCP forwards one client connection to a member, byte for byte in both
// directions. A half-close is passed on (the side that finished sending gets
// a FIN towards its peer and the other direction goes on); an error or idle
// timeout on either side closes both.
func serveTCP(cfg *listenerConfig, client *net.TCPConn, remote netip.AddrPort) {
	p := cfg.pool
	if p == nil {
		return // no pool: HAProxy closes the connection
	}
	start := time.Now()
	defer func() { cfg.traffic.SessionTime.Observe(time.Since(start)) }()
	mc, err := p.connect(context.Background(), &connectRequest{src: remote, timeout: cfg.connectTimeout})
	if err != nil {
		cfg.traffic.RequestErrors.Add(1)
		cfg.log.Debug("no member for connection", "client", remote, "err", err)
		return
	}
	m, member := mc.m, mc.conn
	defer m.Release()
	defer member.Close()
	// For TCP a completed connect is all there is to judge the member by;
	// HTTP waits for the response head.
	m.Observer().Success()
	m.Traffic.Active.Add(1)
	defer m.Traffic.Active.Add(-1)
	if err := bridge(client, member, cfg, m); err != nil {
		cfg.log.Debug("tcp connection ended", "client", remote, "member", m.Addr, "err", err)
	}
}

// bridge copies both ways between a client and a member connection until
// both directions end. A half-close is passed on: the side that finished
// sending gets its peer a FIN, and the other direction goes on. An error or
// idle timeout on either side closes both. The client may be any net.Conn
// (an upgraded HTTP connection may be TLS); TCP connections are spliced.
func bridge(client, member net.Conn, cfg *listenerConfig, m *balancer.Member) error {
	var act activity
	act.touch(time.Now())
	upDone := make(chan error, 1)
	go func() {
		_, err := pipe(member, client, cfg.clientTimeout, &act, &cfg.traffic.BytesIn, &m.Traffic.BytesIn)
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
	_, err := pipe(client, member, cfg.memberTimeout, &act, &cfg.traffic.BytesOut, &m.Traffic.BytesOut)
	if err == nil {
		closeWrite(client)
	} else {
		member.Close()
		client.Close()
	}
	upErr := <-upDone
	if err := errors.Join(err, upErr); err != nil && !isClosedOrReset(err) {
		return err
	}
	return nil
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
