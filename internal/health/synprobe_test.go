//go:build linux

package health

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// TestProberTCPBySYN: the prober's TCP checks, by SYN on its raw socket
// (lbd as root, and checks enough a second) and by connect (without a raw
// socket, or under synMinRate: 60 a second here), give the same verdicts — a listening member passes, a closed port is refused, a member
// whose queue is full times out — and the SYN checks leave the listening
// member's application nothing to accept, where each connect left it a
// connection.
func TestProberTCPBySYN(t *testing.T) {
	if _, err := newSynner(); err != nil {
		t.Skipf("no raw TCP socket here: %v", err)
	}
	for _, c := range []struct {
		name         string
		bySYN, lower bool // lower: synMin lowered under the test's rate
	}{{"syn", true, true}, {"no raw socket", false, true}, {"under synMinRate", false, false}} {
		bySYN := c.bySYN
		t.Run(c.name, func(t *testing.T) {
			lfd, up := rawListener(t)
			closed, full := closedPort(t), fullListener(t)
			reports := make(chan transition, 8)
			mon := NewMonitor(Options{PoolID: "syn", Report: func(id string, up bool, reason string) {
				reports <- transition{id: id, up: up, reason: reason}
			}})
			cfg := Config{Type: TypeTCP, Delay: 50 * time.Millisecond, Timeout: time.Second, ConnectTimeout: 100 * time.Millisecond, Rise: 1, Fall: 1}
			targets := []Target{{ID: "up", Addr: up, Enabled: true, Weight: 1}, {ID: "closed", Addr: closed, Enabled: true, Weight: 1},
				{ID: "full", Addr: full, Enabled: true, Weight: 1}}
			if err := mon.Update(cfg, targets); err != nil {
				t.Fatal(err)
			}
			prb, stop := runProber(t, mon, func(p *prober) {
				p.noSynner = !bySYN && c.lower
				if c.lower {
					p.synMin = 1
				}
			})
			got := map[string]transition{}
			for _, tr := range awaitTransitions(t, reports, 2, 5*time.Second) {
				got[tr.id] = tr
			}
			if tr := got["closed"]; tr.id == "" || tr.up || tr.reason != "connect refused" {
				t.Errorf("closed port: %+v, want down: connect refused", tr)
			}
			if tr := got["full"]; tr.id == "" || tr.up || tr.reason != "connect timeout" {
				t.Errorf("full queue: %+v, want down: connect timeout", tr)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				s, _ := mon.Member("up")
				if s.ChecksPassed >= 3 && s.ChecksFailed == 0 {
					break
				}
				if s.ChecksFailed > 0 || time.Now().After(deadline) {
					t.Fatalf("listening member: %d passed, %d failed, want 3 passed and none failed", s.ChecksPassed, s.ChecksFailed)
				}
				time.Sleep(10 * time.Millisecond)
			}
			stop()
			_, _, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
			switch {
			case bySYN && !errors.Is(err, syscall.EAGAIN):
				t.Errorf("the SYN checks left the member a connection to accept (accept: %v)", err)
			case !bySYN && err != nil:
				t.Errorf("the connect checks left the member nothing to accept: %v", err)
			}
			if used := prb.synner != nil; used != bySYN {
				t.Errorf("raw socket used: %v, want %v", used, bySYN)
			}
		})
	}
}

// rawListener is a non-blocking listening socket on loopback that nothing
// accepts from but the test.
func rawListener(t *testing.T) (int, netip.AddrPort) {
	t.Helper()
	return listenSocket(t, 64, syscall.SOCK_NONBLOCK)
}

// TestSynnerParse: an answer counts when it is a SYN-ACK or a reset to the
// synner's port that acknowledges a SYN; the sequence number it answers
// is its acknowledgement less one.
func TestSynnerParse(t *testing.T) {
	s := &synner{port: 40000}
	seg := func(dport uint16, flags byte, ack uint32) []byte {
		b := make([]byte, 40)
		b[0] = 0x45
		copy(b[12:16], []byte{127, 0, 0, 9})
		b[20], b[21] = 0x1f, 0x90 // from port 8080
		b[22], b[23] = byte(dport>>8), byte(dport)
		b[28], b[29], b[30], b[31] = byte(ack>>24), byte(ack>>16), byte(ack>>8), byte(ack)
		b[33] = flags
		return b
	}
	from := netip.MustParseAddrPort("127.0.0.9:8080")
	for _, c := range []struct {
		name string
		b    []byte
		want synAnswer
		ok   bool
	}{
		{"syn-ack", seg(40000, 0x12, 101), synAnswer{isn: 100, from: from}, true},
		{"reset", seg(40000, 0x14, 0), synAnswer{isn: ^uint32(0), from: from, refused: true}, true},
		{"another port", seg(40001, 0x12, 101), synAnswer{}, false},
		{"a bare ACK", seg(40000, 0x10, 101), synAnswer{}, false},
		{"a reset without ACK", seg(40000, 0x04, 0), synAnswer{}, false},
		{"short", seg(40000, 0x12, 101)[:30], synAnswer{}, false},
	} {
		got, ok := s.parse(c.b)
		if ok != c.ok || got != c.want {
			t.Errorf("%s: %+v %v, want %+v %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

// TestTCPChecksum: the checksum of a SYN with an MSS option, from
// 127.0.0.1:40000 to 127.0.0.1:8080, against RFC 793's sum over the
// pseudo-header and the segment worked out apart from this code (0xddef),
// and the segment with it in sums to zero. On loopback the kernel does
// not verify it; on a network a wrong one would fail every check.
func TestTCPChecksum(t *testing.T) {
	h := make([]byte, 24)
	h[0], h[1], h[2], h[3] = 0x9c, 0x40, 0x1f, 0x90 // 40000 -> 8080
	h[4], h[5], h[6], h[7] = 0, 0, 0, 100
	h[12], h[13], h[14], h[15] = 0x60, 0x02, 0xff, 0xff
	h[20], h[21], h[22], h[23] = 2, 4, 0x05, 0xb4
	sum := tcpChecksum(h, [4]byte{127, 0, 0, 1}, [4]byte{127, 0, 0, 1})
	if sum != 0xddef {
		t.Errorf("checksum %#04x, want 0xddef", sum)
	}
	h[16], h[17] = byte(sum>>8), byte(sum)
	if got := tcpChecksum(h, [4]byte{127, 0, 0, 1}, [4]byte{127, 0, 0, 1}); got != 0 {
		t.Errorf("a segment with its checksum in sums to %#04x, want 0", got)
	}
}

// TestProberSYNBackToConnect: a prober checking by SYN goes back to
// connects, and closes its raw socket, once its rate falls under half of
// synMin (a longer delay), or once its monitor is no longer TCP (HTTP,
// whose checks connect too).
func TestProberSYNBackToConnect(t *testing.T) {
	if _, err := newSynner(); err != nil {
		t.Skipf("no raw TCP socket here: %v", err)
	}
	for _, c := range []struct {
		name   string
		change func(*Config)
	}{
		{"longer delay", func(c *Config) { c.Delay = 100 * time.Millisecond }}, // 10 a second, under 25
		{"HTTP", func(c *Config) {
			c.Type, c.HTTPMethod, c.URLPath, c.ExpectedCodes, c.HTTPVersion = TypeHTTP, "GET", "/", codes(200, 200), "1.0"
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			lfd, up := rawListener(t)
			mon := NewMonitor(Options{PoolID: "syn"})
			cfg := Config{Type: TypeTCP, Delay: 10 * time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 1}
			targets := []Target{{ID: "up", Addr: up, Enabled: true, Weight: 1}}
			if err := mon.Update(cfg, targets); err != nil {
				t.Fatal(err)
			}
			prb, stop := runProber(t, mon, func(p *prober) { p.synMin = 50 }) // 100 checks a second: by SYN
			await := func(what string, ok func() bool) {
				t.Helper()
				deadline := time.Now().Add(5 * time.Second)
				for !ok() {
					if time.Now().After(deadline) {
						t.Fatalf("%s: not within 5s", what)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			await("3 checks passed", func() bool { s, _ := mon.Member("up"); return s.ChecksPassed >= 3 })
			if _, _, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC); !errors.Is(err, syscall.EAGAIN) {
				t.Fatalf("checking by SYN left the member a connection to accept (accept: %v)", err)
			}
			c.change(&cfg)
			if err := mon.Update(cfg, targets); err != nil {
				t.Fatal(err)
			}
			await("a connect check", func() bool {
				nfd, _, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
				if err == nil {
					syscall.Close(nfd)
				}
				return err == nil
			})
			stop()
			if prb.synner != nil {
				t.Error("the raw socket is still open after the prober went back to connects")
			}
		})
	}
}
