package evloop

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
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
	parker    *os.File // epfd in Go's poller
	park      syscall.RawConn
	done      chan struct{}
	parked    int       // events found by pollReady
	waited    bool      // pollReady found none: the loop parked
	parkUntil time.Time // the parker's read deadline
	ranSince  time.Time // since the loop last parked or yielded
	pollFn    func(uintptr) bool

	mu     sync.Mutex
	posted []func()

	// Only the loop's goroutine touches what follows.
	events   [128]syscall.EpollEvent
	byFD     []*Socket
	socks    []*Socket // registered; Socket.slot is the index
	snap     []*Socket // Each's snapshot, reused
	now      time.Time
	nextTick time.Time
	nextTrim time.Time
	stopping bool
	bufs     Bufs
	polls    int // epoll_waits made, for the tests
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
	l := &Loop{opts: opts, epfd: epfd, wakefd: int(r), done: make(chan struct{}), bufs: Bufs{size: opts.BufSize}}
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
	l.parker = os.NewFile(uintptr(epfd), "epoll")
	l.pollFn = l.pollReady
	if l.park, err = l.parker.SyscallConn(); err != nil {
		l.closeFds()
		return nil, fmt.Errorf("event loop: %w", err)
	}
	return l, nil
}

func (l *Loop) closeFds() {
	if l.parker != nil {
		l.parker.Close()
	} else {
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
func (l *Loop) Run() {
	defer close(l.done)
	l.now = time.Now()
	l.nextTick = l.now.Add(l.opts.Tick)
	l.nextTrim = l.now.Add(bufTrimEvery)
	for !l.stopping {
		n := l.wait()
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
		if !l.now.Before(l.nextTick) {
			l.tick()
			l.nextTick = l.now.Add(l.opts.Tick)
		}
		if l.now.Sub(l.ranSince) >= l.opts.Yield {
			runtime.Gosched()
			l.ranSince = time.Time{}
		}
	}
	l.shutdown()
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

// wait returns the number of ready events, parking until there is one.
//
// It goes to Go's poller at once, without an epoll_wait of its own first:
// the poller's callback (pollReady) polls before it parks anyway, and must,
// since arming the poller forgets a readiness it saw before. A poll ahead
// of it found nothing whenever the loop was about to park, an epoll_wait
// wasted per wake-up: five per wake-up instead of four, ten system calls
// a request with one keep-alive connection (issue 22, conc_1). When events
// are waiting, the detour through the poller costs no system call.
func (l *Loop) wait() int {
	// Wake for the next tick only while there are sockets to tick for.
	var deadline time.Time
	if len(l.socks) > 0 {
		deadline = l.nextTick
	}
	if !deadline.Equal(l.parkUntil) {
		// A timer update per park costs; the tick moves only every Tick.
		l.parkUntil = deadline
		l.parker.SetReadDeadline(deadline)
	}
	l.parked, l.waited = 0, false
	l.park.Read(l.pollFn)
	if l.waited {
		l.ranSince = time.Time{} // parked: the others had their turn
	}
	return l.parked
}

// pollReady is the parking callback, a method value made once: a closure
// per park would allocate. It notes when the loop has to wait.
func (l *Loop) pollReady(uintptr) bool {
	l.parked = l.poll()
	if l.parked == 0 {
		l.waited = true
	}
	return l.parked > 0
}

// poll is epoll_wait without blocking; a raw system call, since it never
// blocks.
func (l *Loop) poll() int {
	l.polls++
	r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(l.epfd), uintptr(unsafe.Pointer(&l.events[0])), uintptr(len(l.events)), 0, 0, 0)
	if e != 0 {
		return 0
	}
	return int(r)
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
