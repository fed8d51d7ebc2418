package health

import (
	"fmt"
	"net/netip"
	"testing"

	"lbd/internal/netnstest"
)

// TestSynSource: the source address toward each destination is the one
// the routes choose for it, lookup after lookup on the synner's one UDP
// socket (connected, a UDP socket keeps the first source address it was
// given until it is disconnected). In a namespace of the test's own with
// a second interface, so that two destinations have two sources.
func TestSynSource(t *testing.T) {
	lab := netnstest.New(t)
	ns := lab.NS("src")
	ns.MustRun("ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1")
	ns.MustRun("ip", "addr", "add", "10.9.0.1/24", "dev", "d0")
	ns.MustRun("ip", "link", "set", "d0", "up")
	ns.MustRun("ip", "link", "set", "d1", "up")
	err := ns.Do(func() error {
		s, err := newSynner()
		if err != nil {
			return errSkip{fmt.Errorf("no raw TCP socket here: %w", err)}
		}
		defer s.close()
		for _, c := range []struct{ dst, want string }{
			{"127.0.0.2", "127.0.0.1"}, {"10.9.0.7", "10.9.0.1"}, {"127.0.0.2", "127.0.0.1"}, {"10.9.0.8", "10.9.0.1"},
		} {
			got, err := s.source(netip.MustParseAddr(c.dst))
			if err != nil {
				return err
			}
			if got != netip.MustParseAddr(c.want) {
				t.Errorf("source toward %s: %s, want %s", c.dst, got, c.want)
			}
		}
		return nil
	})
	skipIfUnavailable(t, err)
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkSynSource is one lookup of the source address toward a member.
func BenchmarkSynSource(b *testing.B) {
	s, err := newSynner()
	if err != nil {
		b.Skipf("no raw TCP socket here: %v", err)
	}
	defer s.close()
	dst := []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2")}
	for i := 0; b.Loop(); i++ {
		if _, err := s.source(dst[i%2]); err != nil {
			b.Fatal(err)
		}
	}
}
