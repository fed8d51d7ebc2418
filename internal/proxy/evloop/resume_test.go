package evloop

import (
	"slices"
	"syscall"
	"testing"
	"time"
)

// turns is a handler that asks to be served again (Resume) until it was
// served n times, noting the loop's turn each time; then it sends what it
// noted on done, if set. Its peer sends nothing: what epoll reports is
// only that the socket is writable, which it ignores.
type turns struct {
	Socket
	n    int
	seen []uint64
	done chan []uint64
}

func (h *turns) Ready(writable bool) {
	if writable {
		return
	}
	h.seen = append(h.seen, h.loop.Turn())
	if len(h.seen) < h.n {
		h.Resume()
		h.Resume() // twice in a turn: served once
		return
	}
	if h.done != nil {
		h.done <- slices.Clone(h.seen)
		h.done = nil
	}
}

func (h *turns) Expire() { h.SetDeadline(time.Time{}) }
func (h *turns) Abort()  { h.Close() }

// quietLoop is a loop whose tick never comes during a test: only events
// and resumed sockets wake it.
func quietLoop(t *testing.T) *Loop {
	t.Helper()
	l, err := New(Options{BufSize: bufSize, Tick: time.Hour, Yield: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	go l.Run()
	t.Cleanup(l.Stop)
	return l
}

// detached returns a socket for a loop to register, whose peer stays
// quiet.
func detached(t *testing.T) int {
	t.Helper()
	server, _ := tcpPair(t)
	fd, err := Detach(server)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

func awaitTurns(t *testing.T, done chan []uint64) []uint64 {
	t.Helper()
	select {
	case seen := <-done:
		return seen
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not serve the resumed socket again: it was not resumed, or the loop parked with it waiting")
		return nil
	}
}

// TestResumeServesAgainAtTheNextTurn: a handler that asks to be served
// again is, at each turn, with nothing new from epoll and no tick to wake
// the loop: the loop does not park while a socket waits for it.
func TestResumeServesAgainAtTheNextTurn(t *testing.T) {
	l := quietLoop(t)
	fd := detached(t)
	done := make(chan []uint64, 1)
	h := &turns{n: 5, done: done}
	var err error
	on(l, func() {
		if err = l.Register(&h.Socket, fd, h); err == nil {
			h.Resume() // nothing to read: only the loop serves it
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := awaitTurns(t, done)
	for i := 1; i < len(seen); i++ {
		mustf(t, seen[i] == seen[i-1]+1, "served at turns %v: want one after the other, once each", seen)
	}
}

// TestResumeSkipsClosedSockets: a socket closed after it asked to be
// served again, or closed and registered anew (the same Socket, another
// descriptor), is not served for what it asked before.
func TestResumeSkipsClosedSockets(t *testing.T) {
	l := quietLoop(t)
	closed, reused := &turns{n: 1}, &turns{n: 1}
	done := make(chan []uint64, 1)
	probe := &turns{n: 3, done: done}
	fds := []int{detached(t), detached(t), detached(t), detached(t)}
	var err error
	on(l, func() {
		for i, r := range []struct {
			h  *turns
			fd int
		}{{closed, fds[0]}, {reused, fds[1]}, {probe, fds[2]}} {
			if err = l.Register(&r.h.Socket, r.fd, r.h); err != nil {
				for _, fd := range fds[i:] {
					syscall.Close(fd)
				}
				return
			}
		}
		closed.Resume()
		closed.Close()
		reused.Resume()
		reused.Close()
		if err = l.Register(&reused.Socket, fds[3], reused); err != nil {
			syscall.Close(fds[3])
			return
		}
		probe.Resume()
	})
	if err != nil {
		t.Fatal(err)
	}
	awaitTurns(t, done) // two turns after the others were due
	var closedSeen, reusedSeen int
	on(l, func() { closedSeen, reusedSeen = len(closed.seen), len(reused.seen) })
	mustf(t, closedSeen == 0, "the closed socket was served %d times after it was closed", closedSeen)
	mustf(t, reusedSeen == 0, "the socket registered anew was served %d times for what it asked before", reusedSeen)
}
