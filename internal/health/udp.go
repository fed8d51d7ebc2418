package health

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// UDPChecker sends one empty datagram from a connected UDP socket and waits
// (Octavia type UDP-CONNECT). UDP has no handshake, so the check can only
// prove a member down, never up:
//
//   - an ICMP port-unreachable answer, which Linux reports as ECONNREFUSED
//     on the next read or write of a connected UDP socket, means down;
//   - any datagram back means up;
//   - silence until the response timeout means up.
//
// This is what keepalived's UDP_CHECK (which Octavia's amphora uses for
// UDP pools) and "nc -uz" do. A member whose host is gone entirely, or whose
// ICMP is filtered, therefore stays up: pair UDP pools with passive health or
// a PING/TCP monitor on monitor_port when that matters. Each probe waits the
// full response timeout (the monitor's timeout, or its delay when timeout is
// 0) unless an answer comes first.
type UDPChecker struct {
	Timeouts
}

// Check implements Checker.
func (c *UDPChecker) Check(ctx context.Context, target netip.AddrPort) error {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(target))
	if err != nil {
		return errors.New(describeConnectError(err))
	}
	defer conn.Close()
	dl := c.responseDeadline(ctx)
	if dl.IsZero() {
		// Silence is the passing answer, so an unbounded wait would never
		// end: fall back to one second.
		dl = time.Now().Add(time.Second)
	}
	if err := conn.SetDeadline(dl); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(nil); err != nil {
		return udpResult(ctx, err)
	}
	var buf [64]byte
	_, err = conn.Read(buf[:])
	return udpResult(ctx, err)
}

func udpResult(ctx context.Context, err error) error {
	switch {
	case err == nil:
		return nil // the member answered
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("port unreachable")
	case errors.Is(ctx.Err(), context.Canceled):
		return errors.New("check cancelled")
	case isTimeout(err):
		return nil // silence: nothing said the port is closed
	}
	return errors.New("udp: " + rootCause(err))
}
