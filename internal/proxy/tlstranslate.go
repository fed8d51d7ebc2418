package proxy

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"time"

	"lbd/internal/certs"
	"lbd/internal/octavia"
	"lbd/internal/proxy/tlsterm"
)

// The TLS part of translate: certificate refs resolved (files read,
// Barbican secrets fetched through the runtime's certs.Store) and checked,
// and the model's TLS settings turned into tlsterm's plain values. A ref
// that cannot be read, or holds a certificate that is expired, mismatched
// or nameless, fails the whole Apply, so a listener keeps the certificate
// it serves.

// translateTLS builds a TERMINATED_HTTPS listener's TLS; old is the
// listener's configuration being replaced, whose counters carry over.
func (rt *Runtime) translateTLS(ctx context.Context, l *octavia.Listener, old *listenerConfig) (*listenerTLS, error) {
	// The default certificate first, then the SNI ones: Octavia's crt-list.
	// With SNI refs only, the first of them is the default.
	refs := l.SNIContainerRefs
	if l.DefaultTLSRef != "" {
		refs = append([]string{l.DefaultTLSRef}, refs...)
	}
	s := tlsterm.ServerSettings{Tickets: rt.tickets, NoResumption: rt.opts.NoSessionResumption, ALPN: l.ALPNProtocols}
	for _, ref := range refs {
		b, err := rt.certs.Bundle(ctx, ref)
		if err != nil {
			return nil, err
		}
		s.Certs = append(s.Certs, b)
	}
	switch l.ClientAuthentication {
	case octavia.ClientAuthOptional:
		s.ClientAuth = tls.VerifyClientCertIfGiven
	case octavia.ClientAuthMandatory:
		s.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if l.ClientCATLSRef != "" {
		var err error
		if s.ClientCAs, s.CRL, err = rt.caAndCRL(ctx, l.ClientCATLSRef, l.ClientCRLRef); err != nil {
			return nil, err
		}
	}
	s.MinVersion, s.MaxVersion, _ = octavia.TLSVersionRange(l.TLSVersions)
	s.CipherSuites, _ = octavia.CipherSuites(l.TLSCiphers)
	srv, err := tlsterm.NewServer(s)
	if err != nil {
		return nil, err
	}
	lt := &listenerTLS{srv: srv, stats: &tlsterm.Stats{}}
	if old != nil && old.tls != nil {
		lt.stats = old.tls.stats
	}
	for i, name := range sslHeaderNames {
		if strings.EqualFold(l.InsertHeaders[name], "true") {
			lt.headers |= 1 << i
		}
	}
	return lt, nil
}

// caAndCRL resolves a CA bundle ref and an optional CRL ref signed by it.
func (rt *Runtime) caAndCRL(ctx context.Context, caRef, crlRef string) ([]*x509.Certificate, *x509.RevocationList, error) {
	cas, err := rt.certs.CAs(ctx, caRef)
	if err != nil {
		return nil, nil, err
	}
	if crlRef == "" {
		return cas, nil, nil
	}
	crl, err := rt.certs.CRL(ctx, crlRef, cas)
	return cas, crl, err
}

// poolTLS is a tls_enabled pool's client configuration, with a key that
// changes when anything it is built from does (refs, their content,
// settings); nil for a pool without TLS.
func (rt *Runtime) poolTLS(ctx context.Context, pool *octavia.Pool) (*tls.Config, string, error) {
	if pool.TLSEnabled == nil || !*pool.TLSEnabled {
		return nil, "", nil
	}
	s := tlsterm.ClientSettings{ALPN: pool.ALPNProtocols}
	key := fmt.Sprintf("%q %v %v", pool.TLSCiphers, pool.TLSVersions, pool.ALPNProtocols)
	if pool.TLSContainerRef != "" {
		b, err := rt.certs.Bundle(ctx, pool.TLSContainerRef)
		if err != nil {
			return nil, "", fmt.Errorf("pool %s tls_container_ref: %w", pool.ID, err)
		}
		s.Cert = b
		key += fmt.Sprintf(" cert %x", b.SHA1)
	}
	if pool.CATLSContainerRef != "" {
		var err error
		if s.CAs, s.CRL, err = rt.caAndCRL(ctx, pool.CATLSContainerRef, pool.CRLContainerRef); err != nil {
			return nil, "", fmt.Errorf("pool %s: %w", pool.ID, err)
		}
		for _, ca := range s.CAs {
			key += fmt.Sprintf(" ca %x", sha1.Sum(ca.Raw))
		}
		if s.CRL != nil {
			key += fmt.Sprintf(" crl %x", sha1.Sum(s.CRL.Raw))
		}
	}
	s.MinVersion, s.MaxVersion, _ = octavia.TLSVersionRange(pool.TLSVersions)
	s.CipherSuites, _ = octavia.CipherSuites(pool.TLSCiphers)
	return tlsterm.NewClient(s), key, nil
}

// handshakeMember speaks TLS over a fresh member connection, within what
// is left of the connect timeout: a member that fails the handshake is a
// member that failed to connect (retried, redispatched, counted).
func handshakeMember(ctx context.Context, c net.Conn, cfg *tls.Config, deadline time.Time) (net.Conn, error) {
	tc := tls.Client(c, cfg)
	if !deadline.IsZero() {
		c.SetDeadline(deadline)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	c.SetDeadline(time.Time{})
	return &memberTLS{Conn: tc, cfg: cfg}, nil
}

// memberTLS is a TLS connection to a member and the configuration it was
// made with.
type memberTLS struct {
	*tls.Conn
	cfg *tls.Config
}

// current reports whether a pooled member connection was made the way the
// pool speaks to its members now: a changed CA, client certificate or
// tls_enabled retires the connections made before, including those cached
// by client connections.
func (p *pool) current(uc *upstreamConn) bool {
	cfg := p.tls.Load()
	if mt, ok := uc.tc.Conn.(*memberTLS); ok {
		return mt.cfg == cfg
	}
	return cfg == nil
}

// forgetCerts drops from the certificate store's cache the remote refs cfg
// no longer names, so that a secret no listener or pool uses leaves
// memory.
func (rt *Runtime) forgetCerts(cfg *octavia.Config) {
	keep := map[string]bool{}
	for _, ref := range cfg.TLSRefs() {
		keep[ref] = true
	}
	rt.certs.Forget(func(ref string) bool { return keep[ref] })
}

// certsStore is the runtime's certificate store: the one given in Options,
// or one that reads files only.
func certsStore(s *certs.Store) *certs.Store {
	if s != nil {
		return s
	}
	return certs.NewStore(nil)
}

// tickets are the runtime's session ticket keys: given, or generated and
// rotated every period until stop is called.
func tickets(given *tlsterm.Tickets, period time.Duration) (t *tlsterm.Tickets, stop context.CancelFunc) {
	if given != nil {
		return given, func() {}
	}
	if period <= 0 {
		period = time.Hour
	}
	t = tlsterm.NewTickets()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				t.Rotate()
			}
		}
	}()
	return t, cancel
}
