package evloop

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Why a loop at all: Go's netpoller reads before it waits, so every wait
// for a message costs a read(2) that finds nothing, a park and a wake-up.
// A loop instead reads when epoll says there is something to read, and
// knows from EPOLLRDHUP whether a short read left a FIN behind, as nginx
// does. See docs/performance.md.

const epollET = 1 << 31

// expiredPark stands for a parker deadline that has passed: never one the
// loop sets, so the next park sets its deadline anew.
var expiredPark = time.Unix(1, 0)

// bufTrimEvery is how often a loop trims its spare buffers (Bufs.trim).
// Trimming at every tick (25 ms in lbd) let go of what the lull between
// two bursts left spare, and the next burst made it again: with 5000
// keep-alive clients, 75 MB/s of 16 KiB buffers allocated, cleared and
// collected (issue 22). Over a second a steady load's swings stay.
const bufTrimEvery = time.Second

// Options configure a Loop.
type Options struct {
	// BufSize is each message buffer's capacity: the most a socket reads
	// ahead.
	BufSize int
	// Tick is how often the loop checks its sockets' deadlines and runs
	// OnTick (and, at the first tick after each bufTrimEvery, trims its
	// spare buffers). A parked loop wakes for it only while it has
	// sockets.
	Tick time.Duration
	// Yield bounds how long a busy loop runs before it lets the goroutines
	// sharing its P run: the scheduler would otherwise preempt it only
	// after 10 ms.
	Yield time.Duration
	// OnTick, if set, is the owner's periodic work, on the loop's
	// goroutine.
	OnTick func()
	// OwnThread makes the loop wait for events in an epoll_pwait of its
	// own instead of parking in Go's poller: it keeps its P, and its
	// thread, while it waits (runOwn says what that saves and what it
	// asks of the caller). The caller must leave the other goroutines Ps
	// of their own: GOMAXPROCS above the number of such loops.
	OwnThread bool
	// Linger is how long an OwnThread loop goes on polling without
	// blocking after its last serve, while events keep coming (linger in
	// own.go); 0: it blocks as soon as a poll finds nothing.
	// DefaultLinger is lbd's.
	Linger time.Duration
	// Nap is how long a busy OwnThread loop sleeps on a timer, deaf to its
	// sockets, when lingering found nothing, before it waits for them
	// (nap in own.go); 0: it waits at once. Whether the loop is busy is
	// what lingering learns: with Linger 0 it never naps. DefaultNap is
	// lbd's.
	Nap time.Duration
}

// Handler is what a registered socket's owner does with it. Its methods run
// on the loop's goroutine.
type Handler interface {
	// Ready reports that epoll found the socket readable or closed (the
	// socket's Readable and Hup say which), and writable if writable is
	// set.
	Ready(writable bool)
	// Expire reports that the socket's deadline has passed. It is called
	// at each tick until the handler moves the deadline or lets the socket
	// go; meanwhile the socket's Expired says so.
	Expire()
	// Abort reports that the loop is stopping: the handler settles what it
	// holds and closes the socket.
	Abort()
}

// Loop is one reactor. New makes it, Run runs it on the caller's
// goroutine, Stop ends it from another.
type Loop struct {
	opts      Options
	epfd      int
	wakefd    int      // an eventfd: posts from other goroutines
	parker    *os.File // epfd in Go's poller; for an OwnThread loop, bell
	bell      int      // OwnThread: the parker's set, holding epfd only while the loop parks idle
	pending   int      // events idleReady found
	idleFn    func(uintptr) bool
	park      syscall.RawConn
	done      chan struct{}
	parkUntil time.Time // the parker's read deadline
	ranSince  time.Time // since the loop last parked or yielded
	serveFn   func(uintptr) bool
	hitRate   int // of polls right after serving that found events, of hitScale
	skipped   int // serves parked after without polling again, since the last probe

	mu     sync.Mutex
	posted []func()

	// Only the loop's goroutine touches what follows.
	events    [128]syscall.EpollEvent
	byFD      []*Socket
	socks     []*Socket // registered; Socket.slot is the index
	snap      []*Socket // Each's snapshot, reused
	now       time.Time
	nextTick  time.Time
	nextTrim  time.Time
	stopping  bool
	bufs      Bufs
	polls     int          // epoll_waits made, for the tests
	waits     int          // of them, those that could block (OwnThread)
	naps      int          // naps taken (OwnThread), for the tests
	idleParks atomic.Int32 // parks in Go's poller of an OwnThread loop (parkIdle), for the tests
}

// New returns a loop ready to Run.
func New(opts Options) (*Loop, error) {
	if opts.BufSize <= 0 || opts.Tick <= 0 || opts.Yield <= 0 {
		return nil, errors.New("event loop: BufSize, Tick and Yield must be positive")
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("event loop: epoll_create1: %w", err)
	}
	r, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if e != 0 {
		syscall.Close(epfd)
		return nil, fmt.Errorf("event loop: eventfd: %w", e)
	}
	l := &Loop{hitRate: hitScale, opts: opts, epfd: epfd, wakefd: int(r), done: make(chan struct{}), bufs: Bufs{size: opts.BufSize}}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.wakefd)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, l.wakefd, &ev); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("event loop: register eventfd: %w", err)
	}
	// The epoll descriptor is itself pollable: in Go's poller it parks the
	// loop's goroutine like any socket read would.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("event loop: %w", err)
	}
	// What Go's poller parks the loop on: its set, or for an OwnThread
	// loop a set of its own, the bell, which holds the loop's only while
	// it parks idle (parkIdle): were the loop's set in Go's poller, every
	// event in it would also wake the runtime's epoll_pwait on another
	// thread.
	parkOn := epfd
	if opts.OwnThread {
		l.opts.Yield = max(l.opts.Yield, ownWaitMax)
		bell, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err == nil {
			if err = syscall.SetNonblock(bell, true); err != nil {
				syscall.Close(bell)
			}
		}
		if err != nil {
			l.closeFds()
			return nil, fmt.Errorf("event loop: epoll_create1: %w", err)
		}
		parkOn, l.bell, l.idleFn = bell, bell, l.idleReady
	}
	l.parker = os.NewFile(uintptr(parkOn), "epoll")
	l.serveFn = l.serveReady
	if l.park, err = l.parker.SyscallConn(); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("event loop: %w", err)
	}
	return l, nil
}

func (l *Loop) closeFds() {
	if l.parker != nil {
		l.parker.Close() // epfd, or an OwnThread loop's bell
	}
	if l.parker == nil || l.opts.OwnThread {
		syscall.Close(l.epfd)
	}
	syscall.Close(l.wakefd)
}

// Post runs f on the loop's goroutine, after what was posted before it.
func (l *Loop) Post(f func()) {
	l.mu.Lock()
	l.posted = append(l.posted, f)
	first := len(l.posted) == 1
	l.mu.Unlock()
	if first {
		one := uint64(1)
		syscall.Write(l.wakefd, (*[8]byte)(unsafe.Pointer(&one))[:])
	}
}

func (l *Loop) runPosted() {
	var b [8]byte
	syscall.Read(l.wakefd, b[:])
	l.mu.Lock()
	posted := l.posted
	l.posted = nil
	l.mu.Unlock()
	for _, f := range posted {
		f()
	}
}

// Now is the time the loop's current iteration began: what handlers
// measure deadlines and durations with, without a clock read each.
func (l *Loop) Now() time.Time { return l.now }

// Sockets counts the sockets registered in the loop.
func (l *Loop) Sockets() int { return len(l.socks) }

// Each calls f for every socket registered when it is called and still
// registered when its turn comes; f may close or release sockets.
func (l *Loop) Each(f func(*Socket)) {
	l.snap = append(l.snap[:0], l.socks...)
	for _, s := range l.snap {
		if s.registeredIn(l) {
			f(s)
		}
	}
	clear(l.snap)
}

// Run runs the loop until Stop. Call it once, on a goroutine of its own.
//
// The loop runs inside Go's poller's read callback on the epoll descriptor
// (serveReady), not around it: it comes out only to stop, or when the
// parker's deadline passes to tick. Each time round a read callback is
// entered, the poller forgets the readiness it saw before, so the
// callback has to poll before it parks; staying inside it, the loop
// parks right after serving what it found, and the readiness that came
// in meanwhile wakes it at once (serveReady says when it does, and what
// that saves).
func (l *Loop) Run() {
	defer close(l.done)
	l.now = time.Now()
	l.nextTick = l.now.Add(l.opts.Tick)
	l.nextTrim = l.now.Add(bufTrimEvery)
	if l.opts.OwnThread {
		l.runOwn()
		l.shutdown()
		return
	}
	for !l.stopping {
		l.setParkDeadline()
		if err := l.park.Read(l.serveFn); err == nil {
			continue // stopping
		}
		// The parker's deadline: the tick is due. (No other error can
		// come: only shutdown closes the descriptor.)
		l.now = time.Now()
		l.ranSince = time.Time{} // it waited: the others had their turn
		l.tickIfDue()
		// An expired deadline fails every read until it is set again:
		// set it whatever it was.
		l.parkUntil = expiredPark
	}
	l.shutdown()
}

// serve handles n events found by poll, then the tick if it is due, and
// yields the P if the loop has run for Yield without parking.
func (l *Loop) serve(n int) {
	l.now = time.Now()
	if l.ranSince.IsZero() {
		l.ranSince = l.now
	}
	for i := range n {
		ev := &l.events[i]
		fd := int(ev.Fd)
		if fd == l.wakefd {
			l.runPosted()
			continue
		}
		if fd < len(l.byFD) {
			if s := l.byFD[fd]; s != nil {
				s.h.Ready(s.note(ev.Events))
			}
		}
	}
	l.tickIfDue()
	l.yieldIfDue()
}

// yieldIfDue lets the goroutines sharing the loop's P run once the loop
// has run for Yield without parking or yielding.
func (l *Loop) yieldIfDue() {
	if l.now.Sub(l.ranSince) >= l.opts.Yield {
		runtime.Gosched()
		l.ranSince = time.Time{}
	}
}

func (l *Loop) tickIfDue() {
	if !l.now.Before(l.nextTick) {
		l.tick()
		l.nextTick = l.now.Add(l.opts.Tick)
	}
}

// Stop ends the loop and waits until it has: every socket still registered
// goes to its handler's Abort first. Call it once, from another goroutine.
func (l *Loop) Stop() {
	l.Post(func() { l.stopping = true })
	<-l.done
}

// tick expires the sockets whose deadline passed, trims the spare buffers
// when it is time and runs the owner's periodic work.
func (l *Loop) tick() {
	for i := 0; i < len(l.socks); {
		s := l.socks[i]
		if s.Expired() {
			s.h.Expire()
		}
		if i < len(l.socks) && l.socks[i] == s {
			i++
		} // else s left the loop and another took its slot
	}
	if !l.now.Before(l.nextTrim) {
		l.bufs.trim()
		l.nextTrim = l.now.Add(bufTrimEvery)
	}
	if l.opts.OnTick != nil {
		l.opts.OnTick()
	}
}

func (l *Loop) shutdown() {
	for len(l.socks) > 0 {
		s := l.socks[len(l.socks)-1]
		s.h.Abort()
		if s.registeredIn(l) {
			s.Close() // the handler left it: the loop owns it, and ends it
		}
	}
	l.closeFds()
}

// serveReady is the parker's read callback, a method value made once: a
// closure per park would allocate. It polls and serves until a poll finds
// nothing, or until the loop chooses to park right after serving (below);
// it returns true only when the loop is stopping, and false to park in
// Go's poller.
//
// Parking right after serving, without a poll of its own, is safe: epoll
// reports the loop's descriptor to Go's poller edge-triggered, once for
// each event the loop's set receives, and the poller keeps that readiness
// for the next park as long as the callback is not left (only a new
// RawConn.Read resets it). So an event that came in while the loop served
// wakes it at once, and one the loop's own poll took already costs at
// most one poll that finds nothing.
//
// Whether it pays depends on what comes in while the loop serves, which
// parkAfterServe learns. With one keep-alive connection (issue 22,
// conc_1) every request wakes the loop twice, for the member's answer and
// the client's next request, and what comes next is always the answer to
// what the loop just sent: a poll right away finds nothing, and parking
// at once saves it (four epoll_pwait per wake-up to three: the
// scheduler's non-blocking netpoll, its blocking epoll_pwait, the loop's
// poll; 12.3 to 10.3 system calls a request; docs/performance.md). A busy
// loop finds something most times it polls again, and parking would cost
// it the scheduler's netpoll as well.
func (l *Loop) serveReady(uintptr) bool {
	served := false
	for !l.stopping {
		n := l.poll()
		if served {
			l.learn(n > 0)
		}
		if n == 0 {
			l.ranSince = time.Time{} // about to park: the others get their turn
			l.setParkDeadline()
			return false
		}
		l.serve(n)
		served = true
		if n < len(l.events) && !l.stopping && l.parkAfterServe() {
			l.setParkDeadline()
			return false
		}
	}
	return true
}

// Polling again after serving costs one epoll_wait, and saves, when it
// finds events, the two of a park through Go's poller (its netpoll and the
// loop's poll once woken); when it finds none the park costs three more.
// Parking at once costs two when events came in meanwhile, three when not.
// So polling again pays when it finds events more than half the time.
const (
	hitScale   = 256 // hitRate's 1.0
	hitShift   = 3   // hitRate moves by 1/8 of each outcome
	probeEvery = 16  // while parking at once, poll again 1 time in this many, to keep learning
)

// learn records whether a poll right after serving found events.
func (l *Loop) learn(found bool) {
	outcome := 0
	if found {
		outcome = hitScale
	}
	l.hitRate += (outcome - l.hitRate) >> hitShift
}

// parkAfterServe reports whether to park right after serving, without
// polling again: when polls right after serving have found events less
// than half the time, but for one serve in probeEvery, which polls again
// to learn whether that changed.
func (l *Loop) parkAfterServe() bool {
	if l.hitRate >= hitScale/2 {
		return false
	}
	l.skipped++
	if l.skipped < probeEvery {
		return true
	}
	l.skipped = 0
	return false
}

// setParkDeadline wakes the parked loop for the next tick, only while
// there are sockets to tick for.
func (l *Loop) setParkDeadline() {
	var deadline time.Time
	if len(l.socks) > 0 {
		deadline = l.nextTick
	}
	if !deadline.Equal(l.parkUntil) {
		// A timer update per park costs; the tick moves only every Tick.
		l.parkUntil = deadline
		l.parker.SetReadDeadline(deadline)
	}
}

// poll is epoll_wait without blocking.
func (l *Loop) poll() int {
	n, _ := l.wait(0)
	return n
}

// Register makes the loop the owner of the socket fd, served by h through
// s, which the caller embeds in h's state; s starts empty. Sockets are
// registered edge-triggered: readiness is tracked in s, as nginx tracks it.
// On error the caller still owns fd.
func (l *Loop) Register(s *Socket, fd int, h Handler) error {
	return l.register(s, fd, h, true)
}

// RegisterReadable registers a socket whose data is waiting already (one
// accepted with TCP_DEFER_ACCEPT): s starts readable, and it enters the
// epoll set only once it has to wait, when a read finds nothing or a write
// does not go through. A connection that ends with its first exchange,
// read at once, answered at once, never enters it: one epoll_ctl less.
func (l *Loop) RegisterReadable(s *Socket, fd int, h Handler) error {
	if err := l.register(s, fd, h, false); err != nil {
		return err
	}
	s.readable = true
	return nil
}

func (l *Loop) register(s *Socket, fd int, h Handler, arm bool) error {
	for len(l.byFD) <= fd {
		l.byFD = append(l.byFD, nil)
	}
	if l.byFD[fd] != nil {
		return fmt.Errorf("event loop: descriptor %d is registered already", fd)
	}
	*s = Socket{loop: l, h: h, fd: fd, slot: len(l.socks)}
	if arm {
		if err := s.arm(); err != nil {
			return err
		}
	}
	l.socks = append(l.socks, s)
	l.byFD[fd] = s
	return nil
}

// forget takes s out of the loop's tables; its descriptor is the caller's
// to close or hand on.
func (l *Loop) forget(s *Socket) {
	l.byFD[s.fd] = nil
	last := l.socks[len(l.socks)-1]
	l.socks[s.slot] = last
	last.slot = s.slot
	l.socks[len(l.socks)-1] = nil
	l.socks = l.socks[:len(l.socks)-1]
	s.fd, s.slot = -1, -1
}
