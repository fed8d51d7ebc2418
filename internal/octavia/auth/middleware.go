package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
)

// ErrInvalidToken is returned by an Authenticator for a missing, unknown or
// expired token; the middleware answers 401.
var ErrInvalidToken = errors.New("invalid or missing token")

// Authenticator resolves the caller of a request from its X-Auth-Token.
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) (*Caller, error)
}

// Open is the Authenticator of an API without authentication: every caller
// is unrestricted. The project is taken from X-Project-Id when given, as
// Octavia's noauth mode does.
type Open struct{}

// Authenticate implements Authenticator.
func (Open) Authenticate(_ context.Context, r *http.Request) (*Caller, error) {
	return &Caller{ProjectID: r.Header.Get("X-Project-Id"), Unrestricted: true}, nil
}

// Middleware authenticates every request except those public says are
// public (version discovery), puts the Caller in the request context, and
// answers 401 as keystonemiddleware does when the token is not valid. A
// failure to reach the identity service is a 503.
func Middleware(a Authenticator, public func(*http.Request) bool, wwwAuthenticate string, log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if public != nil && public(r) {
			next.ServeHTTP(w, r)
			return
		}
		c, err := a.Authenticate(r.Context(), r)
		switch {
		case errors.Is(err, ErrInvalidToken):
			if wwwAuthenticate != "" {
				w.Header().Set("WWW-Authenticate", wwwAuthenticate)
			}
			writeAuthError(w, http.StatusUnauthorized, "Unauthorized", "The request you have made requires authentication.")
			return
		case err != nil:
			log.LogAttrs(r.Context(), slog.LevelError, "token validation failed", slog.String("error", err.Error()))
			writeAuthError(w, http.StatusServiceUnavailable, "Service Unavailable", "The identity service could not validate the token.")
			return
		}
		next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), c)))
	})
}

// writeAuthError writes keystonemiddleware's error body.
func writeAuthError(w http.ResponseWriter, code int, title, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"error": {"code": %d, "title": %q, "message": %q}}`, code, title, msg)
}
