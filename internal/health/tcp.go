package health

import (
	"context"
	"net/netip"
)

// TCPChecker passes when a TCP connection to the target can be opened, as
// HAProxy's plain "check" does (Octavia type TCP). The connection is closed at
// once without sending anything.
type TCPChecker struct {
	Timeouts
}

// Check implements Checker.
func (c *TCPChecker) Check(ctx context.Context, target netip.AddrPort) error {
	_, done, err := c.dial(ctx, "tcp", target)
	if err != nil {
		return err
	}
	done()
	return nil
}
