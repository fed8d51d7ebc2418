package controlplane_test

import (
	"encoding/json"
	"lbd/internal/octavia/peertest"
	"net/http"
	"testing"

	"lbd/internal/controlplane"
	"lbd/internal/lbdtest"
	"lbd/internal/octavia/auth"
)

// The OpenStack peer (../shared/peers/openstack-up.sh): real Keystone,
// Neutron and Octavia on loopback.
const (
	peerKeystone = "http://127.0.0.1:5000/v3"
	peerNeutron  = "http://127.0.0.1:9696"
	peerOctavia  = "http://127.0.0.1:9876"
)

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

// peerToken logs in to the peer's Keystone as its admin.
func peerToken(t *testing.T) string { return peertest.AdminToken(t) }

// peerSubnet finds a subnet of the peer's Neutron by name.
func peerSubnet(t *testing.T, token, name string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", peerNeutron+"/v2.0/subnets?name="+name, nil)
	req.Header.Set("X-Auth-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Subnets []struct {
			ID string `json:"id"`
		} `json:"subnets"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Subnets) != 1 {
		t.Fatalf("subnet %s in the peer's Neutron: %v %+v", name, err, body)
	}
	return body.Subnets[0].ID
}

// startLBD runs lbd (control plane and real data plane) in the test
// process behind the peer's Keystone, and returns its API base URL. VIPs
// are on vip (a loopback address).
func startLBD(t *testing.T, vip string) string {
	t.Helper()
	ks, err := auth.NewKeystone(auth.KeystoneOptions{URL: peerKeystone, Username: "admin", Password: "secret", ProjectName: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	return lbdtest.Start(t, controlplane.Options{VIPAddress: vip, Auth: ks, WWWAuthenticate: ks.WWWAuthenticate()}).URL
}
