//go:build !linux

package health

import (
	"errors"
	"net/netip"
)

// rawHTTPMembers is members_linux_test.go's; elsewhere the HTTP members
// are net/http servers.
func rawHTTPMembers(int) ([]netip.AddrPort, func() error, error) {
	return nil, nil, errors.New("LBD_HEALTH_SERVE_HTTP=raw: Linux only")
}
