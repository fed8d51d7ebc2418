package health

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// transition is a report with the member's probe counters at that moment.
type transition struct {
	id             string
	up             bool
	reason         string
	passed, failed uint64
}

// runMonitor runs mon until the test ends.
func runMonitor(t *testing.T, mon *Monitor) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); mon.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// awaitTransitions returns the next n reports, failing after within.
func awaitTransitions(t *testing.T, ch <-chan transition, n int, within time.Duration) []transition {
	t.Helper()
	var got []transition
	timeout := time.After(within)
	for len(got) < n {
		select {
		case tr := <-ch:
			got = append(got, tr)
		case <-timeout:
			t.Fatalf("%d of %d reports within %s: %+v", len(got), n, within, got)
		}
	}
	return got
}

// TestProberTCPRiseFallExactCounts runs the prober's inline TCP checks
// against real loopback members: half of them stop and must go down on
// exactly their max_retries_down-th failed probe, then start again and
// must come back on exactly their max_retries-th passing probe, while the
// other half never move.
func TestProberTCPRiseFallExactCounts(t *testing.T) {
	const n, rise, fall = 40, 3, 2
	type server struct {
		addr netip.AddrPort
		ln   net.Listener
	}
	listen := func(addr string) net.Listener {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		return ln
	}
	servers := make([]*server, n)
	var targets []Target
	for i := range servers {
		ln := listen("127.0.0.1:0")
		servers[i] = &server{addr: netip.MustParseAddrPort(ln.Addr().String()), ln: ln}
		targets = append(targets, Target{ID: target(i).ID, Addr: servers[i].addr, Enabled: true, Weight: 1})
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.ln.Close()
		}
	})
	reports := make(chan transition, 4*n)
	members := map[string]*member{}
	mon := NewMonitor(Options{PoolID: "prober", Report: func(id string, up bool, reason string) {
		m := members[id] // written before Run; the lock is held, so the counters are this probe's
		reports <- transition{id: id, up: up, reason: reason, passed: m.passed.Load(), failed: m.failed.Load()}
	}})
	cfg := Config{Type: TypeTCP, Delay: 20 * time.Millisecond, Timeout: 20 * time.Millisecond, Rise: rise, Fall: fall}
	if err := mon.Update(cfg, targets); err != nil {
		t.Fatal(err)
	}
	for id, m := range mon.members {
		members[id] = m
	}
	runMonitor(t, mon)

	// Every member confirmed (a probe passed), so the full Fall applies.
	deadline := time.Now().Add(10 * time.Second)
	for _, tg := range targets {
		for {
			if s, _ := mon.Member(tg.ID); s.ChecksPassed > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never checked", tg.ID)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	stopped := map[string]bool{}
	for i := 0; i < n; i += 2 {
		servers[i].ln.Close()
		stopped[targets[i].ID] = true
	}
	downs := awaitTransitions(t, reports, n/2, 10*time.Second)
	passedAtDown := map[string]uint64{}
	for _, tr := range downs {
		if !stopped[tr.id] || tr.up || tr.reason != "connect refused" {
			t.Fatalf("report %+v, want a stopped member down: connect refused", tr)
		}
		if tr.failed != fall {
			t.Errorf("%s down after %d failed probes, want exactly %d", tr.id, tr.failed, fall)
		}
		passedAtDown[tr.id] = tr.passed
	}
	for i := 0; i < n; i += 2 {
		servers[i].ln = listen(servers[i].addr.String())
	}
	ups := awaitTransitions(t, reports, n/2, 10*time.Second)
	for _, tr := range ups {
		if !stopped[tr.id] || !tr.up || tr.reason != "3 consecutive checks passed" {
			t.Fatalf("report %+v, want a restarted member up", tr)
		}
		if got := tr.passed - passedAtDown[tr.id]; got != rise {
			t.Errorf("%s up after %d passing probes, want exactly %d", tr.id, got, rise)
		}
	}
	for i := 1; i < n; i += 2 {
		if s, _ := mon.Member(targets[i].ID); s.ChecksFailed != 0 || !s.Up {
			t.Errorf("%s, never stopped: %d failed probes, status %s", targets[i].ID, s.ChecksFailed, s.Status)
		}
	}
	select {
	case tr := <-reports:
		t.Errorf("unexpected report %+v", tr)
	default:
	}
}

// TestProberPendingConnectTimesOut: a connect still under way when connect
// returns waits in the prober's epoll set until its deadline, and a new
// member then goes down on that one failure.
func TestProberPendingConnectTimesOut(t *testing.T) {
	full := fullListener(t)
	reports := make(chan transition, 4)
	mon := NewMonitor(Options{PoolID: "prober", Report: func(id string, up bool, reason string) {
		reports <- transition{id: id, up: up, reason: reason}
	}})
	const connect = 150 * time.Millisecond
	cfg := Config{Type: TypeTCP, Delay: 300 * time.Millisecond, Timeout: time.Second, ConnectTimeout: connect, Rise: 1, Fall: 3}
	if err := mon.Update(cfg, []Target{{ID: "full", Addr: full, Enabled: true, Weight: 1}}); err != nil {
		t.Fatal(err)
	}
	runMonitor(t, mon)
	tr := awaitTransitions(t, reports, 1, 5*time.Second)[0]
	if tr.up || tr.reason != "connect timeout" {
		t.Fatalf("report %+v, want down: connect timeout", tr)
	}
	s, _ := mon.Member("full")
	if s.LastDuration < connect || s.LastDuration > connect+100*time.Millisecond {
		t.Errorf("the timed-out probe took %s, want the connect timeout, %s", s.LastDuration, connect)
	}
}

// TestPendingConnectCompletesThroughEpoll: a connect the member's full
// queue held up completes once the member accepts (the SYN is sent again
// after a second), and the epoll set reports it.
func TestPendingConnectCompletesThroughEpoll(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*syscall.SockaddrInet4).Port))
	queued, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer queued.Close()

	var socks tcpSockets
	defer socks.close()
	cfd, err := socks.connect(addr)
	if !errors.Is(err, errConnectPending) {
		t.Fatalf("connect to a full queue: %v, want it pending", err)
	}
	conns, err := newConnPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer conns.close()
	ready := make(chan []connEvent, 1)
	go conns.wait(ready)
	if err := conns.add(cfd, 7); err != nil {
		t.Fatal(err)
	}
	// Make room: accept the queued connection.
	nfd, _, err := syscall.Accept(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(nfd)
	select {
	case evs := <-ready:
		if len(evs) != 1 || evs[0] != (connEvent{fd: cfd, gen: 7}) {
			t.Fatalf("events %+v, want fd %d gen 7", evs, cfd)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pending connect never completed")
	}
	if err := connectResult(cfd); err != nil {
		t.Fatalf("completed connect: %v", err)
	}
}

// TestTCPSocketsReuse: the prober keeps one socket across checks, passing
// and refused alike, and each check still resets its connection.
func TestTCPSocketsReuse(t *testing.T) {
	accepted := make(chan error, 8)
	open := rawServer(t, func(c net.Conn) {
		_, err := c.Read(make([]byte, 1))
		accepted <- err
	})
	closed := closedPort(t)
	var socks tcpSockets
	defer socks.close()
	sockets := map[int]bool{}
	for i, addr := range []netip.AddrPort{open, closed, open, closed, open} {
		_, err := socks.connect(addr)
		switch {
		case addr == open && err != nil:
			t.Fatalf("check %d of the open port: %v", i, err)
		case addr == closed && (err == nil || err.Error() != "connect refused"):
			t.Fatalf("check %d of the closed port: %v, want connect refused", i, err)
		}
		if len(socks.idle[0]) != 1 {
			t.Fatalf("after check %d: %d idle sockets, want 1", i, len(socks.idle[0]))
		}
		sockets[socks.idle[0][0]] = true
	}
	if len(sockets) != 1 {
		t.Errorf("%d sockets for 5 checks, want 1 reused", len(sockets))
	}
	for range 3 {
		select {
		case err := <-accepted:
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("the member read %v after the check, want a reset", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the listener never saw the connection")
		}
	}
}

// TestProberPingTransitions runs PING checks through the prober's shared
// ICMP socket in a network namespace of the test's own, where the kernel
// is then told to ignore echo requests: both members must go down on
// exactly their max_retries_down-th unanswered request, with the
// PingChecker's reason, and come back on exactly their max_retries-th
// reply once it answers again.
func TestProberPingTransitions(t *testing.T) {
	const rise, fall = 2, 2
	err := inNetns(t, func() error {
		setIgnore := func(v string) error {
			return os.WriteFile("/proc/sys/net/ipv4/icmp_echo_ignore_all", []byte(v), 0o644)
		}
		pg, err := testPinger() // opened here: in the namespace
		if err != nil {
			return err
		}
		reports := make(chan transition, 8)
		members := map[string]*member{}
		mon := NewMonitor(Options{PoolID: "ping", Report: func(id string, up bool, reason string) {
			m := members[id]
			reports <- transition{id: id, up: up, reason: reason, passed: m.passed.Load(), failed: m.failed.Load()}
		}})
		cfg := Config{Type: TypePing, Delay: 100 * time.Millisecond, Timeout: 200 * time.Millisecond, Rise: rise, Fall: fall}
		targets := []Target{
			{ID: "a", Addr: netip.MustParseAddrPort("127.0.0.1:80"), Enabled: true, Weight: 1},
			{ID: "b", Addr: netip.MustParseAddrPort("127.0.0.2:80"), Enabled: true, Weight: 1},
		}
		if err := mon.Update(cfg, targets); err != nil {
			return err
		}
		for id, m := range mon.members {
			members[id] = m
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			mon.run(ctx, func(p *prober) {
				p.pinger = pg
			})
		}()
		defer func() { cancel(); <-done }()
		deadline := time.Now().Add(5 * time.Second)
		for _, id := range []string{"a", "b"} {
			for {
				if s, _ := mon.Member(id); s.ChecksPassed > 0 {
					break
				}
				if time.Now().After(deadline) {
					return errors.New(id + " never answered")
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		if err := setIgnore("1"); err != nil {
			return err
		}
		passedAtDown := map[string]uint64{}
		for _, tr := range awaitTransitions(t, reports, 2, 10*time.Second) {
			if tr.up || tr.reason != "no echo reply within 200ms" || tr.failed != fall {
				return fmt.Errorf("report %+v, want down after %d failed: no echo reply within 200ms", tr, fall)
			}
			passedAtDown[tr.id] = tr.passed
		}
		if err := setIgnore("0"); err != nil {
			return err
		}
		for _, tr := range awaitTransitions(t, reports, 2, 10*time.Second) {
			if !tr.up || tr.passed-passedAtDown[tr.id] != rise {
				return fmt.Errorf("report %+v, want up after %d replies", tr, rise)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestProberPingLateReply: an echo reply that comes after the prober's
// first read of its ICMP socket (at the grid's next point) is read when it
// comes, through the epoll set, not at the probe's deadline. The member's
// replies are the test's own: the kernel's are off (icmp_echo_ignore_all),
// and a raw socket of the test's sees each echo request and answers it
// three grid points later.
func TestProberPingLateReply(t *testing.T) {
	err := inNetns(t, func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/icmp_echo_ignore_all", []byte("1"), 0o644); err != nil {
			return err
		}
		member, _ := netip.ParseAddr("127.0.0.2")
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, syscall.IPPROTO_ICMP)
		if err != nil {
			return errSkip{err}
		}
		defer syscall.Close(fd)
		const solRaw, icmpFilter = 255, 1
		if err := syscall.SetsockoptInt(fd, solRaw, icmpFilter, ^(1 << 8)); err != nil { // echo requests only
			return err
		}
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: member.As4()}); err != nil {
			return err
		}
		if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 5}); err != nil {
			return err
		}
		pg, err := testPinger()
		if err != nil {
			return err
		}
		mon := NewMonitor(Options{PoolID: "ping"})
		cfg := Config{Type: TypePing, Delay: 500 * time.Millisecond, Timeout: 400 * time.Millisecond, Rise: 1, Fall: 1}
		if err := mon.Update(cfg, []Target{{ID: "m", Addr: netip.AddrPortFrom(member, 80), Enabled: true, Weight: 1}}); err != nil {
			return err
		}
		var prb *prober
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			mon.run(ctx, func(p *prober) { p.pinger, prb = pg, p })
		}()
		defer func() { cancel(); <-done }()
		const answers = 2
		buf := make([]byte, 1500)
		for range answers {
			n, _, err := syscall.Recvfrom(fd, buf, 0)
			if err != nil {
				return fmt.Errorf("no echo request: %w", err)
			}
			req := buf[int(buf[0]&0x0f)*4 : n] // past the IP header
			time.Sleep(3 * batchTick)          // the late reply
			reply := append([]byte(nil), req...)
			reply[0], reply[2], reply[3] = 0, 0, 0 // echo reply, checksum again
			binary.BigEndian.PutUint16(reply[2:], icmpChecksum(reply))
			if err := syscall.Sendto(fd, reply, 0, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				return err
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			s, _ := mon.Member("m")
			if s.ChecksFailed > 0 {
				return fmt.Errorf("member state %+v: a late reply failed the check", s)
			}
			if s.ChecksPassed >= answers {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("member state %+v, want %d checks passed", s, answers)
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-done
		if prb.pingW.wakes == 0 {
			return errors.New("the late replies were not read through the epoll set")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPingerParse: only echo replies to this pinger's identifier count.
func TestPingerParse(t *testing.T) {
	p := &pinger{raw: true, id: 0x1234}
	ip := make([]byte, 20)
	ip[0] = 0x45
	reply := func(typ byte, id uint16) []byte {
		b := append([]byte(nil), ip...)
		return append(b, typ, 0, 0, 0, byte(id>>8), byte(id), 0, 9)
	}
	from := netip.MustParseAddr("127.0.0.7")
	if r, ok := p.parse(reply(0, 0x1234), from); !ok || r.seq != 9 || r.from != netip.MustParseAddr("127.0.0.7") {
		t.Errorf("our echo reply: %+v %v", r, ok)
	}
	if _, ok := p.parse(reply(0, 0x4321), from); ok {
		t.Error("another process's echo reply was taken")
	}
	if _, ok := p.parse(reply(8, 0x1234), from); ok {
		t.Error("an echo request was taken for a reply")
	}
}

// TestTCPSocketsTrimmed: spare sockets that no check took between two
// trims are closed; the ones in use stay.
func TestTCPSocketsTrimmed(t *testing.T) {
	var socks tcpSockets
	defer socks.close()
	var fds []int
	for range 5 {
		fd, _, err := socks.get(false)
		if err != nil {
			t.Fatal(err)
		}
		fds = append(fds, fd)
	}
	for _, fd := range fds {
		socks.put(fd, false)
	}
	socks.trim() // the first look: nothing was seen idle for a period yet
	if len(socks.idle[0]) != 5 {
		t.Fatalf("%d idle after the first trim, want 5", len(socks.idle[0]))
	}
	used, _, _ := socks.get(false) // one check in the period
	socks.put(used, false)
	socks.trim()
	if len(socks.idle[0]) != 1 || socks.idle[0][0] != used {
		t.Fatalf("idle %v after a period in which only %d was used, want just it", socks.idle[0], used)
	}
	open := 0
	for _, fd := range fds {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			open++
		}
	}
	if open != 1 {
		t.Fatalf("%d of the 5 sockets still open, want 1", open)
	}
	socks.trim() // a period without a check
	if len(socks.idle[0]) != 0 {
		t.Fatalf("%d idle after a period without checks, want 0", len(socks.idle[0]))
	}
}

// TestGridStep: the grid's step holds at most maxBatch probes, and is as
// coarse as batchTick where that allows.
func TestGridStep(t *testing.T) {
	for _, c := range []struct {
		members  int
		interval time.Duration
		batch    int
		want     time.Duration
	}{
		{1, time.Second, maxBatch, batchTick},
		{1000, time.Second, maxBatch, 20 * time.Millisecond},
		{1001, time.Second, maxBatch, 10 * time.Millisecond},
		{2000, time.Second, maxBatch, 10 * time.Millisecond},
		{5000, time.Second, maxBatch, 4 * time.Millisecond},
		{10000, time.Second, maxBatch, 2 * time.Millisecond},
		{10000, 5 * time.Second, maxBatch, 10 * time.Millisecond},
		{100000, time.Second, maxBatch, time.Millisecond},
		{10000, time.Second, maxPingBatch, 20 * time.Millisecond},
		{20000, time.Second, maxPingBatch, 10 * time.Millisecond},
		{100000, time.Second, maxPingBatch, 2 * time.Millisecond},
	} {
		if got := gridStep(c.members, c.interval, c.batch); got != c.want {
			t.Errorf("gridStep(%d, %s, %d) = %s, want %s", c.members, c.interval, c.batch, got, c.want)
		}
		if got := gridStep(c.members, c.interval, c.batch); batchTick%got != 0 {
			t.Errorf("gridStep(%d, %s, %d) = %s does not divide %s", c.members, c.interval, c.batch, got, batchTick)
		}
	}
}
