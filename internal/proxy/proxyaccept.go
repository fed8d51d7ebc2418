package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"lbd/internal/proxy/proxyproto"
)

// readProxyHeader reads the PROXY protocol header a trusted upstream
// begins a connection with (accept_proxy_protocol): the addresses it
// gives replace the socket's, unless it says LOCAL (the upstream's own
// health check). pre is what was read past the header: the client's first
// bytes. The header must arrive within timeout (the listener's
// timeout_client_data, 0: none).
func readProxyHeader(c *net.TCPConn, remote, local netip.AddrPort, timeout time.Duration) (netip.AddrPort, netip.AddrPort, []byte, error) {
	if timeout > 0 {
		c.SetReadDeadline(time.Now().Add(timeout))
		defer c.SetReadDeadline(time.Time{})
	}
	var buf [proxyproto.MaxV2]byte
	n := 0
	for {
		m, err := c.Read(buf[n:])
		n += m
		h, used, perr := proxyproto.Parse(buf[:n])
		switch {
		case perr == nil:
			var pre []byte
			if used < n {
				pre = append([]byte(nil), buf[used:n]...)
			}
			if h.Local {
				return remote, local, pre, nil
			}
			return h.Src, h.Dst, pre, nil
		case !errors.Is(perr, proxyproto.ErrIncomplete):
			return remote, local, nil, perr
		case err != nil:
			return remote, local, nil, fmt.Errorf("read PROXY header: %w", err)
		case n == len(buf):
			return remote, local, nil, proxyproto.ErrMalformed
		}
	}
}
