package tlsterm

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"lbd/internal/certs"
)

// ClientSettings are a tls_enabled pool's settings in plain values.
type ClientSettings struct {
	Cert *certs.Bundle       // presented to members; nil: none
	CAs  []*x509.Certificate // members must chain to one; nil: not verified (HAProxy's "verify none")
	CRL  *x509.RevocationList
	// MinVersion and MaxVersion bound the versions; CipherSuites are the
	// TLS 1.0-1.2 suites (nil: crypto/tls's defaults).
	MinVersion   uint16
	MaxVersion   uint16
	CipherSuites []uint16
	// ALPN is the pool's alpn_protocols. lbd speaks HTTP/1.x to members,
	// so only http/1.1 and http/1.0 are offered.
	ALPN []string
}

// NewClient builds the tls.Config for connections to a pool's members.
// Members are verified against the CAs without a host name, as HAProxy
// verifies servers with "ca-file" and no "verifyhost": members are
// addressed by IP. Sessions are cached, so that new member connections
// resume.
func NewClient(s ClientSettings) *tls.Config {
	cfg := &tls.Config{
		MinVersion:         s.MinVersion,
		MaxVersion:         s.MaxVersion,
		CipherSuites:       s.CipherSuites,
		ClientSessionCache: tls.NewLRUClientSessionCache(256),
		InsecureSkipVerify: true, // verified in VerifyConnection, without a host name
	}
	for _, p := range s.ALPN {
		if p == "http/1.1" || p == "http/1.0" {
			cfg.NextProtos = append(cfg.NextProtos, p)
		}
	}
	if s.Cert != nil {
		cert := s.Cert.Cert
		cfg.Certificates = []tls.Certificate{cert}
	}
	if len(s.CAs) > 0 {
		pool := x509.NewCertPool()
		for _, ca := range s.CAs {
			pool.AddCert(ca)
		}
		var revoked func([][]byte, [][]*x509.Certificate) error
		if s.CRL != nil {
			revoked = revocationCheck(s.CRL)
		}
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("tlsterm: the member presented no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			chains, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter})
			if err != nil {
				return fmt.Errorf("tlsterm: member certificate: %w", err)
			}
			if revoked != nil {
				return revoked(nil, chains)
			}
			return nil
		}
	}
	return cfg
}
