package certs

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"lbd/internal/lbdtest/pki"
)

func TestBundleForms(t *testing.T) {
	root := pki.NewCA(t, "root")
	inter := root.Intermediate(t, "intermediate")
	leaf := inter.Issue(t, pki.Leaf{CN: "www.example.com", DNS: []string{"www.example.com", "*.example.org"}})
	keyFirst := append(append(leaf.KeyPEM(), pki.CertPEM(inter.Cert)...), leaf.CertPEM()...)
	for name, data := range map[string][]byte{
		"pem cert key intermediates": leaf.BundlePEM(),
		"pem key intermediate cert":  keyFirst,
		"pkcs12":                     leaf.PKCS12(t),
	} {
		t.Run(name, func(t *testing.T) {
			b, err := ParseBundle(data, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if !b.Cert.Leaf.Equal(leaf.Cert) || len(b.Cert.Certificate) != 2 || !bytes.Equal(b.Cert.Certificate[1], inter.Cert.Raw) {
				t.Errorf("leaf %v, chain of %d", b.Cert.Leaf.Subject, len(b.Cert.Certificate))
			}
			if strings.Join(b.Names, ",") != "www.example.com,*.example.org" {
				t.Errorf("names %v", b.Names)
			}
		})
	}
}

// TestOpenSSLPKCS12 reads what `openssl pkcs12 -export -passout pass:`
// writes: the command the Octavia docs give, whose OpenSSL 3 default (AES
// with PBKDF2, SHA-256 MAC) the frozen golang.org/x/crypto/pkcs12 cannot
// read.
func TestOpenSSLPKCS12(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl")
	}
	dir := t.TempDir()
	ca := pki.NewCA(t, "root")
	leaf := ca.Issue(t, pki.Leaf{CN: "www.example.com", Key: pki.RSA})
	cert := pki.Write(t, dir, "cert.pem", leaf.CertPEM())
	key := pki.Write(t, dir, "key.pem", leaf.KeyPEM())
	p12 := filepath.Join(dir, "server.p12")
	if out, err := exec.Command("openssl", "pkcs12", "-export", "-inkey", key, "-in", cert, "-passout", "pass:", "-out", p12).CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	b, err := NewStore(nil).Bundle(context.Background(), "file://"+p12)
	if err != nil {
		t.Fatal(err)
	}
	if !b.Cert.Leaf.Equal(leaf.Cert) || b.Names[0] != "www.example.com" {
		t.Errorf("got %v", b.Names)
	}
}

func TestBundleProblems(t *testing.T) {
	ca := pki.NewCA(t, "root")
	good := ca.Issue(t, pki.Leaf{CN: "a.example.com"})
	other := ca.Issue(t, pki.Leaf{CN: "b.example.com"})
	expired := ca.Issue(t, pki.Leaf{CN: "old.example.com", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	future := ca.Issue(t, pki.Leaf{CN: "new.example.com", NotBefore: time.Now().Add(24 * time.Hour)})
	nameless := ca.Issue(t, pki.Leaf{Subject: &pkix.Name{Organization: []string{"no names"}}})
	var withPass []byte
	if _, err := exec.LookPath("openssl"); err == nil {
		dir := t.TempDir()
		cert := pki.Write(t, dir, "c.pem", good.CertPEM())
		key := pki.Write(t, dir, "k.pem", good.KeyPEM())
		out := filepath.Join(dir, "p.p12")
		if msg, err := exec.Command("openssl", "pkcs12", "-export", "-inkey", key, "-in", cert, "-passout", "pass:hunter2", "-out", out).CombinedOutput(); err != nil {
			t.Fatalf("openssl: %v\n%s", err, msg)
		}
		withPass, _ = os.ReadFile(out)
	}
	encrypted := append(good.CertPEM(), []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")...)
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"key of another certificate", append(good.CertPEM(), other.KeyPEM()...), ErrKeyMismatch},
		{"no key", good.CertPEM(), ErrNoKey},
		{"no certificate", good.KeyPEM(), ErrNoCertificate},
		{"expired", expired.BundlePEM(), ErrExpired},
		{"not yet valid", future.BundlePEM(), ErrNotYetValid},
		{"no CN nor SAN", nameless.BundlePEM(), ErrNoNames},
		{"encrypted key", encrypted, ErrEncryptedKey},
		{"garbage", []byte("not a certificate at all"), ErrPKCS12},
	}
	if len(withPass) > 0 {
		cases = append(cases, struct {
			name string
			data []byte
			want error
		}{"pkcs12 with a pass phrase", withPass, ErrPKCS12})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseBundle(c.data, time.Now())
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestStoreFileErrorsNameTheRef(t *testing.T) {
	dir := t.TempDir()
	ca := pki.NewCA(t, "root")
	expired := ca.Issue(t, pki.Leaf{CN: "old.example.com", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	path := pki.Write(t, dir, "old.pem", expired.BundlePEM())
	s := NewStore(nil)
	_, err := s.Bundle(context.Background(), path)
	var re *RefError
	if !errors.As(err, &re) || re.Ref != path || re.Retrieval || !strings.Contains(err.Error(), path+": the certificate has expired (not after ") {
		t.Errorf("expired: %v", err)
	}
	missing := filepath.Join(dir, "missing.pem")
	_, err = s.Bundle(context.Background(), "file://"+missing)
	if !errors.As(err, &re) || !re.Retrieval || err.Error() != "file://"+missing+": cannot read the file: no such file or directory" {
		t.Errorf("missing: %v", err)
	}
	_, err = s.Bundle(context.Background(), "http://127.0.0.1:9311/v1/secrets/x")
	if !errors.As(err, &re) || !re.Retrieval || !strings.Contains(err.Error(), "no certificate manager") {
		t.Errorf("remote without a fetcher: %v", err)
	}
}

func TestCAsAndCRL(t *testing.T) {
	ca := pki.NewCA(t, "client ca")
	other := pki.NewCA(t, "someone else")
	dir := t.TempDir()
	caRef := pki.Write(t, dir, "ca.pem", ca.PEM())
	s := NewStore(nil)
	cas, err := s.CAs(context.Background(), caRef)
	if err != nil || len(cas) != 1 {
		t.Fatalf("CAs: %v %v", cas, err)
	}
	if _, err := s.CRL(context.Background(), pki.Write(t, dir, "crl.pem", ca.CRL(t)), cas); err != nil {
		t.Errorf("the CA's own CRL: %v", err)
	}
	if _, err := s.CRL(context.Background(), pki.Write(t, dir, "other.pem", other.CRL(t)), cas); err == nil || !strings.Contains(err.Error(), "not signed by the CA") {
		t.Errorf("another CA's CRL: %v", err)
	}
	if _, err := s.CAs(context.Background(), pki.Write(t, dir, "bad.pem", []byte("junk"))); err == nil || !strings.Contains(err.Error(), "bad.pem: no PEM CERTIFICATE") {
		t.Errorf("junk CA: %v", err)
	}
}

func TestOCSPStapleNextToTheFile(t *testing.T) {
	dir := t.TempDir()
	ca := pki.NewCA(t, "root")
	leaf := ca.Issue(t, pki.Leaf{CN: "www.example.com", OCSP: []string{"http://ocsp.example.com"}})
	other := ca.Issue(t, pki.Leaf{CN: "other.example.com"})
	path := pki.Write(t, dir, "www.pem", leaf.BundlePEM())
	s := NewStore(nil)
	b, err := s.Bundle(context.Background(), path)
	if err != nil || b.Cert.OCSPStaple != nil {
		t.Fatalf("no staple file: %v, staple %d bytes", err, len(b.Cert.OCSPStaple))
	}
	staple := leaf.OCSP(t, time.Now().Add(time.Hour))
	pki.Write(t, dir, "www.pem.ocsp", staple)
	if b, err = s.Bundle(context.Background(), path); err != nil || !bytes.Equal(b.Cert.OCSPStaple, staple) {
		t.Fatalf("staple: %v", err)
	}
	pki.Write(t, dir, "www.pem.ocsp", leaf.OCSP(t, time.Now().Add(-time.Minute)))
	if b, err = s.Bundle(context.Background(), path); err != nil || b.Cert.OCSPStaple != nil || !b.StapleStale {
		t.Fatalf("stale staple: %v, served %v", err, b.Cert.OCSPStaple != nil)
	}
	pki.Write(t, dir, "www.pem.ocsp", other.OCSP(t, time.Now().Add(time.Hour)))
	if _, err = s.Bundle(context.Background(), path); err == nil || !strings.Contains(err.Error(), "www.pem.ocsp") {
		t.Fatalf("another certificate's staple: %v", err)
	}
}

type countingFetcher struct {
	data  map[string][]byte
	calls atomic.Int64
}

func (f *countingFetcher) Fetch(_ context.Context, ref string) ([]byte, error) {
	f.calls.Add(1)
	d, ok := f.data[ref]
	if !ok {
		return nil, errors.New("404 Not Found")
	}
	return d, nil
}

func TestRemoteRefsAreCached(t *testing.T) {
	ca := pki.NewCA(t, "root")
	leaf := ca.Issue(t, pki.Leaf{CN: "www.example.com"})
	ref := "http://127.0.0.1:9311/v1/secrets/0b5c9d2e"
	f := &countingFetcher{data: map[string][]byte{ref: leaf.PKCS12(t)}}
	s := NewStore(f)
	for range 3 {
		if _, err := s.Bundle(context.Background(), ref); err != nil {
			t.Fatal(err)
		}
	}
	if f.calls.Load() != 1 {
		t.Errorf("%d fetches for one ref", f.calls.Load())
	}
	s.Forget(func(string) bool { return false })
	s.Bundle(context.Background(), ref)
	if f.calls.Load() != 2 {
		t.Errorf("forgotten ref not fetched again: %d fetches", f.calls.Load())
	}
	var re *RefError
	if _, err := s.Bundle(context.Background(), ref+"-missing"); !errors.As(err, &re) || !re.Retrieval {
		t.Errorf("missing secret: %v", err)
	}
}
