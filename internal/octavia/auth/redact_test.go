package auth

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestKeystoneErrorsRedactSecrets: an identity service whose error answers
// echo what it was sent (Keystone's 404 says "Could not find token: <id>";
// a proxy in front of it may say more) does not get the user's token, lbd's
// service token or lbd's password into lbd's errors, which are logged.
func TestKeystoneErrorsRedactSecrets(t *testing.T) {
	const password, svcToken, userToken = "pw-Secret-1", "svc-Secret-2", "user-Secret-3"
	loginOK := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method == "POST" && !loginOK:
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error": {"message": "bad credentials in ` + strings.ReplaceAll(string(body), `"`, `'`) + `"}}`))
		case r.Method == "POST":
			w.Header().Set("X-Subject-Token", svcToken)
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"token": {"expires_at": "2099-01-01T00:00:00Z"}}`)
		default:
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "cannot check "+r.Header.Get("X-Subject-Token")+" for "+r.Header.Get("X-Auth-Token"))
		}
	}))
	defer srv.Close()
	ks, err := NewKeystone(KeystoneOptions{URL: srv.URL, Username: "lbd", Password: password, ProjectName: "service"})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Auth-Token", userToken)
	for _, step := range []string{"login refused", "validation fails"} {
		_, err := ks.Authenticate(context.Background(), req)
		if err == nil {
			t.Fatalf("%s: no error", step)
		}
		for _, secret := range []string{password, svcToken, userToken} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q contains a secret", step, err)
			}
		}
		if !strings.Contains(err.Error(), "***") {
			t.Errorf("%s: error %q: the echoed secret should show as ***", step, err)
		}
		loginOK = true
	}
}
