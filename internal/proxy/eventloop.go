package proxy

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"lbd/internal/balancer"
	"lbd/internal/stats"
)

// The event loop serves keep-alive HTTP connections in their steady state
// without a goroutine each. Go's netpoller reads before it waits, so every
// wait for a request or a response costs a read(2) that finds nothing, a
// park and a wake-up. The loop instead reads when epoll says there is
// something to read, and knows from EPOLLRDHUP whether a short read left a
// FIN behind, as nginx does: four system calls per request instead of six,
// and no scheduling. See docs/performance.md.
//
// One loop runs per P, each a goroutine that owns an epoll instance and
// every socket registered in it. It parks in Go's poller, on the epoll
// descriptor itself, when nothing is ready.

const (
	// laneBufSize is what the loop reads of a message at most: a request
	// head, or a response head and body, larger than this goes back to the
	// goroutine path (which splices long bodies). It must not exceed the
	// goroutine path's buffers, which take over what the loop read.
	laneBufSize = 16 << 10
	// laneSweep is how often a loop looks for expired timeouts and idle
	// member connections past idleUpstreamTTL.
	laneSweep = 25 * time.Millisecond
	// laneYield bounds how long a busy loop runs before it lets the
	// goroutines sharing its P run (new connections' first exchanges,
	// bodies, health checks): the scheduler would otherwise preempt it only
	// after 10 ms.
	laneYield = time.Millisecond
	epollET   = 1 << 31
)

// lanes are a runtime's event loops.
type lanes struct {
	loops    []*eventLoop
	next     atomic.Uint32
	stopOnce sync.Once
	stats    laneStats
}

// laneStats counts what the loops did, for EventLoopStats.
type laneStats struct {
	adopted, served atomic.Uint64
	handoffs        [handoffReasons]atomic.Uint64
}

// handoffReason is why a loop handed a connection back to a goroutine.
type handoffReason int

const (
	handoffRequest  handoffReason = iota // a request the loop does not serve (a body, an upgrade, an error...)
	handoffConnect                       // no idle connection to the picked member in the loop
	handoffResponse                      // a response the loop does not relay (chunked, long, an error...)
	handoffTimeout                       // a timeout, which the goroutine path answers (408, 504)
	handoffReasons
)

// HandoffReasons name EventLoopStats.Handoffs' reasons.
var HandoffReasons = [handoffReasons]string{"request", "member_connection", "response", "timeout"}

// EventLoopStats counts what the event loops did since start.
type EventLoopStats struct {
	Loops    int                    // event loops running; 0 when goroutines serve everything
	Adopted  uint64                 // connections a goroutine handed to a loop
	Requests uint64                 // requests a loop served from head to response
	Handoffs [handoffReasons]uint64 // connections handed back, by HandoffReasons
}

// EventLoopStats reports what the event loops did.
func (rt *Runtime) EventLoopStats() EventLoopStats {
	ls := rt.lanes
	if ls == nil {
		return EventLoopStats{}
	}
	s := EventLoopStats{Loops: len(ls.loops), Adopted: ls.stats.adopted.Load(), Requests: ls.stats.served.Load()}
	for i := range s.Handoffs {
		s.Handoffs[i] = ls.stats.handoffs[i].Load()
	}
	return s
}

// startLanes starts one event loop per P.
func startLanes(log *slog.Logger) (*lanes, error) {
	ls := &lanes{}
	for range runtime.GOMAXPROCS(0) {
		el, err := newEventLoop(log, &ls.stats)
		if err != nil {
			ls.stop()
			return nil, err
		}
		ls.loops = append(ls.loops, el)
		go el.run()
	}
	return ls, nil
}

// adopt gives a client connection to a loop: home, the one it came from
// if any (its member connections wait there), or the next one.
func (ls *lanes) adopt(home *eventLoop, mv *laneMove) {
	el := home
	if el == nil {
		el = ls.loops[int(ls.next.Add(1))%len(ls.loops)]
	}
	el.post(func() { el.adopt(mv) })
}

// closeListener closes a draining listener's connections in every loop:
// the idle ones, or all of them.
func (ls *lanes) closeListener(l *listener, all bool) {
	if ls == nil {
		return
	}
	for _, el := range ls.loops {
		el.post(func() { el.closeListener(l, all) })
	}
}

// idleConns counts the loops' idle connections to a member.
func (ls *lanes) idleConns(st *balancer.State) int {
	if ls == nil {
		return 0
	}
	n := 0
	for _, el := range ls.loops {
		if counts := el.idleCounts.Load(); counts != nil {
			n += (*counts)[st]
		}
	}
	return n
}

// stop ends the loops once the listeners have drained.
func (ls *lanes) stop() {
	if ls == nil {
		return
	}
	ls.stopOnce.Do(func() {
		for _, el := range ls.loops {
			el.post(func() { el.stopping = true })
			<-el.done
		}
	})
}

// eventLoop is one loop. Only its goroutine touches what is below mu's
// fields.
type eventLoop struct {
	log       *slog.Logger
	stats     *laneStats
	epfd      int
	wakefd    int      // an eventfd: posts from other goroutines
	parker    *os.File // epfd in Go's poller
	park      syscall.RawConn
	done      chan struct{}
	parked    int       // events found by pollReady
	parkUntil time.Time // the parker's read deadline
	ranSince  time.Time // since the loop last parked or yielded
	pollFn    func(uintptr) bool

	mu     sync.Mutex
	posted []func()

	idleCounts atomic.Pointer[map[*balancer.State]int] // published for metrics

	events    [128]syscall.EpollEvent
	conns     []*laneConn // by descriptor
	clients   []*laneConn
	idle      map[*balancer.State][]*laneConn
	idleDirty bool
	now       time.Time
	nextSweep time.Time
	stopping  bool
	sink      byteSink
	scratch   [32]byte
	bufs      laneBufs
}

func newEventLoop(log *slog.Logger, stats *laneStats) (*eventLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("event loop: epoll_create1: %w", err)
	}
	r, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if e != 0 {
		syscall.Close(epfd)
		return nil, fmt.Errorf("event loop: eventfd: %w", e)
	}
	el := &eventLoop{log: log, stats: stats, epfd: epfd, wakefd: int(r), done: make(chan struct{}), idle: map[*balancer.State][]*laneConn{}}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(el.wakefd)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, el.wakefd, &ev); err != nil {
		el.closeFds()
		return nil, fmt.Errorf("event loop: register eventfd: %w", err)
	}
	// The epoll descriptor is itself pollable: in Go's poller it parks the
	// loop's goroutine like any socket read would.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		el.closeFds()
		return nil, fmt.Errorf("event loop: %w", err)
	}
	el.parker = os.NewFile(uintptr(epfd), "epoll")
	el.pollFn = el.pollReady
	if el.park, err = el.parker.SyscallConn(); err != nil {
		el.closeFds()
		return nil, fmt.Errorf("event loop: %w", err)
	}
	return el, nil
}

func (el *eventLoop) closeFds() {
	if el.parker != nil {
		el.parker.Close()
	} else {
		syscall.Close(el.epfd)
	}
	syscall.Close(el.wakefd)
}

// post runs f on the loop's goroutine.
func (el *eventLoop) post(f func()) {
	el.mu.Lock()
	el.posted = append(el.posted, f)
	first := len(el.posted) == 1
	el.mu.Unlock()
	if first {
		one := uint64(1)
		syscall.Write(el.wakefd, (*[8]byte)(unsafe.Pointer(&one))[:])
	}
}

func (el *eventLoop) runPosted() {
	var b [8]byte
	syscall.Read(el.wakefd, b[:])
	el.mu.Lock()
	posted := el.posted
	el.posted = nil
	el.mu.Unlock()
	for _, f := range posted {
		f()
	}
}

func (el *eventLoop) run() {
	defer close(el.done)
	el.now = time.Now()
	el.nextSweep = el.now.Add(laneSweep)
	for !el.stopping {
		n := el.wait()
		el.now = time.Now()
		if el.ranSince.IsZero() {
			el.ranSince = el.now
		}
		for i := range n {
			ev := &el.events[i]
			fd := int(ev.Fd)
			if fd == el.wakefd {
				el.runPosted()
				continue
			}
			if fd < len(el.conns) {
				if c := el.conns[fd]; c != nil {
					el.ready(c, ev.Events)
				}
			}
		}
		if !el.now.Before(el.nextSweep) {
			el.sweep()
			el.nextSweep = el.now.Add(laneSweep)
		}
		if el.now.Sub(el.ranSince) >= laneYield {
			runtime.Gosched()
			el.ranSince = time.Time{}
		}
	}
	el.shutdown()
}

// wait returns the number of ready events, parking until there is one.
func (el *eventLoop) wait() int {
	if n := el.poll(); n > 0 {
		return n
	}
	// Wake for the next sweep only while there is something to sweep.
	var deadline time.Time
	if len(el.clients) > 0 || len(el.idle) > 0 {
		deadline = el.nextSweep
	}
	if !deadline.Equal(el.parkUntil) {
		// A timer update per park costs; the sweep time moves only every
		// laneSweep.
		el.parkUntil = deadline
		el.parker.SetReadDeadline(deadline)
	}
	el.parked = 0
	el.park.Read(el.pollFn)
	el.ranSince = time.Time{} // parked: the others had their turn
	return el.parked
}

// pollReady is the parking callback, a method value made once: a closure
// per park would allocate.
func (el *eventLoop) pollReady(uintptr) bool {
	el.parked = el.poll()
	return el.parked > 0
}

// poll is epoll_wait without blocking; a raw system call, since it never
// blocks.
func (el *eventLoop) poll() int {
	r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(el.epfd), uintptr(unsafe.Pointer(&el.events[0])), uintptr(len(el.events)), 0, 0, 0)
	if e != 0 {
		return 0
	}
	return int(r)
}

// register adds a socket to the loop, edge-triggered: readiness is tracked
// in the laneConn, as nginx tracks it.
func (el *eventLoop) register(c *laneConn) error {
	for len(el.conns) <= c.fd {
		el.conns = append(el.conns, nil)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | epollET, Fd: int32(c.fd)}
	if err := syscall.EpollCtl(el.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		return fmt.Errorf("event loop: register socket: %w", err)
	}
	el.conns[c.fd] = c
	return nil
}

// unregister takes a socket out of the loop without closing it.
func (el *eventLoop) unregister(c *laneConn) {
	var ev syscall.EpollEvent
	syscall.EpollCtl(el.epfd, syscall.EPOLL_CTL_DEL, c.fd, &ev)
	el.conns[c.fd] = nil
}

func (el *eventLoop) shutdown() {
	for len(el.clients) > 0 {
		el.closeClient(el.clients[0])
	}
	for st, list := range el.idle {
		for _, u := range list {
			el.closeSocket(u)
		}
		delete(el.idle, st)
	}
	el.idleCounts.Store(nil)
	el.closeFds()
}

// laneConn is a socket the loop owns: a client's or a member's.
type laneConn struct {
	fd       int
	in       []byte // read and not yet used; capacity laneBufSize, nil when empty
	out      []byte // still to write: a window on wbuf
	wbuf     []byte // from the loop's laneBufs while there is output; nil after
	readable bool   // epoll said so and no read has emptied it since
	rdhup    bool   // the peer's FIN is in: read until EOF

	member bool
	// A member connection: which member, idle since when, serving whom.
	state  *balancer.State
	since  time.Time
	client *laneConn
	resp   msgHead
	// Where the response's head ends and the whole of it, once the head
	// is in; 0 before.
	respEnd, respTotal int

	// A client connection.
	l        *listener
	traffic  *stats.Traffic // the listener's counters it was accepted under
	remote   netip.AddrPort
	ipText   []byte
	backoff  int // laneBackoff, carried along
	slot     int // in eventLoop.clients
	phase    lanePhase
	deadline time.Time // of the current phase; zero: none
	req      msgHead
	scan     headScan
	reqEnd   int // how much of in the current request took
	// The exchange in progress.
	cfg         *listenerConfig
	m           *balancer.Member
	up          *laneConn
	keep        bool
	start, sent time.Time
}

// read reads once into c.in, taking a buffer for it if c has none. A
// short read empties the socket unless a FIN is pending, so c.readable is
// cleared then and the next edge sets it.
func (el *eventLoop) read(c *laneConn) readResult {
	if c.in == nil {
		c.in = el.bufs.get()
	}
	space := c.in[len(c.in):cap(c.in)]
	if len(space) == 0 {
		return readFull
	}
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(c.fd), uintptr(unsafe.Pointer(&space[0])), uintptr(len(space)))
		n := int(r)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			c.readable = false
			el.releaseIn(c)
			return readNone
		case e != 0 || n == 0:
			c.readable = false
			return readEOF
		}
		c.in = c.in[:len(c.in)+n]
		if n < len(space) && !c.rdhup {
			c.readable = false
		}
		return readData
	}
}

type readResult int

const (
	readData readResult = iota
	readNone            // nothing there yet
	readEOF             // closed, or failed
	readFull            // no room left in c.in
)

// flush writes c.out until it is written or the socket is full; it returns
// the error of a failed write.
func (el *eventLoop) flush(c *laneConn) error {
	for len(c.out) > 0 {
		// send with MSG_NOSIGNAL: a peer gone is an error, not a SIGPIPE.
		r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(c.fd), uintptr(unsafe.Pointer(&c.out[0])), uintptr(len(c.out)), syscall.MSG_NOSIGNAL, 0, 0)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return nil
		case e != 0:
			return e
		}
		c.out = c.out[r:]
	}
	el.bufs.put(c.wbuf)
	c.wbuf, c.out = nil, nil
	return nil
}

// releaseIn gives c's read buffer back to the loop once it holds nothing.
func (el *eventLoop) releaseIn(c *laneConn) {
	if c.in != nil && len(c.in) == 0 {
		el.bufs.put(c.in)
		c.in = nil
	}
}

// writeBuf returns the loop's sink, writing into a fresh buffer; the
// caller takes the buffer back with takeWritten.
func (el *eventLoop) writeBuf() *byteSink {
	el.sink.b = el.bufs.get()
	return &el.sink
}

// takeWritten makes what the sink holds c's output.
func (el *eventLoop) takeWritten(c *laneConn) {
	c.wbuf, c.out = el.sink.b, el.sink.b
	el.sink.b = nil
}

// closeSocket closes a socket the loop owns, and takes its buffers back.
func (el *eventLoop) closeSocket(c *laneConn) {
	if c.fd < 0 {
		return
	}
	el.conns[c.fd] = nil
	syscall.Close(c.fd)
	c.fd = -1
	el.bufs.put(c.in)
	el.bufs.put(c.wbuf)
	c.in, c.wbuf, c.out = nil, nil, nil
}

// byteSink is a headWriter appending to a byte slice.
type byteSink struct{ b []byte }

func (s *byteSink) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }
func (s *byteSink) WriteString(p string) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}
func (s *byteSink) WriteByte(c byte) error { s.b = append(s.b, c); return nil }
