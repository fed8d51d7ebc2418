package health

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"
)

// batchTick is the coarsest step of the prober's grid: a probe starts at
// the first point of the grid (a multiple of the step in Unix time) at or
// after its slot, so that the probes whose slots fall in one step start
// together in one wake-up of the prober instead of one wake-up each. On a
// virtual machine a wake-up of the Go runtime from idle costs about as
// much as an HTTP check (docs/performance.md, "Pools of 10,000 members").
// The step is the coarsest of gridSteps that puts at most maxBatch probes
// in a batch (gridStep): 20 ms at 1,000 members and delay 1s, 2 ms at
// 10,000 (where 200 checks in one go came in bursts the members answered
// late); PING probes, sent and read in batches, maxPingBatch: 20 ms up to
// 10,000 members. The steps divide batchTick, so the grids of all probers share
// its points and the probers of many small pools wake together.
// A probe so starts up to batchTick (plus the wake-up's latency) after its
// slot; its slots keep their phase (the next one is counted from the slot,
// not from the late start), and its timeouts count from its actual start.
// The deadlines of probes under way are not on the grid: the prober wakes
// for each at its time.
const batchTick = 20 * time.Millisecond

// gridSteps are the grid's steps, coarsest first; each divides batchTick.
var gridSteps = [...]time.Duration{batchTick, 10 * time.Millisecond, 5 * time.Millisecond,
	4 * time.Millisecond, 2 * time.Millisecond, time.Millisecond}

// maxBatch is the most probes a step of the grid should hold.
const maxBatch = 20

// maxPingBatch is the most PING probes a step should hold: their echo
// requests go out in one sendmmsg and their replies come in by recvmmsg
// (pinger), so a batch costs about one system call each way whatever its
// size, and what a finer step adds is wake-ups (at 10,000 members a 2 ms
// step was 500 a second, two fifths of the CPU in the runtime's scheduler
// and sysmon). 200 replies waiting for the grid's next point take about
// 170 KB of the socket's receive buffer; an unprivileged socket's, bounded
// by the default rmem_max (212,992, doubled), held 512 on loopback.
const maxPingBatch = 200

// gridStep is the step for n members probed every interval, at most batch
// probes a step where the finest step allows.
func gridStep(n int, interval time.Duration, batch int) time.Duration {
	for _, step := range gridSteps {
		if int64(n)*int64(step) <= int64(batch)*int64(interval) {
			return step
		}
	}
	return gridSteps[len(gridSteps)-1]
}

// onGrid is the first point at or after t of the grid of step.
func onGrid(t time.Time, step time.Duration) time.Time {
	r := time.Duration(t.UnixNano() % int64(step))
	if r < 0 {
		r += step
	}
	if r != 0 {
		return t.Add(step - r)
	}
	return t
}

// prober runs every probe of one Monitor from one goroutine, Run's: the
// members wait in a heap ordered by their next slot, and one timer wakes
// the prober for the earliest. A TCP check made by the built-in TCPChecker
// is done inline on a non-blocking socket (connect_linux.go): on loopback
// or a near member the handshake is over when connect returns and the whole
// check is three system calls with no goroutine, timer or context of its
// own; a connect still under way waits in the prober's own epoll set
// (connPoller) with its deadline in the same heap. A plain HTTP check
// (HTTPChecker without TLS) is done inline the same way (httpprobe.go):
// connect, the request written at once, the response read at the
// prober's next point of the grid (batchTick) or, if not in by then,
// awaited in the epoll set. A PING check sends its echo request on a
// shared ICMP socket, all those of one wake-up in one sendmmsg
// (pingprobe.go), whose replies the prober reads the same way.
// Every other probe (HTTPS, TLS-HELLO, UDP-CONNECT, Options.Checker, a
// zoned address) runs its Checker in a goroutine of its own, bounded by a
// context as the Checker interface says, and hands the result back.
//
// The schedule is the one described in the package doc: a random first slot
// in [0, delay), then one every delay; a probe that overruns skips the
// slots it covered; one member's probes never overlap.
type prober struct {
	ctx  context.Context
	m    *Monitor
	heap slotHeap
	step time.Duration // of the grid (gridStep)

	async   sync.WaitGroup // probes running in goroutines of their own
	doneMu  sync.Mutex
	done    []asyncResult // finished asynchronous probes
	doneSig chan struct{} // done is not empty; capacity 1

	socks    tcpSockets       // idle sockets for the inline TCP checks
	conns    *connPoller      // opened at the first connect that does not complete at once
	ready    chan []connEvent // from conns; nil until then
	trimAt   time.Time        // the next trim
	pending  map[int]*member  // by socket: connects under way, inline HTTP checks
	noPoller bool             // no epoll set could be opened
	gen      uint32           // tells a registration from an earlier one of the same socket

	heads       httpReader // the inline HTTP checks' response heads
	reading     []*member  // inline HTTP checks whose request went out since the last tick
	asyncStarts int        // probes started in goroutines of their own (tests)
	tickReads   int        // inline HTTP checks judged at the tick's read, not through epoll (tests)

	pinger   *pinger            // opened at the first PING check
	noPinger bool               // it could not be: PING checks use their Checker
	pings    map[uint16]*member // by sequence number: echo requests awaiting their reply
	pingW    rawWait            // the ICMP socket's
	replies  []echoReply        // recv's, reused
	refused  []sendFailure      // flush's, reused

	synner    *synner            // opened at the first TCP check, when the system allows a raw socket
	noSynner  bool               // it could not be: TCP checks connect
	bySYN     bool               // TCP checks go by SYN: their rate is synMin or more (synPays)
	synMin    float64            // synMinRate; tests lower it
	syns      map[uint32]*member // by sequence number: SYNs awaiting their answer
	synW      rawWait            // the raw TCP socket's
	answers   []synAnswer        // recv's, reused
	synFailed []synFailure       // flush's, reused
}

// slot is one member's place in the prober's schedule. Only the prober's
// goroutine touches it.
type slot struct {
	idx         int       // in prober.heap; -1 when not there
	at          time.Time // when the heap gives the member back: its next slot on the grid (onGrid), or its pending connect's deadline
	next        time.Time // its next slot (at is on the grid at or after it) while it waits for it
	last, first time.Time // the last probe's slot; the first slot (see plan)
	ended       time.Time // when the last probe ended

	busy   bool // a probe runs
	start  time.Time
	epoch  uint64
	rc     *runConfig
	fd     int    // the pending connect's socket, or the inline HTTP check's; -1
	gen    uint32 // its registration
	http   httpState
	cancel context.CancelFunc

	ping   bool // an echo request awaits its reply
	seq    uint16
	pingTo netip.Addr
	wait   time.Duration

	syn    bool // a SYN awaits its answer
	isn    uint32
	synTo  netip.AddrPort
	synSrc synSource // the source address toward it, cached
}

type asyncResult struct {
	mem *member
	err error
	end time.Time
}

func newProber(ctx context.Context, m *Monitor) *prober {
	return &prober{ctx: ctx, m: m, step: batchTick, doneSig: make(chan struct{}, 1), pending: map[int]*member{}, pings: map[uint16]*member{}, syns: map[uint32]*member{}, synMin: synMinRate}
}

// run probes until p.ctx ends, then stops every probe and returns.
func (p *prober) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if rc := p.m.cfg.Load(); rc != nil {
			_, tcp := rc.checker.(*TCPChecker)
			_, ping := rc.checker.(*PingChecker)
			p.bySYN = tcp && p.synPays(p.heap.len(), rc.interval) // false too once the monitor is no longer TCP: the raw socket closes
			batch := maxBatch
			if ping || p.bySYN {
				batch = maxPingBatch // SYNs go out and their answers come in as echo requests and replies do
			}
			p.step = gridStep(p.heap.len(), rc.interval, batch) // the heap: every member waiting for its slot or its deadline
		}
		for _, mem := range p.m.takeDirty() {
			p.plan(mem, time.Now(), mem.slot.ended)
		}
		p.readResponses()
		p.readReplies()
		p.readAnswers()
		now := p.startDue(time.Now())
		p.trim(now)
		p.awaitReplies(now)
		switch wake := p.nextWake(now); {
		case wake.IsZero():
			timer.Stop()
		default:
			timer.Reset(wake.Sub(now))
		}
		select {
		case <-p.ctx.Done():
			p.stop()
			return
		case <-p.m.kick:
		case <-timer.C:
		case <-p.doneSig:
			p.doneMu.Lock()
			done := p.done
			p.done = nil
			p.doneMu.Unlock()
			for _, r := range done {
				p.finish(r.mem, r.err, r.end)
			}
		case evs := <-p.ready:
			for _, ev := range evs {
				if p.pinger != nil && ev.fd == p.pinger.fd {
					p.pingW.armed = false // read at the loop's top
					p.pingW.wakes++
					continue
				}
				if p.synner != nil && ev.fd == p.synner.fd {
					p.synW.armed = false
					p.synW.wakes++
					continue
				}
				p.connected(ev)
			}
		}
	}
}

// stop ends every probe in progress and waits for them.
func (p *prober) stop() {
	for fd, mem := range p.pending {
		closeSocket(fd)
		mem.slot.fd = -1
	}
	p.async.Wait() // their contexts are p.ctx's children, cancelled
	p.socks.close()
	if p.pinger != nil {
		p.pinger.close()
	}
	if p.synner != nil {
		p.synner.close()
	}
	if p.conns != nil {
		p.conns.close()
	}
}

// plan puts mem in the heap at its next slot, or out of it when it is not
// to be probed. A member whose probe runs is planned when the probe ends.
// The slots not after past are skipped: those its last probe covered
// (past is when it ended), or the one it declines (past is now). A slot
// that has come but waits for the grid's next point is not skipped when a
// change of the config plans the member again.
func (p *prober) plan(mem *member, now, past time.Time) {
	s := &mem.slot
	if s.busy {
		mem.mu.Lock()
		removed := mem.removed
		mem.mu.Unlock()
		switch {
		case !removed:
		case s.fd >= 0: // cut short
			delete(p.pending, s.fd)
			p.unread(mem)
			closeSocket(s.fd)
			s.fd, s.busy, s.rc, s.http.phase = -1, false, nil, phaseTCP
			p.heap.remove(mem)
		case s.ping || s.syn:
			p.forgetPing(mem)
			p.forgetSyn(mem)
			s.busy, s.rc = false, nil
			p.heap.remove(mem)
		case s.cancel != nil:
			s.cancel() // cut short; its result is dropped
		}
		return
	}
	rc := p.m.cfg.Load()
	mem.mu.Lock()
	monitored, removed := mem.monitored, mem.removed
	if mem.restagger {
		s.last, s.first, mem.restagger = time.Time{}, time.Time{}, false
	}
	mem.mu.Unlock()
	if removed || !monitored {
		s.last, s.first = time.Time{}, time.Time{}
		p.heap.remove(mem)
		return
	}
	// first is the staggered first slot, kept across config changes so that
	// frequent updates cannot postpone it forever; last and first both zero
	// mean: pick a new staggered start.
	var next time.Time
	switch {
	case !s.last.IsZero():
		if next = s.last.Add(rc.interval); !next.After(past) {
			next = s.last.Add((past.Sub(s.last)/rc.interval + 1) * rc.interval)
		}
	case !s.first.IsZero() && s.first.Sub(now) < rc.interval:
		next = s.first
	default:
		s.first = now.Add(rand.N(rc.interval))
		next = s.first
	}
	s.next, s.at = next, onGrid(next, p.step)
	p.heap.set(mem)
}

// nextWake is when the prober must wake next: for the first member of the
// heap, or at the next point of the grid to read the responses of the
// checks it started (readResponses); zero when for nothing.
func (p *prober) nextWake(now time.Time) time.Time {
	var wake time.Time
	if len(p.reading) > 0 || p.pingW.fresh > 0 || p.synW.fresh > 0 {
		wake = onGrid(now.Add(1), p.step)
	}
	if p.heap.len() > 0 && (wake.IsZero() || p.heap.first().slot.at.Before(wake)) {
		wake = p.heap.first().slot.at
	}
	return wake
}

// startDue starts the probes whose slot has come and times out the connects
// whose deadline has passed. It returns the time after the last of them.
func (p *prober) startDue(now time.Time) time.Time {
	for p.heap.len() > 0 && !p.heap.first().slot.at.After(now) {
		mem := p.heap.pop()
		if mem.slot.ping { // no echo reply in time
			p.forgetPing(mem)
			p.finish(mem, fmt.Errorf("no echo reply within %s", mem.slot.wait.Round(time.Millisecond)), now)
			continue
		}
		if mem.slot.syn { // no answer to the SYN in time
			p.forgetSyn(mem)
			p.finish(mem, errConnectTimeout, now)
			continue
		}
		if mem.slot.busy && mem.slot.http.phase != phaseTCP {
			p.httpTimeout(mem)
			now = time.Now()
			continue
		}
		if mem.slot.busy { // a connect under way, out of time
			fd := mem.slot.fd
			delete(p.pending, fd)
			mem.slot.fd = -1
			closeSocket(fd)
			now = time.Now()
			p.finish(mem, errConnectTimeout, now)
			continue
		}
		now = p.start(mem, now)
	}
	p.sendPings() // the echo requests queued above, in one go
	p.sendSyns()  // and the SYNs
	return now
}

var errConnectTimeout = errors.New("connect timeout")

// start runs one probe of mem, inline when it is a TCP check that needs no
// waiting, and returns the time after it.
func (p *prober) start(mem *member, now time.Time) time.Time {
	s := &mem.slot
	rc := p.m.cfg.Load()
	mem.mu.Lock()
	monitored, removed, epoch, addr := mem.monitored, mem.removed, mem.epoch, mem.t.ProbeAddr()
	mem.mu.Unlock()
	if removed || !monitored || !rc.active {
		p.plan(mem, now, now)
		return now
	}
	s.busy, s.start, s.epoch, s.rc, s.last = true, now, epoch, rc, s.next
	if tc, ok := rc.checker.(*TCPChecker); ok {
		if p.syn(mem, addr, tc, now) {
			return now
		}
		fd, err := p.socks.connect(addr)
		switch {
		case err == errConnectPending:
			if p.await(mem, fd, tc.Timeouts) {
				return now
			}
			// No epoll set: wait as a Checker does.
		case err != errConnectUnsupported:
			end := time.Now()
			p.finish(mem, err, end)
			return end
		}
	}
	if hc, ok := rc.checker.(*HTTPChecker); ok && !hc.TLS && p.startHTTP(mem, addr, hc) {
		return time.Now()
	}
	if pc, ok := rc.checker.(*PingChecker); ok && p.ping(mem, addr.Addr(), pc) {
		return now
	}
	p.asyncStarts++
	pctx, cancel := context.WithTimeout(p.ctx, rc.budget)
	s.cancel = cancel
	p.async.Go(func() {
		err := rc.checker.Check(pctx, addr)
		end := time.Now()
		cancel()
		p.doneMu.Lock()
		p.done = append(p.done, asyncResult{mem, err, end})
		p.doneMu.Unlock()
		select {
		case p.doneSig <- struct{}{}:
		default:
		}
	})
	return now
}

// await registers fd, whose connect is under way, in the prober's epoll
// set, and puts mem in the heap at the connect's deadline. It returns false
// when there is no epoll set to be had; fd is then closed.
func (p *prober) await(mem *member, fd int, t Timeouts) bool {
	s := &mem.slot
	if !p.poller() {
		closeSocket(fd)
		return false
	}
	p.gen++
	if err := p.conns.add(fd, p.gen); err != nil {
		closeSocket(fd)
		p.finish(mem, errors.New("connect: epoll: "+err.Error()), time.Now())
		return true
	}
	s.fd, s.gen = fd, p.gen
	p.pending[fd] = mem
	bound := s.rc.budget
	if t.Connect > 0 {
		bound = min(bound, t.Connect)
	}
	s.at = s.start.Add(bound)
	p.heap.set(mem)
	return true
}

// poller opens the prober's epoll set if it is not open yet, and reports
// whether there is one.
func (p *prober) poller() bool {
	if p.conns != nil {
		return true
	}
	if p.noPoller {
		return false
	}
	c, err := newConnPoller()
	if err != nil {
		p.noPoller = true
		p.m.log.Warn("health checks: no epoll set for pending connects and HTTP checks; falling back to a goroutine each", "err", err)
		return false
	}
	p.conns, p.ready = c, make(chan []connEvent, 1)
	go c.wait(p.ready)
	return true
}

// trimEvery is how often the prober lets go of what its checks did not
// use since the last look.
const trimEvery = time.Second

// trim lets go, once every trimEvery, of the idle sockets that no check
// took since the last trim (tcpSockets.trim): after a burst of overlapping
// checks, a member that hung, or a pool's members gone, the prober holds
// again what its steady checks need.
func (p *prober) trim(now time.Time) {
	if now.Before(p.trimAt) {
		return
	}
	p.trimAt = now.Add(trimEvery)
	p.socks.trim()
}

// connected finishes the probe whose pending connect ev reports.
func (p *prober) connected(ev connEvent) {
	mem := p.pending[ev.fd]
	if mem == nil || mem.slot.gen != ev.gen {
		return // the socket timed out, or was closed and reopened since
	}
	if mem.slot.http.phase != phaseTCP {
		p.httpEvent(mem)
		return
	}
	delete(p.pending, ev.fd)
	mem.slot.fd = -1
	err := connectResult(ev.fd)
	p.finish(mem, err, time.Now())
}

// finish records the result of mem's probe and plans its next one. A
// probe that waited in the heap at its deadline moves from there to its
// next slot in one step (plan's set): no removal and insertion a check.
func (p *prober) finish(mem *member, err error, end time.Time) {
	s := &mem.slot
	s.busy, s.cancel = false, nil
	if p.ctx.Err() != nil {
		p.heap.remove(mem)
		return // stopped mid-probe: the result means nothing
	}
	mem.record(s.rc, s.epoch, err, s.start, end.Sub(s.start))
	s.rc = nil
	s.ended = end
	p.plan(mem, end, end)
}
