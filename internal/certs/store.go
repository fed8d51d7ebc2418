package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Fetcher retrieves what a remote ref (a Barbican secret URL) holds: a
// PKCS#12 file or PEM text. Errors should say why (not found, forbidden).
type Fetcher interface {
	Fetch(ctx context.Context, ref string) ([]byte, error)
}

// RefError is a problem with what a ref points at.
type RefError struct {
	Ref string
	// Retrieval marks a ref whose content could not be retrieved at all
	// (missing, unreadable file; Barbican refused), as opposed to content
	// that was read but is wrong.
	Retrieval bool
	Err       error
}

func (e *RefError) Error() string { return e.Ref + ": " + e.Err.Error() }
func (e *RefError) Unwrap() error { return e.Err }

// Store resolves refs into checked material. It is safe for concurrent use.
type Store struct {
	remote Fetcher // nil: only file refs resolve
	now    func() time.Time

	mu    sync.Mutex
	cache map[string][]byte // remote content by ref
}

// NewStore returns a Store reading files itself and remote refs through f,
// which may be nil.
func NewStore(f Fetcher) *Store {
	return &Store{remote: f, now: time.Now, cache: map[string][]byte{}}
}

// IsFileRef reports whether ref names a local file (a path or a file://
// URL) rather than a remote secret.
func IsFileRef(ref string) bool {
	if strings.HasPrefix(ref, "file://") {
		return true
	}
	u, err := url.Parse(ref)
	return err != nil || u.Scheme == "" || len(u.Scheme) == 1 // a path, or C:\ on a system that has those
}

// filePath is the path a file ref names.
func filePath(ref string) (string, error) {
	if !strings.HasPrefix(ref, "file://") {
		return ref, nil
	}
	u, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	if u.Host != "" && u.Host != "localhost" {
		return "", fmt.Errorf("file URL with host %q: only local files can be read", u.Host)
	}
	return u.Path, nil
}

// read returns ref's content.
func (s *Store) read(ctx context.Context, ref string) ([]byte, error) {
	if ref == "" {
		return nil, &RefError{Ref: `""`, Retrieval: true, Err: errors.New("empty ref")}
	}
	if IsFileRef(ref) {
		path, err := filePath(ref)
		if err == nil {
			var data []byte
			if data, err = os.ReadFile(path); err == nil {
				return data, nil
			}
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = fmt.Errorf("cannot read the file: %w", pe.Err)
			}
		}
		return nil, &RefError{Ref: ref, Retrieval: true, Err: err}
	}
	s.mu.Lock()
	data, ok := s.cache[ref]
	s.mu.Unlock()
	if ok {
		return data, nil
	}
	if s.remote == nil {
		return nil, &RefError{Ref: ref, Retrieval: true, Err: errors.New("no certificate manager (Barbican) is configured to read this ref; use a file path, or start lbd with Keystone credentials")}
	}
	data, err := s.remote.Fetch(ctx, ref)
	if err != nil {
		return nil, &RefError{Ref: ref, Retrieval: true, Err: err}
	}
	s.mu.Lock()
	s.cache[ref] = data
	s.mu.Unlock()
	return data, nil
}

// Forget drops every cached remote ref not in keep, so that a secret no
// configuration uses any more leaves memory.
func (s *Store) Forget(keep func(ref string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ref := range s.cache {
		if !keep(ref) {
			delete(s.cache, ref)
		}
	}
}

// Bundle resolves a certificate ref. A file ref whose certificate names an
// OCSP responder gets the staple in <file>.ocsp (HAProxy's convention) when
// there is one, and when it is still valid.
func (s *Store) Bundle(ctx context.Context, ref string) (*Bundle, error) {
	data, err := s.read(ctx, ref)
	if err != nil {
		return nil, err
	}
	b, err := ParseBundle(data, s.now())
	if err != nil {
		return nil, &RefError{Ref: ref, Err: err}
	}
	if IsFileRef(ref) && len(b.Cert.Leaf.OCSPServer) > 0 {
		path, _ := filePath(ref)
		if err := s.staple(b, path+".ocsp"); err != nil {
			return nil, &RefError{Ref: ref, Err: err}
		}
	}
	return b, nil
}

// staple attaches the OCSP response in file to b when the file exists. A
// response that does not parse or is for another certificate is an error;
// one that is out of date is left out (clients would refuse it), and
// StapleStale says so.
func (s *Store) staple(b *Bundle, file string) error {
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("OCSP staple: %w", err)
	}
	var issuer *x509.Certificate
	if len(b.Cert.Certificate) > 1 {
		issuer, _ = x509.ParseCertificate(b.Cert.Certificate[1])
	}
	resp, err := ocsp.ParseResponseForCert(data, b.Cert.Leaf, issuer)
	if err != nil {
		return fmt.Errorf("OCSP staple %s: %w", file, err)
	}
	if resp.Status != ocsp.Good {
		return fmt.Errorf("OCSP staple %s: the responder says the certificate is %s", file, ocspStatus(resp.Status))
	}
	if !resp.NextUpdate.IsZero() && s.now().After(resp.NextUpdate) {
		b.StapleStale = true
		return nil
	}
	b.Cert.OCSPStaple = data
	return nil
}

func ocspStatus(s int) string {
	switch s {
	case ocsp.Revoked:
		return "revoked"
	case ocsp.Unknown:
		return "unknown"
	}
	return fmt.Sprint(s)
}

// CAs resolves a CA bundle ref.
func (s *Store) CAs(ctx context.Context, ref string) ([]*x509.Certificate, error) {
	data, err := s.read(ctx, ref)
	if err != nil {
		return nil, err
	}
	cas, err := ParseCAs(data)
	if err != nil {
		return nil, &RefError{Ref: ref, Err: err}
	}
	return cas, nil
}

// CRL resolves a CRL ref and checks that one of cas signed it.
func (s *Store) CRL(ctx context.Context, ref string, cas []*x509.Certificate) (*x509.RevocationList, error) {
	data, err := s.read(ctx, ref)
	if err != nil {
		return nil, err
	}
	crl, err := ParseCRL(data)
	if err == nil {
		err = CheckCRL(crl, cas)
	}
	if err != nil {
		return nil, &RefError{Ref: ref, Err: err}
	}
	return crl, nil
}
