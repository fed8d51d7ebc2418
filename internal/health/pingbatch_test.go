package health

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// awaitEchoReplies reads p's echo replies until want of them came, waiting for
// the socket to be readable in between, for up to 5 s.
func awaitEchoReplies(p *pinger, want int) ([]echoReply, error) {
	var got []echoReply
	deadline := time.Now().Add(5 * time.Second)
	for len(got) < want {
		left := time.Until(deadline)
		if left <= 0 {
			return got, fmt.Errorf("%d of %d echo replies within 5s", len(got), want)
		}
		fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
			return got, err
		}
		got = p.recv(got)
	}
	return got, nil
}

// TestPingerBatches: the echo requests queued for one flush go out in one
// sendmmsg, and their replies come in through recvmmsg, many a call, each
// matched to its request by sequence number and source. A request the
// kernel refuses (the broadcast address, without SO_BROADCAST or a route)
// fails alone, with its own error, and the ones after it still go out.
func TestPingerBatches(t *testing.T) {
	const n = 100
	err := inNetns(t, func() error {
		p, err := testPinger()
		if err != nil {
			return err
		}
		defer p.close()
		sent := map[uint16]netip.Addr{}
		for i := range n {
			a := netip.AddrFrom4([4]byte{127, 0, byte(i / 250), byte(i%250 + 1)})
			sent[p.add(a)] = a
		}
		if failed := p.flush(nil); len(failed) != 0 {
			return fmt.Errorf("flush of %d echo requests to loopback: %v refused", n, failed)
		}
		if p.sends != 1 {
			return fmt.Errorf("%d echo requests took %d sendmmsg calls, want 1", n, p.sends)
		}
		got, err := awaitEchoReplies(p, n)
		if err != nil {
			return err
		}
		if p.recvs*4 > n {
			return fmt.Errorf("%d echo replies took %d recvmmsg calls, want at most %d", n, p.recvs, n/4)
		}
		for _, r := range got {
			if a, ok := sent[r.seq]; !ok || a != r.from {
				return fmt.Errorf("echo reply %+v answers no request of ours (sent %v to seq %d)", r, a, r.seq)
			}
			delete(sent, r.seq)
		}
		if len(sent) != 0 {
			return fmt.Errorf("no echo reply for %v", sent)
		}

		// One refused in the middle.
		p.sends = 0
		first := p.add(netip.MustParseAddr("127.0.0.1"))
		bad := p.add(netip.MustParseAddr("255.255.255.255"))
		last := p.add(netip.MustParseAddr("127.0.0.2"))
		failed := p.flush(nil)
		if len(failed) != 1 || failed[0].seq != bad {
			return fmt.Errorf("refused %+v, want just seq %d (the broadcast)", failed, bad)
		}
		t.Logf("the broadcast: %v (%d sendmmsg calls for 3)", failed[0].err, p.sends)
		if !strings.Contains(failed[0].err.Error(), "sendmmsg") {
			return fmt.Errorf("refusal %q does not name the call", failed[0].err)
		}
		got, err = awaitEchoReplies(p, 2)
		if err != nil {
			return err
		}
		if len(got) != 2 || got[0].seq != first || got[1].seq != last {
			return fmt.Errorf("replies %+v, want seq %d and %d", got, first, last)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestProberPingsInBatches: a prober pinging many members sends the echo
// requests due at one point of its grid in one write, not one each, and
// its grid holds up to maxPingBatch of them: 400 members at delay 100ms
// are on a 20 ms grid (5 ms for other checks, maxBatch), about 80
// requests a point.
func TestProberPingsInBatches(t *testing.T) {
	const members, checks = 400, 1600
	err := inNetns(t, func() error {
		pg, err := testPinger() // opened here: in the namespace
		if err != nil {
			return err
		}
		mon := NewMonitor(Options{PoolID: "ping"})
		cfg := Config{Type: TypePing, Delay: 100 * time.Millisecond, Timeout: time.Second, Rise: 1, Fall: 1}
		var targets []Target
		for i := range members {
			a := netip.AddrFrom4([4]byte{127, 0, byte(i / 250), byte(i%250 + 1)})
			targets = append(targets, Target{ID: a.String(), Addr: netip.AddrPortFrom(a, 80), Enabled: true, Weight: 1})
		}
		if err := mon.Update(cfg, targets); err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		var prb *prober
		go func() {
			defer close(done)
			mon.run(ctx, func(p *prober) { p.pinger, prb = pg, p })
		}()
		defer func() { cancel(); <-done }()
		deadline := time.Now().Add(10 * time.Second)
		var passed, failed uint64
		for passed < checks {
			if time.Now().After(deadline) {
				return fmt.Errorf("%d checks passed within 10s, want %d", passed, checks)
			}
			time.Sleep(10 * time.Millisecond)
			passed, failed = 0, 0
			for _, tg := range targets {
				s, _ := mon.Member(tg.ID)
				passed, failed = passed+s.ChecksPassed, failed+s.ChecksFailed
			}
		}
		cancel()
		<-done
		if failed != 0 {
			return fmt.Errorf("%d checks failed on loopback", failed)
		}
		sends := uint64(pg.sends)
		t.Logf("%d echo requests answered, %d sendmmsg calls, %d recvmmsg calls, grid step %s", passed, sends, pg.recvs, prb.step)
		if sends == 0 || sends*4 > passed {
			return errors.New("the echo requests went out one write each, or nearly: want at least 4 a write")
		}
		if prb.step != 20*time.Millisecond || sends*40 > passed {
			return fmt.Errorf("grid step %s, %d requests a write: want 20 ms, at least 40", prb.step, passed/sends)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testPinger opens a pinger as the PING checker would (raw socket when
// privileged, else the unprivileged ICMP one), or skips when neither can
// be had. Call it inside the test's namespace: the socket is bound there.
func testPinger() (*pinger, error) {
	pc, err := NewPingChecker(PingAuto)
	if err != nil {
		return nil, errSkip{err}
	}
	return newPinger(pc.Privileged())
}
