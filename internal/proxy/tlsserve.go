package proxy

import (
	"crypto/tls"
	"net"
	"net/netip"
	"time"

	"lbd/internal/accesslog"
	"lbd/internal/proxy/http1"
	"lbd/internal/proxy/tlsterm"
)

// TERMINATED_HTTPS: the TLS handshake, then HTTP/1.1 on the goroutine path
// over the *tls.Conn (it never moves into an event loop, which takes
// sockets only), or HTTP/2 (h2serve.go) when the client negotiated h2.

// listenerTLS is a TERMINATED_HTTPS listener's TLS, built by translate and
// read-only after: a changed certificate is a new listenerTLS, used by the
// handshakes that start after the swap, while established connections
// keep the session they have.
type listenerTLS struct {
	srv     *tlsterm.Server
	stats   *tlsterm.Stats // carried over reloads, like the listener's traffic
	headers sslHeaders
}

// sslHeaders are the X-SSL-* insert_headers that are on, one bit per
// entry of sslHeaderNames.
type sslHeaders uint8

// sslHeaderNames are Octavia's X-SSL-* headers, in the order of Peer's
// values.
var sslHeaderNames = [8]string{
	"X-SSL-Client-Verify", "X-SSL-Client-Has-Cert", "X-SSL-Client-DN", "X-SSL-Client-CN",
	"X-SSL-Issuer", "X-SSL-Client-SHA1", "X-SSL-Client-Not-Before", "X-SSL-Client-Not-After",
}

// fields appends the headers that are on, with p's values (no client
// certificate when p is nil), to dst.
func (h sslHeaders) fields(p *tlsterm.Peer, dst []http1.Field) []http1.Field {
	if p == nil {
		p = tlsterm.NoCert
	}
	vals := [8]string{p.Verify, p.HasCert, p.DN, p.CN, p.Issuer, p.SHA1, p.NotBefore, p.NotAfter}
	for i, name := range sslHeaderNames {
		if h&(1<<i) != 0 {
			dst = append(dst, http1.Field{Name: name, Value: vals[i]})
		}
	}
	return dst
}

// setTLS fills an access log record's TLS fields from the connection's
// handshake; nil (no TLS) leaves them empty.
func setTLS(rec *accesslog.Record, p *tlsterm.Peer) {
	if p == nil {
		return
	}
	rec.TLS = accesslog.TLS{On: true, Verify: p.Verify, Used: p.HasCert, SubjectDN: p.DN, IssuerDN: p.Issuer,
		SHA1: p.SHA1, NotBefore: p.NotBefore, NotAfter: p.NotAfter, Protocol: p.Protocol, Cipher: p.Cipher, SNI: p.SNI}
}

// serveTLS completes the handshake within timeout_client_data, counts it,
// and serves the connection with the protocol it negotiated. A client
// that fails the handshake (a bad certificate under MANDATORY among them)
// gets crypto/tls's alert and never reaches a member.
// pre are bytes read past a PROXY header (accept_proxy_protocol): the
// start of the handshake.
func (rt *Runtime) serveTLS(l *listener, c *net.TCPConn, cfg *listenerConfig, pr peer, pre []byte, st *connState) {
	var raw net.Conn = c
	if len(pre) > 0 {
		raw = &replayConn{Conn: c, pending: pre}
	}
	remote := pr.remote
	// Under the TLS connection, so that an HTTP/2 one's records leave
	// together (h2cork.go); HTTP/1.1 writes pass through it.
	cc := &corkConn{Conn: raw}
	tc := handshake(cc, cfg, remote)
	if tc == nil {
		return
	}
	cs := tc.ConnectionState()
	cfg.tls.stats.Done(&cs)
	// Read once, whether or not the X-SSL-* headers are on now: a reload
	// may turn them on for this connection's next requests.
	st.peer = tlsterm.NewPeer(&cs)
	if cs.NegotiatedProtocol == "h2" {
		cc.cork(cfg.clientTimeout)
		rt.serveH2Conn(l, tc, cfg, pr, st, false)
		return
	}
	serveHTTP(nil, l, tc, pr, st, cfg.traffic, nil, nil)
}

// handshake completes a TLS handshake within timeout_client_data and
// counts it; nil when it failed.
func handshake(c net.Conn, cfg *listenerConfig, remote netip.AddrPort) *tls.Conn {
	t := cfg.tls
	tc := tls.Server(c, t.srv.Config())
	if cfg.clientTimeout > 0 {
		c.SetDeadline(time.Now().Add(cfg.clientTimeout))
	}
	if err := tc.Handshake(); err != nil {
		r := t.stats.Failed(err)
		cfg.log.Debug("TLS handshake failed", "client", remote, "reason", tlsterm.FailureReasons[r], "err", err)
		return nil
	}
	c.SetDeadline(time.Time{})
	return tc
}

// servePrometheusTLS serves a PROMETHEUS listener with certificate refs
// (Octavia's "PROMETHEUS with TLS") over TLS.
func (rt *Runtime) servePrometheusTLS(c *net.TCPConn, cfg *listenerConfig, remote netip.AddrPort) {
	tc := handshake(c, cfg, remote)
	if tc == nil {
		return
	}
	cs := tc.ConnectionState()
	cfg.tls.stats.Done(&cs)
	rt.metrics.serve(tc, rt.opts.Metrics)
}
