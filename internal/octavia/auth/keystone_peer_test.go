package auth

import (
	"context"
	"errors"
	"lbd/internal/octavia/peertest"
	"net/http/httptest"
	"slices"
	"testing"
)

// peerKeystone is the Keystone of ../shared/peers/openstack-up.sh.
const peerKeystone = "http://127.0.0.1:5000/v3"

// requirePeer skips when the OpenStack peer is not running (only with
// LBD_SKIP_OPENSTACK=1: TestMain starts it otherwise) and holds the peer's
// test lock until the test ends: its services keep their state in SQLite,
// which fails concurrent writers, so tests from every package take turns.
func requirePeer(t *testing.T) {
	t.Helper()
	peertest.Need(t)
}

// TestMain starts the OpenStack peer (idempotent; quick when it runs).
func TestMain(m *testing.M) { peertest.Main(m) }

// userToken logs in to the peer's Keystone as its admin.
func userToken(t *testing.T) string { return peertest.AdminToken(t) }

func TestKeystonePeer(t *testing.T) {
	requirePeer(t)
	ks, err := NewKeystone(KeystoneOptions{URL: peerKeystone, Username: "admin", Password: "secret", ProjectName: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Auth-Token", userToken(t))
	c, err := ks.Authenticate(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if c.ProjectID == "" || c.UserID == "" || !slices.Contains(c.Roles, "admin") || !c.Admin() {
		t.Errorf("caller from the peer's admin token = %+v", c)
	}
	r.Header.Set("X-Auth-Token", "not-a-token")
	if _, err := ks.Authenticate(context.Background(), r); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("forged token: %v, want ErrInvalidToken", err)
	}
}
