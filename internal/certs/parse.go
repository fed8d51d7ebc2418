package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// Bundle is a certificate with its private key and intermediates, checked:
// the key matches, the certificate names at least one host and is valid
// now.
type Bundle struct {
	// Cert is ready for a tls.Config: Certificate holds the leaf, then the
	// intermediates, Leaf is parsed, OCSPStaple is set when a staple was
	// found (Store.Bundle).
	Cert tls.Certificate
	// Names are the host names it serves: its DNS subject alternative
	// names, or its common name when it has none (Octavia's rule).
	Names    []string
	NotAfter time.Time
	// SHA1 is the leaf's fingerprint, as Octavia names certificate files.
	SHA1 [sha1.Size]byte
	// StapleStale: an OCSP staple file was found but is past its next
	// update, so it is not served.
	StapleStale bool
}

// Problems a bundle can have; RefError wraps them, so errors.Is finds them.
var (
	ErrNoCertificate = errors.New("no certificate found (want PEM CERTIFICATE blocks, or a PKCS#12 file without a pass phrase)")
	ErrNoKey         = errors.New("no private key found")
	ErrKeyMismatch   = errors.New("the private key does not match the certificate")
	ErrEncryptedKey  = errors.New("the private key is encrypted; lbd needs it without a pass phrase, as Octavia does")
	ErrNoNames       = errors.New("no CN or DNS name (subjectAltName) in the certificate")
	ErrExpired       = errors.New("the certificate has expired")
	ErrNotYetValid   = errors.New("the certificate is not valid yet")
	ErrPKCS12        = errors.New("unreadable PKCS#12 bundle")
	ErrCRLNotSigned  = errors.New("the CRL is not signed by the CA it comes with")
)

// ParseBundle reads a certificate bundle: PEM text (certificates, one
// private key; any order, as Octavia writes cert, key, intermediates) or a
// PKCS#12 file without a pass phrase. It checks the bundle as of now.
func ParseBundle(data []byte, now time.Time) (*Bundle, error) {
	var key crypto.PrivateKey
	var certs []*x509.Certificate
	var err error
	if looksPEM(data) {
		key, certs, err = parsePEMBundle(data)
	} else {
		key, certs, err = parsePKCS12(data)
	}
	if err != nil {
		return nil, err
	}
	return assemble(key, certs, now)
}

func looksPEM(data []byte) bool { return bytes.Contains(data, []byte("-----BEGIN ")) }

func parsePEMBundle(data []byte) (crypto.PrivateKey, []*x509.Certificate, error) {
	var key crypto.PrivateKey
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
			}
			certs = append(certs, c)
		case b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] == "4,ENCRYPTED":
			return nil, nil, ErrEncryptedKey
		case b.Type == "PRIVATE KEY" || b.Type == "RSA PRIVATE KEY" || b.Type == "EC PRIVATE KEY":
			if key != nil {
				return nil, nil, errors.New("more than one private key")
			}
			k, err := parseKey(b)
			if err != nil {
				return nil, nil, fmt.Errorf("private key: %w", err)
			}
			key = k
		}
	}
	if len(certs) == 0 {
		return nil, nil, ErrNoCertificate
	}
	if key == nil {
		return nil, nil, ErrNoKey
	}
	return key, certs, nil
}

func parseKey(b *pem.Block) (crypto.PrivateKey, error) {
	switch b.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(b.Bytes)
	default:
		return x509.ParsePKCS8PrivateKey(b.Bytes)
	}
}

func parsePKCS12(data []byte) (crypto.PrivateKey, []*x509.Certificate, error) {
	key, leaf, cas, err := pkcs12.DecodeChain(data, "")
	if err != nil {
		if errors.Is(err, pkcs12.ErrIncorrectPassword) {
			return nil, nil, fmt.Errorf("%w: it needs a pass phrase; lbd reads bundles without one, as Octavia does", ErrPKCS12)
		}
		return nil, nil, fmt.Errorf("%w: %w", ErrPKCS12, err)
	}
	return key, append([]*x509.Certificate{leaf}, cas...), nil
}

// assemble finds the certificate the key belongs to, puts it first and the
// others after it in their order, and checks the result.
func assemble(key crypto.PrivateKey, certs []*x509.Certificate, now time.Time) (*Bundle, error) {
	pub, ok := key.(interface{ Public() crypto.PublicKey })
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
	leafAt := -1
	for i, c := range certs {
		if samePublicKey(c.PublicKey, pub.Public()) {
			leafAt = i
			break
		}
	}
	if leafAt < 0 {
		return nil, ErrKeyMismatch
	}
	leaf := certs[leafAt]
	b := &Bundle{NotAfter: leaf.NotAfter, SHA1: sha1.Sum(leaf.Raw)}
	b.Cert.Leaf = leaf
	b.Cert.PrivateKey = key
	b.Cert.Certificate = append(b.Cert.Certificate, leaf.Raw)
	for i, c := range certs {
		if i != leafAt {
			b.Cert.Certificate = append(b.Cert.Certificate, c.Raw)
		}
	}
	b.Names = Names(leaf)
	if len(b.Names) == 0 {
		return nil, ErrNoNames
	}
	switch {
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("%w (not after %s)", ErrExpired, leaf.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("%w (not before %s)", ErrNotYetValid, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return b, nil
}

// Names are the host names a certificate serves: its DNS subject
// alternative names, or its common name when it has none.
func Names(c *x509.Certificate) []string {
	if len(c.DNSNames) > 0 {
		return c.DNSNames
	}
	if c.Subject.CommonName != "" {
		return []string{c.Subject.CommonName}
	}
	return nil
}

func samePublicKey(a, b crypto.PublicKey) bool {
	switch a := a.(type) {
	case *rsa.PublicKey:
		return a.Equal(b)
	case *ecdsa.PublicKey:
		return a.Equal(b)
	case ed25519.PublicKey:
		return a.Equal(b)
	}
	return false
}

// ParseCAs reads a bundle of CA certificates in PEM form.
func ParseCAs(data []byte) ([]*x509.Certificate, error) {
	var cas []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CA certificate %d: %w", len(cas)+1, err)
		}
		cas = append(cas, c)
	}
	if len(cas) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block: a CA bundle must be x509 certificates in PEM form")
	}
	return cas, nil
}

// ParseCRL reads a certificate revocation list, PEM ("X509 CRL") or DER.
func ParseCRL(data []byte) (*x509.RevocationList, error) {
	der := data
	if looksPEM(data) {
		var b *pem.Block
		for rest := data; ; {
			b, rest = pem.Decode(rest)
			if b == nil || b.Type == "X509 CRL" {
				break
			}
		}
		if b == nil {
			return nil, errors.New("no PEM X509 CRL block")
		}
		der = b.Bytes
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("certificate revocation list: %w", err)
	}
	return crl, nil
}

// CheckCRL reports whether one of the CAs signed the CRL: Octavia refuses
// a CRL that is not its CA's.
func CheckCRL(crl *x509.RevocationList, cas []*x509.Certificate) error {
	for _, ca := range cas {
		if crl.CheckSignatureFrom(ca) == nil {
			return nil
		}
	}
	return ErrCRLNotSigned
}
