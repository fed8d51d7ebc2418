package evloop

import (
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// These tests check the ownership invariants of the package doc on real
// loopback sockets: a socket is owned by a goroutine or by one loop, never
// both, and changes hands only through Detach, Register, Release and
// Close; a stopping loop leaves nothing open.

func startLoop(t *testing.T, own bool) *Loop {
	t.Helper()
	if own {
		addP(t)
	}
	l, err := New(Options{BufSize: bufSize, Tick: 5 * time.Millisecond, Yield: time.Millisecond, OwnThread: own, Linger: DefaultLinger})
	if err != nil {
		t.Fatal(err)
	}
	go l.Run()
	t.Cleanup(l.Stop)
	return l
}

// eachMode runs test for a loop parked in Go's poller and for one waiting
// in its own epoll_pwait (OwnThread).
func eachMode(t *testing.T, test func(t *testing.T, own bool)) {
	t.Run("parked", func(t *testing.T) { test(t, false) })
	t.Run("own-thread", func(t *testing.T) { test(t, true) })
}

// addP adds a P for an OwnThread loop while the test runs, as lbd does,
// so that the test's goroutines keep theirs.
func addP(t *testing.T) {
	n := runtime.GOMAXPROCS(0)
	runtime.GOMAXPROCS(n + 1)
	t.Cleanup(func() { runtime.GOMAXPROCS(n) })
}

// echoIn registers the server end of a loopback connection in l, served by
// echo, and returns the client end.
func echoIn(t *testing.T, l *Loop) *net.TCPConn {
	t.Helper()
	server, client := tcpPair(t)
	fd, err := Detach(server)
	if err != nil {
		t.Fatal(err)
	}
	h := &echo{}
	var regErr error
	on(l, func() { regErr = l.Register(&h.Socket, fd, h) })
	if regErr != nil {
		t.Fatal(regErr)
	}
	return client
}

// on runs f on the loop's goroutine and waits for it.
func on(l *Loop, f func()) {
	done := make(chan struct{})
	l.Post(func() { f(); close(done) })
	<-done
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return s, c
}

// echo is a handler that writes back what it reads, and counts what the
// loop calls it for.
type echo struct {
	Socket
	ready, expired, aborted atomic.Int32
	closeOnAbort            bool
	expiredCh               chan struct{}
}

func (e *echo) Ready(bool) {
	e.ready.Add(1)
	for e.Readable() {
		switch e.Read() {
		case ReadData:
			e.Writer().Write(e.In)
			e.In = e.In[:0]
			e.ReleaseIn()
			e.Flush()
		case ReadEOF:
			e.Close()
			return
		}
	}
}

func (e *echo) Expire() {
	if e.expired.Add(1) == 1 && e.expiredCh != nil {
		close(e.expiredCh)
	}
	e.SetDeadline(time.Time{})
}

func (e *echo) Abort() {
	e.aborted.Add(1)
	if e.closeOnAbort {
		e.Close()
	}
}

func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo of %q: %q, %v", msg, got, err)
	}
}

// TestSocketChangesHandsWhole: a detached connection is closed for its
// goroutine, the loop serves the socket once registered, refuses it a
// second time, and after Release the goroutine serves it alone: the loop
// sees none of its traffic and holds nothing of it.
func TestSocketChangesHandsWhole(t *testing.T) {
	eachMode(t, func(t *testing.T, own bool) {
		l := startLoop(t, own)
		server, client := tcpPair(t)
		fd, err := Detach(server)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := server.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write on the detached connection: %v, want net.ErrClosed", err)
		}
		h := &echo{}
		var regErr, again error
		on(l, func() {
			regErr = l.Register(&h.Socket, fd, h)
			other := &echo{}
			again = l.Register(&other.Socket, fd, other)
		})
		if regErr != nil {
			t.Fatal(regErr)
		}
		if again == nil {
			t.Fatal("a descriptor the loop owns was registered a second time")
		}
		roundTrip(t, client, "ping")
		roundTrip(t, client, "pong")

		var back *net.TCPConn
		var in []byte
		var relErr error
		var left int
		on(l, func() {
			back, in, relErr = h.Release()
			left = l.Sockets()
		})
		if relErr != nil {
			t.Fatal(relErr)
		}
		defer back.Close()
		if left != 0 || h.Open() || len(in) != 0 {
			t.Fatalf("after Release: the loop holds %d sockets, open %v, %d bytes came along; want 0, false, 0", left, h.Open(), len(in))
		}
		readies := h.ready.Load()
		if _, err := io.WriteString(client, "after"); err != nil {
			t.Fatal(err)
		}
		back.SetReadDeadline(time.Now().Add(5 * time.Second))
		got := make([]byte, 5)
		if _, err := io.ReadFull(back, got); err != nil || string(got) != "after" {
			t.Fatalf("the goroutine read %q, %v; want what the peer sent", got, err)
		}
		on(l, func() {}) // anything the loop had queued for the socket has run
		if n := h.ready.Load(); n != readies {
			t.Fatalf("the loop was called %d more times for a socket it released", n-readies)
		}
	})
}

// TestStopSettlesEverySocket: a stopping loop gives each registered socket
// to its handler's Abort once, closes those the handler left open, and
// holds nothing after: every peer sees the connection end.
func TestStopSettlesEverySocket(t *testing.T) {
	l, err := New(Options{BufSize: bufSize, Tick: 5 * time.Millisecond, Yield: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go l.Run()
	const n = 6
	var hs []*echo
	var peers []*net.TCPConn
	for i := range n {
		server, client := tcpPair(t)
		fd, err := Detach(server)
		if err != nil {
			t.Fatal(err)
		}
		h := &echo{closeOnAbort: i%2 == 0}
		var rerr error
		on(l, func() { rerr = l.Register(&h.Socket, fd, h) })
		if rerr != nil {
			t.Fatal(rerr)
		}
		hs, peers = append(hs, h), append(peers, client)
	}
	l.Stop()
	for i, h := range hs {
		if a := h.aborted.Load(); a != 1 {
			t.Fatalf("socket %d: Abort called %d times, want once", i, a)
		}
		if h.Open() {
			t.Fatalf("socket %d is open after Stop", i)
		}
	}
	if l.Sockets() != 0 {
		t.Fatalf("the stopped loop holds %d sockets", l.Sockets())
	}
	for i, c := range peers {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("peer %d: read %v, want EOF: the socket was left open", i, err)
		}
	}
}

// TestDeadlineExpires: Expire comes once the deadline passed, not before,
// on the loop's ticks.
func TestDeadlineExpires(t *testing.T) {
	eachMode(t, func(t *testing.T, own bool) {
		l := startLoop(t, own)
		server, _ := tcpPair(t)
		fd, err := Detach(server)
		if err != nil {
			t.Fatal(err)
		}
		h := &echo{expiredCh: make(chan struct{})}
		var set time.Time
		const d = 50 * time.Millisecond
		on(l, func() {
			if err = l.Register(&h.Socket, fd, h); err == nil {
				h.SetTimeout(d)
				set = l.Now()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-h.expiredCh:
		case <-time.After(5 * time.Second):
			t.Fatal("the deadline never expired")
		}
		var at time.Time
		on(l, func() { at = l.Now() })
		if at.Sub(set) < d {
			t.Fatalf("expired %v after the deadline was set, before its %v", at.Sub(set), d)
		}
	})
}

// TestPostRunsOnTheLoopInOrder: functions posted from many goroutines run
// one at a time on the loop (the race detector would see two at once), each
// poster's in its order.
func TestPostRunsOnTheLoopInOrder(t *testing.T) {
	eachMode(t, func(t *testing.T, own bool) {
		l := startLoop(t, own)
		const posters, each = 8, 200
		last := make([]int, posters) // touched on the loop only
		bad := 0
		done := make(chan struct{}, posters)
		for p := range posters {
			go func() {
				for i := 1; i <= each; i++ {
					l.Post(func() {
						if last[p] != i-1 {
							bad++
						}
						last[p] = i
					})
				}
				done <- struct{}{}
			}()
		}
		for range posters {
			<-done
		}
		var got []int
		on(l, func() { got = append(got, last...); got = append(got, bad) })
		for p := range posters {
			if got[p] != each {
				t.Fatalf("poster %d: %d of %d posts ran", p, got[p], each)
			}
		}
		if got[posters] != 0 {
			t.Fatalf("%d posts ran out of order", got[posters])
		}
	})
}

// TestRegisterReadableEntersEpollOnlyToWait: a socket registered with its
// data waiting is read at once without being in the epoll set; it enters
// it when a read finds nothing, and from then on the loop serves it on
// epoll's reports like any other.
func TestRegisterReadableEntersEpollOnlyToWait(t *testing.T) {
	eachMode(t, func(t *testing.T, own bool) {
		l := startLoop(t, own)
		server, client := tcpPair(t)
		if _, err := io.WriteString(client, "first"); err != nil {
			t.Fatal(err)
		}
		fd, err := Detach(server)
		if err != nil {
			t.Fatal(err)
		}
		inEpoll := func() bool {
			ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}
			return syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, fd, &ev) != syscall.ENOENT
		}
		h := &echo{}
		var regErr error
		var before, after bool
		var res ReadResult
		on(l, func() {
			regErr = l.RegisterReadable(&h.Socket, fd, h)
			before = inEpoll()
			// The data is there: read without waiting for a report.
			if !h.Readable() {
				return
			}
			for res = h.Read(); res == ReadData && len(h.In) < len("first"); res = h.Read() {
			}
			after = inEpoll()
		})
		if regErr != nil {
			t.Fatal(regErr)
		}
		if before || res != ReadData || string(h.In) != "first" || after {
			t.Fatalf("registered readable: in epoll %v, read %v %q, then in epoll %v; want false, data %q, false", before, res, h.In, after, "first")
		}
		on(l, func() {
			h.In = h.In[:0]
			res = h.Read() // nothing more: it must wait, in the set
			after = inEpoll()
		})
		if res != ReadNone || !after {
			t.Fatalf("a read that found nothing: %v, in epoll %v; want ReadNone, true", res, after)
		}
		roundTrip(t, client, "second") // served on epoll's report
	})
}

// TestLoopPollsTwicePerWakeUp: a loop that waits for each message makes
// two epoll_waits per message, the one that finds nothing before it parks
// and the one that finds the message when it wakes, and no third ahead of
// the parking (issue 22: one keep-alive connection paid for it on every
// request).
func TestLoopPollsOncePerWakeUp(t *testing.T) {
	l, err := New(Options{BufSize: bufSize, Tick: time.Hour, Yield: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go l.Run()
	t.Cleanup(l.Stop)
	client := echoIn(t, l)
	for range 20 { // the loop learns that polling again finds nothing
		roundTrip(t, client, "warm")
	}
	var before, after int
	on(l, func() { before = l.polls })
	const rounds = 50
	for range rounds {
		roundTrip(t, client, "ping") // the loop parks before each: the reply came back
	}
	on(l, func() { after = l.polls })
	t.Logf("%d epoll_waits for %d awaited messages", after-before, rounds)
	// Each round: a wake-up, one poll, and a park with no poll before it
	// (two polls a round before), but for one in probeEvery, which polls
	// again; the on() between them: one more. A readiness that came in
	// while the loop served costs a poll that finds nothing: allow a few.
	if got, want := after-before, rounds+rounds/probeEvery+rounds/10+2; got > want {
		t.Fatalf("%d epoll_waits for %d messages, each awaited: want at most %d", got, rounds, want)
	}
}

// TestOwnThreadLinger: a loop on a thread of its own goes on polling for
// Options.Linger after it serves. With a budget far longer than the
// client's turn (100 ms: a test binary beside others on a busy machine
// may wait milliseconds for its turn) it hardly blocks between round
// trips; with none it blocks before each, and polls nothing without
// blocking.
func TestOwnThreadLinger(t *testing.T) {
	const rounds = 50
	for _, linger := range []time.Duration{0, 100 * time.Millisecond} {
		t.Run(linger.String(), func(t *testing.T) {
			addP(t)
			l, err := New(Options{BufSize: bufSize, Tick: time.Hour, Yield: time.Millisecond, OwnThread: true, Linger: linger})
			if err != nil {
				t.Fatal(err)
			}
			go l.Run()
			t.Cleanup(l.Stop)
			client := echoIn(t, l)
			roundTrip(t, client, "warm")
			var polls, waits int
			on(l, func() { polls, waits = l.polls, l.waits })
			for range rounds {
				roundTrip(t, client, "ping")
			}
			on(l, func() { polls, waits = l.polls-polls, l.waits-waits })
			t.Logf("linger %s: %d epoll_waits for %d round trips, %d of them blocking", linger, polls, rounds, waits)
			if linger == 0 {
				// The on() between them, and a wait that ended at ownWaitMax:
				// a few polls that could not block.
				if polls-waits > 3 {
					t.Fatalf("%d polls without blocking, want none: no linger", polls-waits)
				}
				if waits < rounds {
					t.Fatalf("%d blocking waits for %d awaited messages, want one each at least", waits, rounds)
				}
				return
			}
			// A client's turn that took longer than the budget (a busy
			// machine): the loop blocked for it. Most do not.
			if waits > rounds/5 {
				t.Fatalf("%d blocking waits for %d round trips, each within the %s linger: want at most %d", waits, rounds, linger, rounds/5)
			}
		})
	}
}

// TestOwnThreadNap: a busy OwnThread loop (polls right after serving have
// found events at least napHitRate of the time) naps after each serve that
// lingering ends with nothing, and serves what came in meanwhile when it
// wakes; a loop whose polls after serving find nothing (one connection's
// ping-pong) never naps, nor does one with Nap 0. Linger 0 leaves the hit
// rate where the test puts it.
func TestOwnThreadNap(t *testing.T) {
	const rounds = 20
	for _, c := range []struct {
		name string
		nap  time.Duration
		hit  int
		naps bool
	}{
		{"busy", time.Millisecond, hitScale, true},
		{"at-threshold", time.Millisecond, napHitRate, true},
		{"under-threshold", time.Millisecond, napHitRate - 1, false},
		{"ping-pong", time.Millisecond, 0, false},
		{"off", 0, hitScale, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			addP(t)
			l, err := New(Options{BufSize: bufSize, Tick: time.Hour, Yield: time.Millisecond, OwnThread: true, Nap: c.nap})
			if err != nil {
				t.Fatal(err)
			}
			go l.Run()
			t.Cleanup(l.Stop)
			client := echoIn(t, l)
			var naps int
			on(l, func() { l.hitRate, naps = c.hit, l.naps })
			for range rounds {
				roundTrip(t, client, "ping")
			}
			on(l, func() { naps = l.naps - naps })
			t.Logf("%d naps in %d round trips", naps, rounds)
			if c.naps && naps < rounds {
				t.Fatalf("%d naps in %d round trips of a busy loop, want one after each at least", naps, rounds)
			}
			if !c.naps && naps != 0 {
				t.Fatalf("%d naps, want none", naps)
			}
		})
	}
}

// TestOwnThreadLoopNeverParks: an OwnThread loop waits in its own
// epoll_pwait, one a wake-up, and never parks in Go's poller (a goroutine
// there is "IO wait"); the scheduler still gets its P when it stops the
// world (runtime.Stack and runtime.GC do), and the loop serves on after.
func TestOwnThreadLoopNeverParks(t *testing.T) {
	l := startLoop(t, true)
	client := echoIn(t, l)
	stacks := make([]byte, 1<<20)
	for i := range 10 {
		roundTrip(t, client, "ping")
		// Every goroutine's stack, the world stopped: the loop's too.
		all := string(stacks[:runtime.Stack(stacks, true)])
		var loop string
		for g := range strings.SplitSeq(all, "\n\n") {
			if strings.Contains(g, "evloop.startLoop") && strings.Contains(g, "(*Loop).Run") {
				loop = g
			}
		}
		if loop == "" {
			t.Fatalf("round %d: the loop's goroutine is not among the stacks:\n%s", i, all)
		}
		if head, _, _ := strings.Cut(loop, "\n"); strings.Contains(head, "IO wait") {
			t.Fatalf("round %d: the loop parked in Go's poller:\n%s", i, loop)
		}
		runtime.GC()
	}
	var before, after int
	on(l, func() { before = l.waits })
	const rounds = 50
	for range rounds {
		roundTrip(t, client, "ping")
	}
	on(l, func() { after = l.waits })
	t.Logf("%d blocking epoll_waits for %d awaited messages", after-before, rounds)
	// One a round (what linger polls before it blocks is not counted);
	// the on() between them and the waits that ended at ownWaitMax or for
	// a signal: a few more.
	if got, want := after-before, rounds+rounds/10+2; got > want {
		t.Fatalf("%d blocking epoll_waits for %d messages, each awaited: want at most %d", got, rounds, want)
	}
}

// TestOwnThreadLoopParksWhenIdle: an OwnThread loop with no socket parks
// in Go's poller once it has waited ownWaitMax, instead of waking to yield
// every ownWaitMax; a post wakes it, and it serves sockets as before.
func TestOwnThreadLoopParksWhenIdle(t *testing.T) {
	l := startLoop(t, true)
	stacks := make([]byte, 1<<20)
	parked := func() bool {
		for g := range strings.SplitSeq(string(stacks[:runtime.Stack(stacks, true)]), "\n\n") {
			if strings.Contains(g, "(*Loop).parkIdle") {
				head, _, _ := strings.Cut(g, "\n")
				return strings.Contains(head, "IO wait")
			}
		}
		return false
	}
	// Polling what no event announces; stopping the world to read the
	// stacks would end the loop's wait (a signal), so a counter first.
	deadline := time.Now().Add(10 * time.Second)
	for l.idleParks.Load() == 0 || !parked() {
		if time.Now().After(deadline) {
			t.Fatalf("an idle loop did not park in Go's poller within 10 s (%d parks)", l.idleParks.Load())
		}
		time.Sleep(time.Millisecond)
	}
	roundTrip(t, echoIn(t, l), "after the park")
}
