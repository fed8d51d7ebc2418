package auth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

func TestPolicy(t *testing.T) {
	tests := []struct {
		name                       string
		c                          Caller
		readOwn, writeOwn, readAll bool
	}{
		{"admin", Caller{ProjectID: "p", Roles: []string{"admin"}}, true, true, true},
		{"load-balancer_admin", Caller{ProjectID: "p", Roles: []string{"load-balancer_admin"}}, true, true, true},
		{"member", Caller{ProjectID: "p", Roles: []string{"load-balancer_member"}}, true, true, false},
		{"observer", Caller{ProjectID: "p", Roles: []string{"load-balancer_observer"}}, true, false, false},
		{"reader", Caller{ProjectID: "p", Roles: []string{"reader"}}, false, false, false},
		{"keystone member and implied reader", Caller{ProjectID: "p", Roles: []string{"member", "reader"}}, false, false, false},
		{"global observer", Caller{ProjectID: "x", Roles: []string{"load-balancer_global_observer"}}, true, false, true},
		{"keystone member only", Caller{ProjectID: "p", Roles: []string{"member"}}, false, false, false},
		{"unscoped member", Caller{Roles: []string{"load-balancer_member"}}, false, false, false},
		{"no auth", Caller{Unrestricted: true}, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.CanRead("p"); got != tt.readOwn {
				t.Errorf("CanRead(own) = %v", got)
			}
			if got := tt.c.CanWrite("p"); got != tt.writeOwn {
				t.Errorf("CanWrite(own) = %v", got)
			}
			if got := tt.c.CanReadAll(); got != tt.readAll {
				t.Errorf("CanReadAll = %v", got)
			}
			if !tt.c.Admin() && !tt.readAll && tt.c.CanRead("other") {
				t.Errorf("reads another project's objects")
			}
			if !tt.c.Admin() && tt.c.CanWrite("other") {
				t.Errorf("writes another project's objects")
			}
		})
	}
}

func TestStatic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("s3cret\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := ReadTokenFile(path)
	if err != nil || tok != "s3cret" {
		t.Fatalf("ReadTokenFile = %q, %v", tok, err)
	}
	s, err := NewStatic(tok)
	if err != nil {
		t.Fatal(err)
	}
	h := Middleware(s, nil, "", slog.New(slog.NewTextHandler(io.Discard, nil)),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !FromContext(r.Context()).Admin() {
				t.Errorf("static token caller is not unrestricted")
			}
			w.WriteHeader(http.StatusNoContent)
		}))
	for tok, want := range map[string]int{"s3cret": 204, "s3cret2": 401, "": 401} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/v2/lbaas/loadbalancers", nil)
		req.Header.Set("X-Auth-Token", tok)
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("token %q: %d, want %d", tok, rec.Code, want)
		}
		if want == 401 {
			var body struct {
				Error struct {
					Code int `json:"code"`
				} `json:"error"`
			}
			if json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error.Code != 401 {
				t.Errorf("401 body = %s", rec.Body)
			}
		}
	}
	if _, err := NewStatic(""); err == nil {
		t.Errorf("an empty static token was accepted")
	}
}

// fakeKeystone answers the two calls lbd makes. It stands in for Keystone
// only where a test needs what the real one will not do on demand (expire
// lbd's own token); keystone_peer_test.go runs against the real one.
type fakeKeystone struct {
	validations, logins atomic.Int32
	svcValid            atomic.Bool
}

func (f *fakeKeystone) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == "POST" && r.URL.Path == "/v3/auth/tokens":
		f.logins.Add(1)
		f.svcValid.Store(true)
		w.Header().Set("X-Subject-Token", "svc")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"token": {"expires_at": "2099-01-01T00:00:00.000000Z"}}`)
	case r.Method == "GET" && r.URL.Path == "/v3/auth/tokens":
		if r.Header.Get("X-Auth-Token") != "svc" || !f.svcValid.Load() {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		f.validations.Add(1)
		switch r.Header.Get("X-Subject-Token") {
		case "user":
			io.WriteString(w, `{"token": {"expires_at": "2099-01-01T00:00:00Z", "user": {"id": "u1"},
				"project": {"id": "p1"}, "roles": [{"name": "load-balancer_member"}, {"name": "reader"}]}}`)
		case "soon":
			io.WriteString(w, `{"token": {"expires_at": "`+time.Now().Add(-time.Second).UTC().Format(time.RFC3339)+`",
				"user": {"id": "u2"}, "project": {"id": "p2"}, "roles": []}}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func TestKeystoneCachesAndRenews(t *testing.T) {
	fk := &fakeKeystone{}
	srv := httptest.NewServer(fk)
	defer srv.Close()
	ks, err := NewKeystone(KeystoneOptions{URL: srv.URL, Username: "lbd", Password: "pw", ProjectName: "service"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	req := func(tok string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Auth-Token", tok)
		return r
	}
	c, err := ks.Authenticate(ctx, req("user"))
	if err != nil || c.ProjectID != "p1" || c.UserID != "u1" || !c.CanWrite("p1") {
		t.Fatalf("Authenticate(user) = %+v, %v", c, err)
	}
	if _, err := ks.Authenticate(ctx, req("user")); err != nil {
		t.Fatal(err)
	}
	if n := fk.validations.Load(); n != 1 {
		t.Errorf("a cached token was validated %d times, want 1", n)
	}
	// A token past its expiry is not cached: asked again each time.
	ks.Authenticate(ctx, req("soon"))
	ks.Authenticate(ctx, req("soon"))
	if n := fk.validations.Load(); n != 3 {
		t.Errorf("validations after an expired token twice = %d, want 3", n)
	}
	if _, err := ks.Authenticate(ctx, req("bogus")); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("bogus token: %v", err)
	}
	// lbd's own token revoked: renewed once, transparently.
	fk.svcValid.Store(false)
	ks.now = func() time.Time { return time.Now().Add(10 * time.Minute) } // past the cache TTL
	if _, err := ks.Authenticate(ctx, req("user")); err != nil {
		t.Fatalf("after service token revocation: %v", err)
	}
	if n := fk.logins.Load(); n != 2 {
		t.Errorf("service logins = %d, want 2", n)
	}
}
