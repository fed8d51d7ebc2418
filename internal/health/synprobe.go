package health

import (
	"errors"
	"net/netip"
	"syscall"
	"time"
)

// syn queues mem's SYN on the prober's raw TCP socket, to go out with the
// others of this wake-up (sendSyns), and puts mem in the heap at the end
// of its wait, the connect's bound. It returns false, having done nothing,
// when the check must connect instead: an IPv6 or zoned address, or no raw
// socket to be had (lbd without CAP_NET_RAW).
func (p *prober) syn(mem *member, addr netip.AddrPort, tc *TCPChecker, now time.Time) bool {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if !p.bySYN || !addr.Addr().Is4() || p.noSynner {
		return false
	}
	if p.synner == nil {
		sy, err := newSynner()
		if err != nil {
			p.noSynner = true
			p.m.log.Info("health checks: no raw TCP socket; TCP checks connect", "err", err)
			return false
		}
		p.synner = sy
	}
	s := &mem.slot
	isn, err := p.synner.add(addr, &s.synSrc, now)
	if err != nil {
		p.finish(mem, errors.New(describeConnectError(err)), now) // no route to the member: what connect would say
		return true
	}
	s.wait = s.rc.budget
	if tc.Connect > 0 {
		s.wait = min(s.wait, tc.Connect)
	}
	s.syn, s.isn, s.synTo = true, isn, addr
	p.syns[isn] = mem
	p.synW.fresh++
	s.at = s.start.Add(s.wait)
	p.heap.set(mem)
	return true
}

// synAnswer is a member's answer to a SYN: the check it answers (its
// sequence number), where it came from, and whether it is a reset.
type synAnswer struct {
	isn     uint32
	from    netip.AddrPort
	refused bool
}

// synSource is the source address the routes gave toward a member's
// address dst, kept in the member's slot for synSourceFor: the checksum of
// a raw segment covers it. (Kept in a map by address, looking it up was
// 8 % of the prober's CPU at 10,000 members.)
type synSource struct {
	dst, addr netip.Addr
	at        time.Time
}

// synSourceFor is how long a source address found for a member is used
// before the routes are asked again.
const synSourceFor = time.Minute

// synFailure is a SYN that could not be sent.
type synFailure struct {
	isn uint32
	err error
}

// synMinRate is the rate of TCP checks, a second, from which a prober
// checks by SYN. Below it the raw socket may cost more than it saves:
// while it is open the kernel clones every TCP segment the host receives
// for it before its filter drops them, which cost the data path 2-7 %
// more CPU a request on tcp_ka, about 3 % of each core it keeps busy;
// and SYNs save about 1.2 % of a core per 1,000 checks a second (at 1,000
// members 3.1 % of a core against connects' 4.3 %; at 10,000, 10-12 %
// against 33 %). From 5,000 a second they pay with two busy cores
// (docs/performance.md, "TCP checks by SYN").
const synMinRate = 5000

// synPays reports whether n members checked every interval should be
// checked by SYN: from synMin checks a second on, and, once by SYN, until
// the rate falls under half of it (no flapping between the two around the
// bound). Going back to connects, the raw socket closes once its last SYN
// is answered or timed out (readAnswers).
func (p *prober) synPays(n int, interval time.Duration) bool {
	if p.noSynner || interval <= 0 {
		return false
	}
	rate := float64(n) / interval.Seconds()
	if p.bySYN {
		return rate >= p.synMin/2
	}
	return rate >= p.synMin
}

// sendSyns sends the SYNs that syn queued, all in one go, and fails the
// probes whose SYN the kernel refused.
func (p *prober) sendSyns() {
	if p.synner == nil {
		return
	}
	p.synFailed = p.synner.flush(p.synFailed[:0])
	if len(p.synFailed) == 0 {
		return
	}
	now := time.Now()
	for _, f := range p.synFailed {
		mem := p.syns[f.isn]
		if mem == nil {
			continue
		}
		p.forgetSyn(mem)
		p.finish(mem, errors.New(describeConnectError(f.err)), now)
	}
}

// readAnswers reads the members' answers to the SYNs, if any are awaited,
// and finishes their probes, as readReplies does for echo replies.
func (p *prober) readAnswers() {
	if p.synner == nil || len(p.syns) == 0 {
		p.synW.fresh = 0
		if p.synner != nil && !p.bySYN {
			p.closeSynner()
		}
		return
	}
	p.answers = p.synner.recv(p.answers[:0])
	p.synW.fresh = 0
	if len(p.answers) == 0 {
		return
	}
	now := time.Now()
	for _, a := range p.answers {
		mem := p.syns[a.isn]
		if mem == nil || mem.slot.synTo != a.from {
			continue // late, or not ours
		}
		p.forgetSyn(mem)
		var err error
		if a.refused {
			err = errSynRefused
		}
		p.finish(mem, err, now)
	}
}

// errSynRefused is a reset in answer to a SYN: what connect reports.
var errSynRefused = errors.New(describeConnectError(syscall.ECONNREFUSED))

func (p *prober) forgetSyn(mem *member) {
	if p.syns[mem.slot.isn] == mem {
		delete(p.syns, mem.slot.isn)
	}
	mem.slot.syn = false
}

// closeSynner closes the raw socket (which takes it out of the epoll set).
func (p *prober) closeSynner() {
	p.synner.close()
	p.synner, p.synW = nil, rawWait{}
}
