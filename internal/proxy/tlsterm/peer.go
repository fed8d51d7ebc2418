package tlsterm

import (
	"bytes"
	"crypto/sha1"
	"crypto/tls"
	"encoding/asn1"
	"encoding/hex"
	"strings"
	"time"
)

// Peer are the values of the X-SSL-* headers Octavia has HAProxy insert
// for a connection: %[ssl_c_verify], %[ssl_c_used], %[ssl_c_s_dn],
// %[ssl_c_s_dn(cn)], %[ssl_c_i_dn], %[ssl_c_sha1,hex], %[ssl_c_notbefore]
// and %[ssl_c_notafter], formatted as HAProxy 2.6 formats them (measured
// against it: TestClientDNAgainstHAProxy in internal/proxy): distinguished
// names as /SN=value entries in certificate order, the fingerprint in
// upper-case hex, times as the certificate's ASN.1 time (YYMMDDhhmmssZ),
// all empty without a client certificate.
type Peer struct {
	Verify    string // always "0": a certificate that fails verification fails the handshake
	HasCert   string // "1" or "0"
	DN        string
	CN        string
	Issuer    string
	SHA1      string
	NotBefore string
	NotAfter  string
	// The connection's version (as HAProxy's ssl_fc_protocol: TLSv1.3),
	// cipher suite (its IANA name) and SNI, for the access log.
	Protocol, Cipher, SNI string
	// The protocol ALPN chose ("" for none), and whether the session was
	// resumed (its certificate, if any, came on an earlier connection):
	// for a PROXYV2 pool's header.
	ALPN    string
	Resumed bool

	subject []dnEntry // the client certificate's subject, for SubjectField
}

// The L7 rules' view (l7.TLSInfo): what HAProxy's ssl_c_used,
// ssl_c_verify and ssl_c_s_dn(<field>) read.

// ClientCertUsed reports whether the client presented a certificate.
func (p *Peer) ClientCertUsed() bool { return p.HasCert == "1" }

// VerifyResult is 0: a certificate that fails verification fails the
// handshake, so a connection that has one has a verified one.
func (p *Peer) VerifyResult() int { return 0 }

// SubjectField is ssl_c_s_dn(name), which an SSL_DN_FIELD rule reads: the
// first value of the subject's attribute name (an OpenSSL short name such
// as CN or OU, any case), as X-SSL-Client-CN's ssl_c_s_dn(cn) is.
func (p *Peer) SubjectField(name []byte) ([]byte, bool) {
	return field(p.subject, name)
}

// dnEntry is one attribute of a distinguished name, multi-valued RDNs
// flattened, as OpenSSL's X509_NAME holds them.
type dnEntry struct {
	name  string // OpenSSL's short name, or the dotted OID when it has none
	value []byte // the string's content octets, as ASN1_STRING_get0_data
	bad   bool   // a NUL with data after it: HAProxy gives no value
}

// field is HAProxy's ssl_sock_get_dn_entry with occurrence 1 (the
// default of ssl_c_s_dn(<entry>)): the first entry whose short name is
// name, compared without case. The one rule for X-SSL-Client-CN and
// SSL_DN_FIELD.
func field(dn []dnEntry, name []byte) ([]byte, bool) {
	for _, e := range dn {
		if !equalFold(e.name, name) {
			continue
		}
		if e.bad {
			return nil, false
		}
		return e.value, true
	}
	return nil, false
}

// equalFold compares a short name with a rule's key, ASCII case ignored
// (chunk_strcasecmp), without converting the key.
func equalFold(s string, b []byte) bool {
	if len(s) != len(b) {
		return false
	}
	for i := range len(b) {
		x, y := s[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// rawATV is an attribute with its value as encoded.
type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// rdnSET is a relative distinguished name (encoding/asn1 reads a slice
// type whose name ends in SET as a SET OF).
type rdnSET []rawATV

// parseDN reads a raw distinguished name; nil when it does not parse.
func parseDN(raw []byte) []dnEntry {
	var rdns []rdnSET
	if rest, err := asn1.Unmarshal(raw, &rdns); err != nil || len(rest) > 0 {
		return nil
	}
	var out []dnEntry
	for _, rdn := range rdns {
		for _, atv := range rdn {
			oid := atv.Type.String()
			e := dnEntry{name: oid, value: atv.Value.Bytes}
			if sn, ok := shortNames[oid]; ok {
				e.name = sn
			}
			// As HAProxy: trailing NULs are padding (one is kept), a NUL
			// with data after it makes the value malformed.
			if i := bytes.IndexByte(e.value, 0); i >= 0 {
				if bytes.ContainsFunc(e.value[i:], func(r rune) bool { return r != 0 }) {
					e.bad = true
				}
				e.value = e.value[:i+1]
			}
			out = append(out, e)
		}
	}
	return out
}

// NoCert is the Peer of a connection without a client certificate.
var NoCert = &Peer{Verify: "0", HasCert: "0"}

// NewPeer reads a finished handshake: the client certificate, the version,
// cipher and SNI.
func NewPeer(cs *tls.ConnectionState) *Peer {
	p := &Peer{Verify: "0", HasCert: "0", Protocol: versionNames[cs.Version], Cipher: tls.CipherSuiteName(cs.CipherSuite), SNI: cs.ServerName,
		ALPN: cs.NegotiatedProtocol, Resumed: cs.DidResume}
	if len(cs.PeerCertificates) == 0 {
		return p
	}
	c := cs.PeerCertificates[0]
	sum := sha1.Sum(c.Raw)
	p.HasCert = "1"
	p.subject = parseDN(c.RawSubject)
	cn, _ := field(p.subject, []byte("CN"))
	p.DN, p.CN, p.Issuer = oneline(p.subject), string(cn), oneline(parseDN(c.RawIssuer))
	p.SHA1 = strings.ToUpper(hex.EncodeToString(sum[:]))
	p.NotBefore, p.NotAfter = asn1Time(c.NotBefore), asn1Time(c.NotAfter)
	return p
}

// versionNames are OpenSSL's (HAProxy's) names of the versions.
var versionNames = map[uint16]string{
	tls.VersionTLS10: "TLSv1", tls.VersionTLS11: "TLSv1.1", tls.VersionTLS12: "TLSv1.2", tls.VersionTLS13: "TLSv1.3",
}

// shortNames are OpenSSL's short names (OBJ_nid2sn) of the attributes
// distinguished names carry.
var shortNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C", "2.5.4.7": "L",
	"2.5.4.8": "ST", "2.5.4.9": "street", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.12": "title",
	"2.5.4.13": "description", "2.5.4.15": "businessCategory", "2.5.4.17": "postalCode",
	"2.5.4.41": "name", "2.5.4.42": "GN", "2.5.4.43": "initials", "2.5.4.44": "generationQualifier",
	"2.5.4.46": "dnQualifier", "2.5.4.65": "pseudonym", "2.5.4.97": "organizationIdentifier",
	"1.2.840.113549.1.9.1": "emailAddress", "0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1": "UID", "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
	"1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST", "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL",
}

// oneline renders a distinguished name as HAProxy's ssl_c_s_dn does:
// "/" SN "=" value for each attribute in order, multi-valued RDNs flat,
// nothing escaped; empty when a value is malformed (a NUL inside).
func oneline(dn []dnEntry) string {
	var b strings.Builder
	for _, e := range dn {
		if e.bad {
			return ""
		}
		b.WriteByte('/')
		b.WriteString(e.name)
		b.WriteByte('=')
		b.Write(e.value)
	}
	return b.String()
}

// asn1Time renders a validity time as the certificate encodes it: UTCTime
// (YYMMDDhhmmssZ) for 1950-2049, GeneralizedTime (YYYYMMDDhhmmssZ)
// otherwise (RFC 5280 §4.1.2.5).
func asn1Time(t time.Time) string {
	t = t.UTC()
	if t.Year() >= 1950 && t.Year() < 2050 {
		return t.Format("060102150405Z")
	}
	return t.Format("20060102150405Z")
}
