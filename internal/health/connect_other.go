//go:build !linux

package health

import (
	"context"
	"net/netip"
)

// connectReset opens a TCP connection to target and closes it at once
// with a reset; connect_linux.go does it on the socket itself.
func (t Timeouts) connectReset(ctx context.Context, target netip.AddrPort) error {
	return t.dialReset(ctx, target)
}
