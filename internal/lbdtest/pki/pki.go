// Package pki mints the certificates TLS tests need: CAs (and
// intermediates), server and client certificates with ECDSA P-256 or
// RSA-2048 keys, wildcards, expired ones, CRLs, OCSP responses, PEM bundles
// and PKCS#12 files, all in memory from crypto/x509.
//
// Only tests import it. It must not import any other lbd package.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
	"software.sslmate.com/src/go-pkcs12"
)

var serial atomic.Int64

func init() { serial.Store(time.Now().UnixNano()) }

// KeyType picks a key algorithm.
type KeyType int

// Key types.
const (
	ECDSA KeyType = iota // P-256
	RSA                  // 2048 bits
)

// NewKey returns a fresh key of type k.
func NewKey(t testing.TB, k KeyType) crypto.Signer {
	t.Helper()
	var key crypto.Signer
	var err error
	if k == RSA {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// CA is a certificate authority.
type CA struct {
	Cert   *x509.Certificate
	Key    crypto.Signer
	Parent *CA // nil for a root
}

// NewCA makes a self-signed root CA.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	key := NewKey(t, ECDSA)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"lbd tests"}, Country: []string{"FR"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &CA{Cert: c, Key: key}
}

// Intermediate makes a CA signed by ca.
func (ca *CA) Intermediate(t testing.TB, cn string) *CA {
	t.Helper()
	key := NewKey(t, ECDSA)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(5 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &CA{Cert: c, Key: key, Parent: ca}
}

// PEM is the CA's certificate in PEM form.
func (ca *CA) PEM() []byte { return CertPEM(ca.Cert) }

// Pool is a cert pool holding the CA (and its parents).
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	for c := ca; c != nil; c = c.Parent {
		p.AddCert(c.Cert)
	}
	return p
}

// Leaf describes a certificate to issue.
type Leaf struct {
	CN        string
	DNS       []string
	IPs       []net.IP
	Key       KeyType
	NotBefore time.Time // zero: an hour ago
	NotAfter  time.Time // zero: a year from now
	Client    bool      // for client authentication rather than serving
	OCSP      []string  // OCSP responder URLs
	Subject   *pkix.Name
	// RDNs, when set, is the subject as given, multi-valued RDNs
	// included (Subject cannot express those); it wins over CN and Subject.
	RDNs pkix.RDNSequence
	// CNOnly leaves the DNS names out; otherwise a server certificate
	// without DNS names gets its CN as one (clients ignore the CN).
	CNOnly bool
}

// Cert is an issued certificate with its key and chain.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	CA   *CA
}

// Issue signs a certificate as described.
func (ca *CA) Issue(t testing.TB, l Leaf) *Cert {
	t.Helper()
	key := NewKey(t, l.Key)
	if l.NotBefore.IsZero() {
		l.NotBefore = time.Now().Add(-time.Hour)
	}
	if l.NotAfter.IsZero() {
		l.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	}
	subject := pkix.Name{CommonName: l.CN}
	if l.Subject != nil {
		subject = *l.Subject
	}
	if l.DNS == nil && !l.Client && !l.CNOnly && l.CN != "" {
		l.DNS = []string{l.CN}
	}
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if l.Client {
		usage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      subject,
		DNSNames:     l.DNS,
		IPAddresses:  l.IPs,
		NotBefore:    l.NotBefore,
		NotAfter:     l.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  usage,
		OCSPServer:   l.OCSP,
	}
	if l.RDNs != nil {
		raw, err := asn1.Marshal(l.RDNs)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.RawSubject = raw
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &Cert{Cert: c, Key: key, CA: ca}
}

// chain is the intermediates between the certificate and its root.
func (c *Cert) chain() []*x509.Certificate {
	var out []*x509.Certificate
	for ca := c.CA; ca != nil && ca.Parent != nil; ca = ca.Parent {
		out = append(out, ca.Cert)
	}
	return out
}

// CertPEM is the certificate alone in PEM form.
func (c *Cert) CertPEM() []byte { return CertPEM(c.Cert) }

// KeyPEM is the private key in PKCS#8 PEM form.
func (c *Cert) KeyPEM() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// BundlePEM is certificate, key, then intermediates: the order Octavia
// writes them for HAProxy.
func (c *Cert) BundlePEM() []byte {
	var b bytes.Buffer
	b.Write(c.CertPEM())
	b.Write(c.KeyPEM())
	for _, i := range c.chain() {
		b.Write(CertPEM(i))
	}
	return b.Bytes()
}

// PKCS12 is the certificate, key and intermediates as a PKCS#12 file
// without a pass phrase, as Octavia's Barbican secrets hold them.
func (c *Cert) PKCS12(t testing.TB) []byte {
	t.Helper()
	data, err := pkcs12.Modern.Encode(c.Key, c.Cert, c.chain(), "")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TLS is the certificate for a tls.Config.
func (c *Cert) TLS() tls.Certificate {
	tc := tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key, Leaf: c.Cert}
	for _, i := range c.chain() {
		tc.Certificate = append(tc.Certificate, i.Raw)
	}
	return tc
}

// CRL is a PEM CRL from ca revoking certs.
func (ca *CA) CRL(t testing.TB, revoked ...*Cert) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{
		Number:     big.NewInt(serial.Add(1)),
		ThisUpdate: time.Now().Add(-time.Minute),
		NextUpdate: time.Now().Add(24 * time.Hour),
	}
	for _, r := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: r.Cert.SerialNumber, RevocationTime: time.Now().Add(-time.Minute)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// OCSP is a DER OCSP response from c's CA saying c is good until next.
func (c *Cert) OCSP(t testing.TB, next time.Time) []byte {
	t.Helper()
	tmpl := ocsp.Response{
		Status:       ocsp.Good,
		SerialNumber: c.Cert.SerialNumber,
		ThisUpdate:   time.Now().Add(-time.Hour),
		NextUpdate:   next,
	}
	der, err := ocsp.CreateResponse(c.CA.Cert, c.CA.Cert, tmpl, c.CA.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// CertPEM encodes a certificate as PEM.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// Write puts data in dir/name and returns the path.
func Write(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
