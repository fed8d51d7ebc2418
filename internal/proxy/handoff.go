package proxy

import (
	"net"

	"lbd/internal/proxy/evloop"
	"lbd/internal/stats"
)

// A keep-alive HTTP client connection moves between two engines. A plain
// HTTP listener's loops take it as it is accepted (listener.acceptRaw) and
// serve its first request; a goroutine serves it first (httpConn) on other
// listeners, and serves anything the event loop does not: chunked bodies,
// upgrades, errors, chunked or large responses, the retries after a
// member connect of the loop's failed (the goroutine connects, and gives
// its member connections to the loop when its client connection ends:
// returnIdle). Once its exchanges show it is in
// the loop's steady state (http1.Decision.Steady), the goroutine hands the
// socket, its unread bytes and its idle member connections to a loop
// (moveToLoop). The loop hands it back as soon as a request or response
// leaves its path (loophandoff.go's handOff...), with what it read, an
// exchange in progress or a member it failed to connect to; the connection then needs a
// longer run of steady exchanges before it moves again, so one that keeps
// coming back stays with its goroutine.
//
// At every moment the connection, its listener's connection count, each
// acquired member and each member connection has exactly one owner: the
// goroutine until moveToLoop posts the move, then the record on its way
// (loopMove, loopHandoff), then the loop or the goroutine that takes it.

// loopSeat is what the goroutine path keeps of a connection's way into an
// event loop.
type loopSeat struct {
	home    *httpLoop // the loop it came from, where its member connections wait
	streak  int       // steady exchanges in a row
	backoff int       // the streak needed to move; it grows each time a loop hands the connection back
}

func (s *loopSeat) note(steady bool) {
	if steady {
		s.streak++
	} else {
		s.streak = 0
	}
}

func (s *loopSeat) due() bool { return s.streak > s.backoff }

// serveHTTP serves an HTTP client connection on this goroutine until it
// ends or moves into an event loop of ls (moved: the loop owns it now). c
// may be any net.Conn; only a TCP socket moves. from, when set, is the
// connection a loop handed back, with what it holds.
func serveHTTP(ls *loopSet, l *listener, c net.Conn, pr peer, st *connState, traffic *stats.Traffic, pre []byte, from *loopHandoff) (moved bool) {
	hc := newHTTPConn(l, c, pr, st, traffic)
	var seat loopSeat
	defer func() {
		if !moved && seat.home != nil {
			returnIdle(seat.home, hc)
		}
		hc.release()
	}()
	if from == nil {
		hc.accepted = st.accepted
	}
	var fc failedConnect
	hc.readAhead(pre)
	if from != nil {
		seat = loopSeat{home: from.home, backoff: from.backoff}
		fc = from.failed
		hc.readAhead(from.buffered)
		if from.expired {
			hc.expireRead()
		}
		if x := from.ex; x != nil {
			keep, steady := hc.resume(x)
			seat.note(steady)
			if !keep {
				return false
			}
		}
	}
	for {
		if seat.due() && moveToLoop(ls, hc, c, &seat) {
			return true
		}
		keep, steady := hc.serveNext(&fc)
		fc = failedConnect{}
		seat.note(steady)
		if !keep {
			return false
		}
	}
}

// resumeHTTP serves a connection a loop handed back, on the goroutine the
// loop started for it.
func resumeHTTP(h *loopHandoff) {
	l, c := h.l, h.conn
	st := &connState{}
	l.track(c, st)
	moved := false
	defer func() {
		if !moved {
			l.closeConn(c, h.traffic)
		}
	}()
	moved = serveHTTP(h.home.set, l, c, peer{remote: h.remote, local: h.local}, st, h.traffic, nil, h)
}

// returnIdle gives the idle member connections hc caches to home, the loop
// its client connection came from, when that connection ends on the
// goroutine path: the loop serves new connections' requests (the loops
// take them as they are accepted) with member connections it holds, and
// gets them this way too.
func returnIdle(home *httpLoop, hc *httpConn) {
	var members []loopIdle
	for i, uc := range hc.cache {
		if uc == nil || uc.private || uc.br.Buffered() > 0 {
			continue
		}
		mfd, err := evloop.Detach(uc.tc.Conn)
		if err != nil {
			continue // not a socket (TLS): the pool's shared list takes it
		}
		hc.cache[i] = nil
		members = append(members, loopIdle{fd: mfd, state: uc.state, since: uc.idleSince})
	}
	if len(members) > 0 {
		home.loop.Post(func() { home.adoptIdle(members) })
	}
}

// moveToLoop hands the connection hc serves on c to an event loop, with the
// bytes read ahead and the idle member connections hc keeps. It reports
// false, and changes nothing, when there is no loop or the socket cannot
// be moved (a TLS connection never is).
func moveToLoop(ls *loopSet, hc *httpConn, c net.Conn, seat *loopSeat) bool {
	l := hc.l
	tc, ok := c.(*net.TCPConn)
	if ls == nil || !ok || l.draining.Load() {
		return false
	}
	fd, err := evloop.Detach(tc)
	if err != nil {
		return false
	}
	l.untrack(tc)
	mv := &loopMove{l: l, traffic: hc.traffic, remote: hc.remote, local: hc.local, fd: fd, backoff: seat.backoff, back: resumeHTTP}
	buffered, idle := hc.handOver()
	mv.buffered = buffered
	for _, uc := range idle {
		mfd, err := evloop.Detach(uc.tc.Conn)
		if err != nil {
			uc.close()
			continue
		}
		mv.members = append(mv.members, loopIdle{fd: mfd, state: uc.state, since: uc.idleSince})
	}
	ls.adopt(seat.home, mv)
	return true
}
