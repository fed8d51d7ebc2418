package health

import (
	"context"
	"crypto/tls"
	"errors"
	"net/netip"
)

// TLSHelloChecker passes when a TLS handshake with the target completes
// (Octavia type TLS-HELLO). The certificate is not verified: the question is
// whether the member speaks TLS, not whom it claims to be.
//
// Octavia's amphora once rendered this as HAProxy's "option ssl-hello-chk",
// an SSLv3 hello that modern servers refuse; it now renders a plain connect
// check. lbd does what the type's name promises: a full, modern handshake.
type TLSHelloChecker struct {
	Timeouts
	// ServerName is sent as SNI when set.
	ServerName string
}

// Check implements Checker.
func (c *TLSHelloChecker) Check(ctx context.Context, target netip.AddrPort) error {
	conn, done, err := c.dial(ctx, "tcp", target)
	if err != nil {
		return err
	}
	defer done()
	tc := tls.Client(conn, &tls.Config{
		InsecureSkipVerify: true,
		ServerName:         c.ServerName,
		MinVersion:         tls.VersionTLS10,
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		return errors.New(describeIOError("tls handshake", err))
	}
	// Say goodbye properly so the member does not log an aborted handshake.
	tc.Close()
	return nil
}
