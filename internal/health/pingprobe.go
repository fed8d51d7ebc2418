package health

import (
	"errors"
	"net/netip"
	"time"
)

// ping queues mem's echo request on the prober's ICMP socket, to go out
// with the others of this wake-up (sendPings), and puts mem in the heap at
// the end of its wait. It returns false, having done nothing, when the
// check must go through the PingChecker instead: an IPv6 or zoned address,
// or no ICMP socket to be had.
func (p *prober) ping(mem *member, a netip.Addr, pc *PingChecker) bool {
	a = a.Unmap()
	if !a.Is4() || p.noPinger {
		return false
	}
	if p.pinger == nil {
		pg, err := newPinger(pc.privileged)
		if err != nil {
			p.noPinger = true
			p.m.log.Warn("health checks: no shared ICMP socket; PING checks open one each", "err", err)
			return false
		}
		p.pinger = pg
	}
	s := &mem.slot
	seq := p.pinger.add(a)
	// As PingChecker: the response phase's bound, within the probe's.
	s.wait = s.rc.budget
	if pc.Response > 0 {
		s.wait = min(s.wait, pc.Response)
	}
	s.ping, s.seq, s.pingTo = true, seq, a
	p.pings[seq] = mem // an older request with this number, 65,536 ago, times out
	p.pingW.fresh++
	s.at = s.start.Add(s.wait)
	p.heap.set(mem)
	return true
}

// sendPings sends the echo requests that ping queued, all in one go, and
// fails the probes whose request the kernel refused.
func (p *prober) sendPings() {
	if p.pinger == nil {
		return
	}
	p.refused = p.pinger.flush(p.refused[:0])
	if len(p.refused) == 0 {
		return
	}
	now := time.Now()
	for _, f := range p.refused {
		mem := p.pings[f.seq]
		if mem == nil {
			continue
		}
		p.forgetPing(mem)
		p.finish(mem, errors.New("ping: "+rootCause(f.err)), now)
	}
}

// readReplies reads the echo replies that have come, if any are awaited,
// and finishes their probes. The prober calls it at each wake-up, before
// it times out the probes whose wait is over: a reply in by then counts.
func (p *prober) readReplies() {
	if p.pinger == nil || len(p.pings) == 0 {
		p.pingW.fresh = 0
		return
	}
	p.replies = p.pinger.recv(p.replies[:0])
	p.pingW.fresh = 0
	if len(p.replies) == 0 {
		return
	}
	now := time.Now()
	for _, r := range p.replies {
		p.replied(r, now)
	}
}

// awaitReplies arms the ICMP socket in the epoll set when echo requests
// await their reply and the prober will not wake at the grid's next point
// anyway (for its next slots, or for echo requests just sent): the replies
// of a member that answers late are then read when they come. The same for
// the raw TCP socket of the SYN checks (synprobe.go).
func (p *prober) awaitReplies(now time.Time) {
	if p.pinger != nil {
		p.awaitOn(p.pinger.fd, &p.pingW, len(p.pings), now)
	}
	if p.synner != nil {
		p.awaitOn(p.synner.fd, &p.synW, len(p.syns), now)
	}
}

// rawWait is the prober's state of one raw socket that probes await
// answers on.
type rawWait struct {
	fresh  int  // requests sent since the last read: read at the next point of the grid
	armed  bool // the socket is armed in the epoll set
	polled bool // the socket is in the epoll set (armed or spent)
	wakes  int  // wake-ups by the epoll set for answers (tests)
}

// awaitOn arms fd when awaiting probes wait on it and nothing else wakes
// the prober at the grid's next point.
func (p *prober) awaitOn(fd int, w *rawWait, awaiting int, now time.Time) {
	if awaiting == 0 || w.armed || w.fresh > 0 {
		return
	}
	if wake := p.nextWake(now); !wake.IsZero() && !wake.After(onGrid(now.Add(1), p.step)) {
		return
	}
	if !p.poller() {
		w.fresh = 1 // no epoll set: read at the grid's next point, and so on
		return
	}
	if err := p.conns.arm(fd, 0, waitReadable, w.polled); err != nil {
		w.fresh = 1
		return
	}
	w.armed, w.polled = true, true
}

// replied finishes the probe whose echo request r answers.
func (p *prober) replied(r echoReply, now time.Time) {
	mem := p.pings[r.seq]
	if mem == nil || mem.slot.pingTo != r.from {
		return // late, or not ours
	}
	p.forgetPing(mem)
	p.finish(mem, nil, now)
}

func (p *prober) forgetPing(mem *member) {
	if p.pings[mem.slot.seq] == mem {
		delete(p.pings, mem.slot.seq)
	}
	mem.slot.ping = false
}
