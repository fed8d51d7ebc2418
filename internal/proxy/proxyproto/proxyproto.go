// Package proxyproto reads and writes the PROXY protocol header (versions
// 1 and 2, haproxy.org/download/2.6/doc/proxy-protocol.txt): what lbd sends
// members of PROXY and PROXYV2 pools ahead of a connection's bytes, as the
// amphora's "send-proxy" and "send-proxy-v2" do, and what it reads from a
// trusted upstream load balancer; behind TLS termination, the client's TLS
// as send-proxy-v2-ssl-cn sends it (SSL).
//
// Parse works on the bytes read so far, reports how many the header took
// (the rest is the client's), asks for more with ErrIncomplete, allocates
// nothing and never reads past the header. It checks the header strictly:
// anything malformed is refused, not guessed.
//
// It owns the wire format and nothing that runs. It must not import any
// lbd package.
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
)

// Version 1's and 2's signatures.
var (
	sigV1 = []byte("PROXY ")
	sigV2 = []byte("\r\n\r\n\x00\r\nQUIT\n")
)

const (
	maxV1 = 107 // the longest version 1 header, CRLF included
	// MaxV2 bounds a version 2 header: its fixed 16 bytes, addresses and
	// TLVs. HAProxy reads what fits its buffer; lbd refuses longer ones.
	MaxV2 = 16 + 2048
)

// Errors of Parse.
var (
	// ErrIncomplete: b may be the start of a header; read more.
	ErrIncomplete = errors.New("proxy protocol: incomplete header")
	// ErrNotProxy: b does not begin with a PROXY protocol signature.
	ErrNotProxy = errors.New("proxy protocol: no header")
	// ErrMalformed: a header that breaks the specification.
	ErrMalformed = errors.New("proxy protocol: malformed header")
)

// Header is what a PROXY header says. When Local is set (version 2's LOCAL
// command, version 1's UNKNOWN, or an unspecified family) the addresses
// are not given and the connection's own apply.
type Header struct {
	Version  int
	Local    bool
	Src, Dst netip.AddrPort
}

// Starts reports whether b begins like a PROXY header (or could, once
// more bytes arrive).
func Starts(b []byte) bool {
	return prefixOf(b, sigV1) || prefixOf(b, sigV2)
}

// prefixOf reports whether b and sig agree on their common length.
func prefixOf(b, sig []byte) bool {
	n := min(len(b), len(sig))
	return n > 0 && bytes.Equal(b[:n], sig[:n])
}

// Parse reads a header at the start of b. It returns the header and the
// number of bytes it took; ErrIncomplete when b is a proper prefix of a
// header, ErrNotProxy when b starts with something else.
func Parse(b []byte) (Header, int, error) {
	switch {
	case len(b) >= len(sigV2) && bytes.Equal(b[:len(sigV2)], sigV2):
		return parseV2(b)
	case len(b) >= len(sigV1) && bytes.Equal(b[:len(sigV1)], sigV1):
		return parseV1(b)
	case Starts(b):
		return Header{}, 0, ErrIncomplete
	}
	return Header{}, 0, ErrNotProxy
}

func parseV1(b []byte) (Header, int, error) {
	end := bytes.IndexByte(b[:min(len(b), maxV1)], '\n')
	if end < 0 {
		if len(b) >= maxV1 {
			return Header{}, 0, ErrMalformed
		}
		return Header{}, 0, ErrIncomplete
	}
	if end == 0 || b[end-1] != '\r' {
		return Header{}, 0, ErrMalformed
	}
	line := b[len(sigV1) : end-1]
	h := Header{Version: 1}
	proto, rest, _ := cut(line)
	switch string(proto) {
	case "UNKNOWN":
		h.Local = true // the rest of the line is ignored
		return h, end + 1, nil
	case "TCP4", "TCP6":
	default:
		return Header{}, 0, ErrMalformed
	}
	var f [4][]byte
	for i := range f {
		var ok bool
		f[i], rest, ok = cut(rest)
		if !ok && i < 3 || len(f[i]) == 0 {
			return Header{}, 0, ErrMalformed
		}
	}
	if len(rest) != 0 {
		return Header{}, 0, ErrMalformed
	}
	src, err1 := parseAddr(f[0], string(proto) == "TCP4")
	dst, err2 := parseAddr(f[1], string(proto) == "TCP4")
	sp, ok1 := parsePort(f[2])
	dp, ok2 := parsePort(f[3])
	if err1 != nil || err2 != nil || !ok1 || !ok2 {
		return Header{}, 0, ErrMalformed
	}
	h.Src, h.Dst = netip.AddrPortFrom(src, sp), netip.AddrPortFrom(dst, dp)
	return h, end + 1, nil
}

// cut splits at the first space; ok is false when there is none.
func cut(b []byte) (field, rest []byte, ok bool) {
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i], b[i+1:], true
	}
	return b, nil, false
}

func parseAddr(b []byte, v4 bool) (netip.Addr, error) {
	if v4 {
		return parseIPv4(b)
	}
	if len(b) > 45 || bytes.IndexByte(b, '%') >= 0 { // the longest IPv6 text; no zones
		return netip.Addr{}, ErrMalformed
	}
	a, err := netip.ParseAddr(string(b)) // IPv6: one allocation, per connection
	if err != nil || a.Is4() != v4 || a.Zone() != "" {
		return netip.Addr{}, ErrMalformed
	}
	return a, nil
}

// parseIPv4 reads dotted-decimal IPv4 as netip.ParseAddr does (four
// decimal octets, no leading zeros), without allocating.
func parseIPv4(b []byte) (netip.Addr, error) {
	var a [4]byte
	for i := range a {
		j := 0
		for j < len(b) && b[j] != '.' {
			j++
		}
		if j == 0 || j > 3 || (j > 1 && b[0] == '0') || (i < 3) != (j < len(b)) {
			return netip.Addr{}, ErrMalformed
		}
		n := 0
		for _, c := range b[:j] {
			if c < '0' || c > '9' {
				return netip.Addr{}, ErrMalformed
			}
			n = n*10 + int(c-'0')
		}
		if n > 255 {
			return netip.Addr{}, ErrMalformed
		}
		a[i] = byte(n)
		if i < 3 {
			b = b[j+1:]
		}
	}
	return netip.AddrFrom4(a), nil
}

// parsePort reads a decimal port, 0 to 65535, without leading zeros.
func parsePort(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return uint16(n), n <= 65535
}

func parseV2(b []byte) (Header, int, error) {
	if len(b) < 16 {
		return Header{}, 0, ErrIncomplete
	}
	verCmd, fam := b[12], b[13]
	n := 16 + int(binary.BigEndian.Uint16(b[14:16]))
	if verCmd>>4 != 2 || n > MaxV2 {
		return Header{}, 0, ErrMalformed
	}
	if len(b) < n {
		return Header{}, 0, ErrIncomplete
	}
	h := Header{Version: 2}
	body := b[16:n]
	var addrLen int
	switch fam {
	case 0x00: // AF_UNSPEC
	case 0x11: // TCP over IPv4
		addrLen = 12
	case 0x21: // TCP over IPv6
		addrLen = 36
	case 0x12, 0x22, 0x31, 0x32: // UDP, UNIX stream and datagram: not a TCP listener's peer
		addrLen = map[byte]int{0x12: 12, 0x22: 36, 0x31: 216, 0x32: 216}[fam]
	default:
		return Header{}, 0, ErrMalformed
	}
	if len(body) < addrLen {
		return Header{}, 0, ErrMalformed
	}
	if err := checkTLVs(body[addrLen:]); err != nil {
		return Header{}, 0, err
	}
	switch verCmd & 0xf {
	case 0: // LOCAL: a health check of the upstream's own; addresses ignored
		h.Local = true
		return h, n, nil
	case 1: // PROXY
	default:
		return Header{}, 0, ErrMalformed
	}
	switch fam {
	case 0x11:
		h.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[0:4])), binary.BigEndian.Uint16(body[8:10]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(body[4:8])), binary.BigEndian.Uint16(body[10:12]))
	case 0x21:
		h.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[0:16])).Unmap(), binary.BigEndian.Uint16(body[32:34]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(body[16:32])).Unmap(), binary.BigEndian.Uint16(body[34:36]))
	case 0x00:
		h.Local = true // "the receiver must ignore the address information"
	default:
		return Header{}, 0, ErrMalformed // PROXY for a UDP or UNIX peer on a TCP listener
	}
	return h, n, nil
}

// checkTLVs checks that the TLVs after the addresses are well formed: each
// a type, a 16-bit length and that many bytes, filling the header exactly.
// Their contents are not used.
func checkTLVs(b []byte) error {
	for len(b) > 0 {
		if len(b) < 3 {
			return ErrMalformed
		}
		l := 3 + int(binary.BigEndian.Uint16(b[1:3]))
		if len(b) < l {
			return ErrMalformed
		}
		b = b[l:]
	}
	return nil
}

// SSL is what a version 2 header tells a member of the client's TLS
// connection, as HAProxy's send-proxy-v2-ssl-cn sends it (the server
// option Octavia renders for a PROXYV2 pool behind a TERMINATED_HTTPS
// listener): PP2_TYPE_ALPN when the client negotiated a protocol, then
// PP2_TYPE_SSL with its client flags, the verify result (when the session
// has a certificate) and the PP2_SUBTYPE_SSL_VERSION and PP2_SUBTYPE_SSL_CN
// sub-TLVs. nil for a plain connection.
type SSL struct {
	ALPN     string // PP2_TYPE_ALPN: the protocol negotiated, "" for none
	Cert     bool   // PP2_CLIENT_CERT_SESS: the session has a client certificate
	CertConn bool   // PP2_CLIENT_CERT_CONN: and it came on this connection (not resumed)
	Verify   uint32 // the certificate's verification result, 0 when it verified
	Version  string // PP2_SUBTYPE_SSL_VERSION, e.g. "TLSv1.3"
	CN       string // PP2_SUBTYPE_SSL_CN: the certificate's (first) common name
}

// AppendV1 appends a version 1 header for a TCP connection from src to
// dst. Addresses of different families are sent as IPv6.
func AppendV1(b []byte, src, dst netip.AddrPort) []byte {
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	proto := "TCP4 "
	if !s.Is4() || !d.Is4() {
		proto = "TCP6 "
		s, d = as6(s), as6(d)
	}
	b = append(b, sigV1...)
	b = append(b, proto...)
	b = s.AppendTo(b)
	b = append(b, ' ')
	b = d.AppendTo(b)
	b = append(b, ' ')
	b = appendUint(b, src.Port())
	b = append(b, ' ')
	b = appendUint(b, dst.Port())
	return append(b, '\r', '\n')
}

// AppendV2 appends a version 2 PROXY header for a TCP connection from src
// to dst; ssl, when not nil, adds the PP2_TYPE_SSL TLV.
func AppendV2(b []byte, src, dst netip.AddrPort, ssl *SSL) []byte {
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	start := len(b)
	b = append(b, sigV2...)
	b = append(b, 0x21) // version 2, PROXY
	if s.Is4() && d.Is4() {
		b = append(b, 0x11, 0, 0)
		b = append(b, s.AsSlice()...)
		b = append(b, d.AsSlice()...)
	} else {
		b = append(b, 0x21, 0, 0)
		a, c := as6(s).As16(), as6(d).As16()
		b = append(b, a[:]...)
		b = append(b, c[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	if ssl != nil {
		b = appendSSL(b, ssl)
	}
	binary.BigEndian.PutUint16(b[start+14:], uint16(len(b)-start-16))
	return b
}

// Types of the TLVs lbd sends, and the SSL TLV's client flags.
const (
	typeALPN       = 0x01
	typeSSL        = 0x20
	subSSLVersion  = 0x21
	subSSLCN       = 0x22
	clientSSL      = 0x01
	clientCertConn = 0x02
	clientCertSess = 0x04
)

// appendSSL appends the TLVs of ssl in HAProxy's order (make_proxy_line_v2:
// ALPN, then SSL).
func appendSSL(b []byte, ssl *SSL) []byte {
	if ssl.ALPN != "" {
		b = appendTLV(b, typeALPN, ssl.ALPN)
	}
	at := len(b)
	b = append(b, typeSSL, 0, 0)
	client := byte(clientSSL)
	var verify uint32
	if ssl.Cert {
		client |= clientCertSess
		verify = ssl.Verify
		if ssl.CertConn {
			client |= clientCertConn
		}
	}
	b = append(b, client)
	b = binary.BigEndian.AppendUint32(b, verify)
	if ssl.Version != "" {
		b = appendTLV(b, subSSLVersion, ssl.Version)
	}
	if ssl.CN != "" {
		b = appendTLV(b, subSSLCN, ssl.CN)
	}
	binary.BigEndian.PutUint16(b[at+1:], uint16(len(b)-at-3))
	return b
}

// appendTLV appends a TLV (its value is short: a protocol name, a
// version, a common name from a certificate).
func appendTLV(b []byte, typ byte, v string) []byte {
	b = append(b, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}

func as6(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.AddrFrom16(a.As16())
	}
	return a
}

func appendUint(b []byte, n uint16) []byte {
	var d [5]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}
