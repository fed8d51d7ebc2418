package health

import (
	"context"
	"net"
	"net/netip"
)

// TCPChecker passes when a TCP connection to the target can be opened, as
// HAProxy's plain "check" does (Octavia type TCP). The connection is closed at
// once without sending anything, with a reset rather than a FIN, as HAProxy
// closes its connect-only checks: no TIME_WAIT is left on either side and
// the close costs one segment instead of four.
type TCPChecker struct {
	Timeouts
}

// Check implements Checker.
func (c *TCPChecker) Check(ctx context.Context, target netip.AddrPort) error {
	return c.connectReset(ctx, target)
}

// dialReset is connectReset through net.Dialer: where the system's own
// sockets are not used (connect_linux.go), and for zoned addresses.
func (t Timeouts) dialReset(ctx context.Context, target netip.AddrPort) error {
	conn, done, err := t.dial(ctx, "tcp", target)
	if err != nil {
		return err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	done()
	return nil
}
