package tlsterm

import (
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Peer are the values of the X-SSL-* headers Octavia has HAProxy insert
// for a connection: %[ssl_c_verify], %[ssl_c_used], %[ssl_c_s_dn],
// %[ssl_c_s_dn(cn)], %[ssl_c_i_dn], %[ssl_c_sha1,hex], %[ssl_c_notbefore]
// and %[ssl_c_notafter], formatted as HAProxy 2.6 formats them (checked
// against it): distinguished names as /SN=value entries in certificate
// order, the fingerprint in upper-case hex, times as the certificate's
// ASN.1 time (YYMMDDhhmmssZ), all empty without a client certificate.
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

	subject string // the client certificate's raw subject (DER), for SubjectField
}

// The L7 rules' view (l7.TLSInfo): what HAProxy's ssl_c_used,
// ssl_c_verify and ssl_c_s_dn(<field>) read.

// ClientCertUsed reports whether the client presented a certificate.
func (p *Peer) ClientCertUsed() bool { return p.HasCert == "1" }

// VerifyResult is 0: a certificate that fails verification fails the
// handshake, so a connection that has one has a verified one.
func (p *Peer) VerifyResult() int { return 0 }

// SubjectField returns the last value of the subject's attribute name (an
// OpenSSL short name such as CN or OU, or a dotted OID), as ssl_c_s_dn(name)
// does.
func (p *Peer) SubjectField(name []byte) ([]byte, bool) {
	var rdns pkix.RDNSequence
	if len(p.subject) == 0 {
		return nil, false
	}
	if _, err := asn1.Unmarshal([]byte(p.subject), &rdns); err != nil {
		return nil, false
	}
	var val []byte
	found := false
	for _, rdn := range rdns {
		for _, atv := range rdn {
			oid := atv.Type.String()
			if sn, ok := shortNames[oid]; (ok && strings.EqualFold(sn, string(name))) || oid == string(name) {
				val, found = fmt.Append(nil, atv.Value), true
			}
		}
	}
	return val, found
}

// NoCert is the Peer of a connection without a client certificate.
var NoCert = &Peer{Verify: "0", HasCert: "0"}

// NewPeer reads a finished handshake: the client certificate, the version,
// cipher and SNI.
func NewPeer(cs *tls.ConnectionState) *Peer {
	p := &Peer{Verify: "0", HasCert: "0", Protocol: versionNames[cs.Version], Cipher: tls.CipherSuiteName(cs.CipherSuite), SNI: cs.ServerName}
	if len(cs.PeerCertificates) == 0 {
		return p
	}
	c := cs.PeerCertificates[0]
	sum := sha1.Sum(c.Raw)
	p.HasCert = "1"
	p.subject = string(c.RawSubject)
	p.DN, p.CN, p.Issuer = oneline(c.RawSubject), firstCN(c.RawSubject), oneline(c.RawIssuer)
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

// oneline renders a raw distinguished name as HAProxy's ssl_c_s_dn does:
// "/" SN "=" value for each attribute in order, multi-valued RDNs flat,
// nothing escaped.
func oneline(raw []byte) string {
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(raw, &rdns); err != nil {
		return ""
	}
	var b strings.Builder
	for _, rdn := range rdns {
		for _, atv := range rdn {
			b.WriteByte('/')
			oid := atv.Type.String()
			if sn, ok := shortNames[oid]; ok {
				b.WriteString(sn)
			} else {
				b.WriteString(oid)
			}
			b.WriteByte('=')
			fmt.Fprint(&b, atv.Value)
		}
	}
	return b.String()
}

var oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}

// firstCN is ssl_c_s_dn(cn): the first common name.
func firstCN(raw []byte) string {
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(raw, &rdns); err != nil {
		return ""
	}
	for _, rdn := range rdns {
		for _, atv := range rdn {
			if atv.Type.Equal(oidCN) {
				return fmt.Sprint(atv.Value)
			}
		}
	}
	return ""
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
