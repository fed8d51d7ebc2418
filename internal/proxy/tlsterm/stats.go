package tlsterm

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
)

// Versions are the TLS versions the counters tell apart, by their
// Prometheus label.
var Versions = []string{"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}

// Protocols are the ALPN outcomes the counters tell apart; "" is a
// handshake that negotiated none (the client offered none, or only
// http/1.1 to a listener offering h2 only).
var Protocols = []string{"h2", "http/1.1", "http/1.0", ""}

// Reason is why a handshake failed.
type Reason int

// Handshake failure reasons, by their Prometheus label (FailureReasons).
const (
	FailTimeout       Reason = iota // the client did not finish within the timeout
	FailClosed                      // the client closed or reset the connection
	FailClientAlert                 // the client refused us: an alert (often an untrusted certificate)
	FailNotTLS                      // the first bytes were not a TLS handshake (plain HTTP to an HTTPS port)
	FailVersion                     // no TLS version in common
	FailCipher                      // no cipher suite in common
	FailALPN                        // no application protocol in common
	FailNoClientCert                // client authentication is MANDATORY and none was given
	FailBadClientCert               // the client certificate does not verify against the CA
	FailRevoked                     // the client certificate is on the CRL
	FailOther
	nReasons
)

// FailureReasons are the labels of the reasons, indexed by Reason.
var FailureReasons = [nReasons]string{
	"timeout", "client_closed", "client_alert", "not_tls", "protocol_version", "no_shared_cipher",
	"no_application_protocol", "no_client_certificate", "bad_client_certificate", "revoked_client_certificate", "other",
}

// Stats count a listener's handshakes. The zero value is ready.
type Stats struct {
	Handshakes atomic.Uint64 // completed
	Resumed    atomic.Uint64 // of which resumed (session ticket or PSK)
	ByVersion  [4]atomic.Uint64
	ByProtocol [4]atomic.Uint64
	Failures   [nReasons]atomic.Uint64
}

// Done counts a completed handshake.
func (s *Stats) Done(cs *tls.ConnectionState) {
	s.Handshakes.Add(1)
	if cs.DidResume {
		s.Resumed.Add(1)
	}
	if i := int(cs.Version) - tls.VersionTLS10; i >= 0 && i < len(s.ByVersion) {
		s.ByVersion[i].Add(1)
	}
	switch cs.NegotiatedProtocol {
	case "h2":
		s.ByProtocol[0].Add(1)
	case "http/1.1":
		s.ByProtocol[1].Add(1)
	case "http/1.0":
		s.ByProtocol[2].Add(1)
	default:
		s.ByProtocol[3].Add(1)
	}
}

// Failed counts a failed handshake and returns why it failed.
func (s *Stats) Failed(err error) Reason {
	r := Classify(err)
	s.Failures[r].Add(1)
	return r
}

// Classify tells why a handshake failed. crypto/tls gives most failures no
// type of their own; its messages are stable.
func Classify(err error) Reason {
	var op *net.OpError
	msg := err.Error()
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return FailTimeout
	case errors.Is(err, errRevoked):
		return FailRevoked
	case errors.As(err, &op) && op.Op == "remote error":
		return FailClientAlert
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return FailClosed
	case errors.As(err, new(tls.RecordHeaderError)):
		return FailNotTLS
	case strings.Contains(msg, "didn't provide a certificate"):
		return FailNoClientCert
	case strings.Contains(msg, "failed to verify certificate"), strings.Contains(msg, "x509:"):
		return FailBadClientCert
	case strings.Contains(msg, "unsupported versions"), strings.Contains(msg, "protocol version"):
		return FailVersion
	case strings.Contains(msg, "no cipher suite"):
		return FailCipher
	case strings.Contains(msg, "application protocol"):
		return FailALPN
	}
	return FailOther
}
