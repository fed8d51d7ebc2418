package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Static accepts one secret token: lbd without Keystone. Callers presenting
// it are unrestricted; the project comes from X-Project-Id when given.
type Static struct {
	sum [sha256.Size]byte
}

// NewStatic returns an Authenticator for token, which must not be empty.
func NewStatic(token string) (*Static, error) {
	if token == "" {
		return nil, errors.New("static API token is empty")
	}
	return &Static{sum: sha256.Sum256([]byte(token))}, nil
}

// ReadTokenFile reads a static token from a file: the first line, trimmed.
func ReadTokenFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	tok, _, _ := strings.Cut(string(data), "\n")
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", fmt.Errorf("token file %s: first line is empty", path)
	}
	return tok, nil
}

// Authenticate implements Authenticator. Hashing both sides first makes the
// comparison constant-time whatever the lengths.
func (s *Static) Authenticate(_ context.Context, r *http.Request) (*Caller, error) {
	got := sha256.Sum256([]byte(r.Header.Get("X-Auth-Token")))
	if subtle.ConstantTimeCompare(got[:], s.sum[:]) != 1 {
		return nil, ErrInvalidToken
	}
	return &Caller{ProjectID: r.Header.Get("X-Project-Id"), Unrestricted: true}, nil
}
