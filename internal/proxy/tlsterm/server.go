package tlsterm

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"lbd/internal/certs"
)

// ServerSettings are a TLS listener's settings in plain values.
type ServerSettings struct {
	// Certs are the default certificate, then the SNI certificates in
	// order (Octavia's crt-list: the first line is the fallback).
	Certs      []*certs.Bundle
	ClientAuth tls.ClientAuthType // NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert
	ClientCAs  []*x509.Certificate
	CRL        *x509.RevocationList // checked against verified client certificates; may be nil
	MinVersion uint16
	MaxVersion uint16
	// CipherSuites are the TLS 1.0-1.2 suites; nil: crypto/tls's defaults.
	CipherSuites []uint16
	ALPN         []string
	// Tickets encrypt session tickets with keys every listener shares;
	// nil leaves crypto/tls's own keys.
	Tickets *Tickets
	// NoResumption turns session tickets off: every handshake is a full
	// one (HAProxy's no-tls-tickets with no session cache).
	NoResumption bool
}

// Server is a TLS listener's configuration, built once per change and
// then read-only: its certificate index and the tls.Config handshakes
// use.
type Server struct {
	config *tls.Config
	certs  []*certs.Bundle
	exact  map[string][]*tls.Certificate // by lower-case host name
	wild   map[string][]*tls.Certificate // "*.example.com" under "example.com"
	def    *tls.Certificate
}

// NewServer indexes the certificates by the names they serve and builds
// the tls.Config.
func NewServer(s ServerSettings) (*Server, error) {
	if len(s.Certs) == 0 {
		return nil, errors.New("tlsterm: a TLS listener needs a certificate")
	}
	srv := &Server{
		certs: s.Certs,
		exact: map[string][]*tls.Certificate{},
		wild:  map[string][]*tls.Certificate{},
		def:   &s.Certs[0].Cert,
	}
	for _, b := range s.Certs {
		seen := map[string]bool{}
		for _, n := range b.Names {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			if seen[n] {
				continue
			}
			seen[n] = true
			if parent, ok := strings.CutPrefix(n, "*."); ok {
				srv.wild[parent] = append(srv.wild[parent], &b.Cert)
			} else {
				srv.exact[n] = append(srv.exact[n], &b.Cert)
			}
		}
	}
	cfg := &tls.Config{
		GetCertificate: srv.certificate,
		MinVersion:     s.MinVersion,
		MaxVersion:     s.MaxVersion,
		CipherSuites:   s.CipherSuites,
		NextProtos:     s.ALPN,
		ClientAuth:     s.ClientAuth,
	}
	if s.ClientAuth != tls.NoClientCert {
		if len(s.ClientCAs) == 0 {
			return nil, errors.New("tlsterm: client authentication needs a CA")
		}
		pool := x509.NewCertPool()
		for _, ca := range s.ClientCAs {
			pool.AddCert(ca)
		}
		cfg.ClientCAs = pool
		if s.CRL != nil {
			cfg.VerifyPeerCertificate = revocationCheck(s.CRL)
		}
	}
	switch {
	case s.NoResumption:
		cfg.SessionTicketsDisabled = true
	case s.Tickets != nil:
		s.Tickets.attach(cfg)
	}
	srv.config = cfg
	return srv, nil
}

// Config is the configuration for tls.Server.
func (s *Server) Config() *tls.Config { return s.config }

// Certificates are the bundles the listener serves, the default first.
func (s *Server) Certificates() []*certs.Bundle { return s.certs }

// certificate picks the certificate for a client hello, as HAProxy's
// crt-list does: a certificate naming the SNI host exactly, else one whose
// wildcard covers it (one label deep), else the default. Among several for
// one name (an ECDSA and an RSA one, say) it takes the first the client
// supports.
func (s *Server) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if name := hello.ServerName; name != "" {
		name = strings.ToLower(strings.TrimSuffix(name, "."))
		if c := pick(hello, s.exact[name]); c != nil {
			return c, nil
		}
		if i := strings.IndexByte(name, '.'); i > 0 {
			if c := pick(hello, s.wild[name[i+1:]]); c != nil {
				return c, nil
			}
		}
	}
	return s.def, nil
}

func pick(hello *tls.ClientHelloInfo, list []*tls.Certificate) *tls.Certificate {
	switch len(list) {
	case 0:
		return nil
	case 1:
		return list[0]
	}
	for _, c := range list {
		if hello.SupportsCertificate(c) == nil {
			return c
		}
	}
	return list[0]
}

// errRevoked is what a handshake fails with for a revoked client
// certificate.
var errRevoked = errors.New("tlsterm: the client certificate is revoked")

// revocationCheck refuses a client certificate the CRL lists (its issuer
// must be the CRL's).
func revocationCheck(crl *x509.RevocationList) func([][]byte, [][]*x509.Certificate) error {
	revoked := make(map[string]bool, len(crl.RevokedCertificateEntries))
	for _, e := range crl.RevokedCertificateEntries {
		revoked[string(e.SerialNumber.Bytes())] = true
	}
	issuer := string(crl.RawIssuer)
	return func(_ [][]byte, chains [][]*x509.Certificate) error {
		for _, chain := range chains {
			for _, c := range chain {
				if string(c.RawIssuer) == issuer && revoked[string(c.SerialNumber.Bytes())] {
					return fmt.Errorf("%w (serial %X)", errRevoked, c.SerialNumber)
				}
			}
		}
		return nil
	}
}
