// Package tlsterm is lbd's TLS: what a TERMINATED_HTTPS listener presents
// and accepts (Server: the certificate for each SNI name, wildcards
// included, client authentication with a CA and a CRL, versions, ciphers
// and ALPN), what a tls_enabled pool presents to its members and checks of
// them (NewClient), the session-ticket keys every listener shares and
// rotates (Tickets), the X-SSL-* values HAProxy inserts for a client
// certificate (Peer), and the counters of handshakes and their failures
// (Stats).
//
// It builds crypto/tls configurations from plain, already checked values
// (certs.Bundle and crypto/tls's own types): the proxy translates the model
// into them. It serves no connection itself. It must not import the proxy,
// the model (internal/octavia) or any package beyond internal/certs and the
// standard library.
package tlsterm
