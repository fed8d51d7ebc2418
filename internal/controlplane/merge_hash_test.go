package controlplane

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	"lbd/internal/octavia"
)

// The hash of a file entry is stored (owners' FileHash): hashLB must stay
// the SHA-256 of json.Marshal's rendering, which stored states hold.
func TestHashLBIsTheSHA256OfTheEntrysJSON(t *testing.T) {
	lb := &octavia.LoadBalancer{ID: "lb", Name: "a <b> & \"c\"\n", VIPAddress: "127.0.0.1",
		Pools: []*octavia.Pool{{ID: "p", Name: "p", Members: []*octavia.Member{{ID: "m", Address: "127.0.0.2", ProtocolPort: 80}}}}}
	data, err := json.Marshal(lb)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	got, err := hashLB(lb)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("hashLB = %s, want %s (SHA-256 of json.Marshal)", got, want)
	}
}
