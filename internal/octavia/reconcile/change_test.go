package reconcile

import "testing"

// TestChangeNamesWhatItCan: a change to an object with no name yet (a new
// floating IP, known only by the network it comes from) reads as what it
// is, not as an object named after the network.
func TestChangeNamesWhatItCan(t *testing.T) {
	for _, c := range []struct {
		ch   Change
		want string
	}{
		{Change{Op: OpCreate, Kind: "floating IP", Detail: `on network "External", for the VIP port of load balancer "lb1"`},
			`+ create floating IP: on network "External", for the VIP port of load balancer "lb1"`},
		{Change{Op: OpDelete, Kind: "server", Name: "Server1"}, `- delete server "Server1"`},
	} {
		if got := c.ch.String(); got != c.want {
			t.Errorf("got %s, want %s", got, c.want)
		}
	}
	r := &Run{}
	r.pending = &Change{Op: OpCreate, Kind: "floating IP"}
	r.Created("fip-1")
	if r.done[0] != "created floating IP fip-1" {
		t.Errorf("record: %q", r.done[0])
	}
}
