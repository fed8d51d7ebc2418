package health

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// connectReset opens a TCP connection to target and closes it at once with
// a reset: the whole of a TCP check. It works on the socket itself instead
// of going through net.Dialer, whose connect costs about a dozen system
// calls (keep-alive and no-delay options, the poller's registration, the
// local and peer addresses) and a wake-up of the prober's goroutine by the
// poller; on a virtual machine where a system call costs microseconds,
// that was most of a check. See tcpSockets.connect for the calls; only a
// connect still in progress when connect returns waits, in the runtime's
// poller, for the deadline. The prober does the same without a goroutine,
// keeps its socket from check to check, and waits in its own epoll set
// instead (prober.await).
func (t Timeouts) connectReset(ctx context.Context, target netip.AddrPort) error {
	var socks tcpSockets
	defer socks.close()
	fd, err := socks.connect(target)
	switch err {
	case errConnectUnsupported:
		return t.dialReset(ctx, target) // the zone's interface index is the resolver's business
	case errConnectPending:
		return t.awaitConnect(ctx, fd)
	}
	return err
}

var (
	// errConnectPending: the handshake is under way; the socket is open.
	errConnectPending = errors.New("connect in progress")
	// errConnectUnsupported: a zoned address, left to net.Dialer.
	errConnectUnsupported = errors.New("connect: zoned address")
)

// tcpSockets are idle TCP sockets, one list per family, that TCP checks
// reuse: a check's connection is fresh (a new source port, a new
// handshake, nothing of the last one left), only the socket is not. A
// socket is idle when it is unconnected: never connected, refused (the
// kernel disconnects it when connect reports the error), or disconnected
// by connect(AF_UNSPEC), which sends a reset to the member. A socket in any
// other state is closed, not kept. The zero value is ready; close closes
// what is idle.
type tcpSockets struct {
	idle [2][]int // by family: IPv4, IPv6
	// low is, by family, the fewest idle sockets since the last trim:
	// that many stayed unused the whole time, and trim closes them.
	low [2]int
}

// maxIdleSockets bounds each family's idle list: the prober's inline TCP
// checks need one socket at a time, its HTTP checks one for each check
// awaiting its response (at 10,000 checks a second and responses within
// 10ms, a hundred). An idle socket is a descriptor and a few hundred bytes
// of kernel memory; one that does not fit is closed.
const maxIdleSockets = 256

func (s *tcpSockets) get(v6 bool) (fd int, reused bool, err error) {
	i, family := 0, syscall.AF_INET
	if v6 {
		i, family = 1, syscall.AF_INET6
	}
	if n := len(s.idle[i]); n > 0 {
		fd = s.idle[i][n-1]
		s.idle[i] = s.idle[i][:n-1]
		s.low[i] = min(s.low[i], n-1)
		return fd, true, nil
	}
	fd, err = syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return -1, false, errors.New("connect: " + os.NewSyscallError("socket", err).Error())
	}
	return fd, false, nil
}

func (s *tcpSockets) put(fd int, v6 bool) {
	i := 0
	if v6 {
		i = 1
	}
	if len(s.idle[i]) >= maxIdleSockets {
		syscall.Close(fd)
		return
	}
	s.idle[i] = append(s.idle[i], fd)
}

// trim closes the idle sockets that stayed idle since the last trim (the
// oldest: get takes the newest).
func (s *tcpSockets) trim() {
	for i := range s.idle {
		stale := s.idle[i][:s.low[i]]
		for _, fd := range stale {
			syscall.Close(fd)
		}
		s.idle[i] = append(s.idle[i][:0], s.idle[i][len(stale):]...)
		s.low[i] = len(s.idle[i])
	}
}

func (s *tcpSockets) close() {
	for i := range s.idle {
		for _, fd := range s.idle[i] {
			syscall.Close(fd)
		}
		s.idle[i] = nil
	}
}

// connect starts a TCP check of target on a non-blocking socket. A check
// whose handshake completes inside connect (loopback, a member on the same
// host) is done when it returns, in three system calls on an idle socket:
//   - connect, which says EINPROGRESS even when the handshake is over
//     (the handshake's segments are processed when connect releases the
//     socket),
//   - connect again, which says what became of it in one call: 0 when
//     connected, EALREADY while under way, the error (ECONNREFUSED) when
//     it failed, and then leaves the socket unconnected and reusable —
//     where getpeername and getsockopt(SO_ERROR) would take two calls,
//   - connect(AF_UNSPEC), which disconnects a connected socket with a
//     reset, as HAProxy closes its connect-only checks (no TIME_WAIT on
//     either side, one segment instead of four), and leaves it reusable:
//     no setsockopt(SO_LINGER), close or socket per check.
//
// A refused check is two calls. Without an idle socket, socket
// (SOCK_NONBLOCK|SOCK_CLOEXEC: no fcntl) comes first.
//
// It returns nil or the check's error, the socket back in s; or
// errConnectPending with fd open and its connect under way (finish it with
// connectResult, which closes it); or errConnectUnsupported.
func (s *tcpSockets) connect(target netip.AddrPort) (fd int, err error) {
	fd, v6, err := s.open(target)
	if err != nil {
		return fd, err
	}
	s.release(fd, v6)
	return -1, nil
}

// open connects a socket of s to target as connect does, and returns it
// connected (nil), or with its connect under way (errConnectPending), or
// the check's error with no socket. v6 says which of s's lists the socket
// goes back to (release).
func (s *tcpSockets) open(target netip.AddrPort) (fd int, v6 bool, err error) {
	a := target.Addr().Unmap() // as net.Dialer does: a mapped address is dialled as IPv4
	if a.Zone() != "" {
		return -1, false, errConnectUnsupported
	}
	v6 = !a.Is4()
	var sa syscall.Sockaddr
	if v6 {
		sa = &syscall.SockaddrInet6{Port: int(target.Port()), Addr: a.As16()}
	} else {
		sa = &syscall.SockaddrInet4{Port: int(target.Port()), Addr: a.As4()}
	}
	for {
		fd, reused, err := s.get(v6)
		if err != nil {
			return -1, v6, err
		}
		err = syscall.Connect(fd, sa)
		if err == syscall.EINPROGRESS {
			err = syscall.Connect(fd, sa)
		}
		switch err {
		case nil:
			return fd, v6, nil
		case syscall.EALREADY:
			return fd, v6, errConnectPending
		case syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ETIMEDOUT, syscall.EHOSTUNREACH, syscall.ENETUNREACH:
			s.put(fd, v6) // disconnected by the kernel with the error
			return -1, v6, errors.New(describeConnectError(err))
		case syscall.EISCONN, syscall.EINVAL, syscall.EBADF:
			syscall.Close(fd)
			if reused {
				continue // an idle socket that was not: take a fresh one
			}
		default:
			syscall.Close(fd)
		}
		return -1, v6, errors.New(describeConnectError(err))
	}
}

// release resets the connection of fd, a socket of s's opened by open, and
// keeps the socket for the next check; one it cannot reset is closed.
func (s *tcpSockets) release(fd int, v6 bool) {
	if err := disconnect(fd); err != nil {
		syscall.Close(fd)
		return
	}
	s.put(fd, v6)
}

// disconnect resets fd's connection and leaves it unconnected:
// connect(AF_UNSPEC), which syscall.Connect cannot express.
func disconnect(fd int) error {
	var sa [16]byte // struct sockaddr, sa_family AF_UNSPEC (0)
	if _, _, e := syscall.Syscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), uintptr(len(sa))); e != 0 {
		return e
	}
	return nil
}

// lingerZero makes the close of fd send a reset.
func lingerZero(fd int) error {
	if err := syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1}); err != nil {
		return errors.New("connect: " + os.NewSyscallError("setsockopt", err).Error())
	}
	return nil
}

// connectResult finishes a check whose connect was pending and has now
// completed or failed (the socket polled writable), and closes fd.
func connectResult(fd int) error {
	err := connectOutcome(fd)
	syscall.Close(fd)
	return err
}

// connectOutcome is the outcome of fd's finished connect; a connected fd
// is set to close with a reset.
func connectOutcome(fd int) error {
	if err := pendingError(fd); err != nil {
		return err
	}
	return lingerZero(fd)
}

func closeSocket(fd int) { syscall.Close(fd) }

// pendingError is the outcome of fd's connect, which was under way and has
// now completed (nil) or failed; fd stays open.
func pendingError(fd int) error {
	soerr, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	switch {
	case err != nil:
		return errors.New(describeConnectError(err))
	case soerr != 0:
		return errors.New(describeConnectError(syscall.Errno(soerr)))
	}
	return nil
}

// errWouldBlock: the socket has no room to write, or nothing to read, now.
var errWouldBlock = errors.New("operation would block")

// sockSend writes b to the connected, non-blocking socket fd: send with
// MSG_NOSIGNAL, so that a member gone away is EPIPE, never SIGPIPE.
func sockSend(fd int, b []byte) (int, error) {
	n, _, e := syscall.Syscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), syscall.MSG_NOSIGNAL, 0, 0)
	switch e {
	case 0:
		return int(n), nil
	case syscall.EAGAIN:
		return 0, errWouldBlock
	}
	return 0, os.NewSyscallError("write", e)
}

// sockRead reads into b from the non-blocking socket fd; 0 and no error is
// the end of the stream.
func sockRead(fd int, b []byte) (int, error) {
	n, err := syscall.Read(fd, b)
	switch err {
	case nil:
		return n, nil
	case syscall.EAGAIN:
		return 0, errWouldBlock
	}
	return 0, os.NewSyscallError("read", err)
}

// awaitConnect waits in the runtime's poller for fd's connect to finish,
// bounded by the connect timeout and ctx, and closes fd.
func (t Timeouts) awaitConnect(ctx context.Context, fd int) error {
	f := os.NewFile(uintptr(fd), "health-check") // pollable: fd is non-blocking
	deadline, ok := ctx.Deadline()
	if t.Connect > 0 {
		if d := time.Now().Add(t.Connect); !ok || d.Before(deadline) {
			deadline, ok = d, true
		}
	}
	if ok {
		f.SetWriteDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return errors.New("connect: " + err.Error())
	}
	waited := false
	werr := rc.Write(func(fd uintptr) bool {
		if !waited { // the first call is before any wait
			waited = true
			return false
		}
		return true
	})
	if werr != nil {
		f.Close()
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return errors.New(describeConnectError(ctx.Err()))
		}
		return errors.New(describeConnectError(werr))
	}
	var res error
	if cerr := rc.Control(func(fd uintptr) { res = connectOutcome(int(fd)) }); cerr != nil {
		res = errors.New("connect: " + cerr.Error())
	}
	f.Close()
	return res
}

// connEvent says that the connect of socket fd, registered as gen, has
// completed or failed.
type connEvent struct {
	fd  int
	gen uint32
}

// connPoller is the prober's epoll set of connects under way. Its own
// descriptor sits in the runtime's poller, so one goroutine (wait) sleeps
// until any of them is done and hands them over in batches: one epoll_wait
// for as many completions as are ready, no goroutine, os.File or timer per
// connect. Registrations are one-shot; the socket's close removes it.
type connPoller struct {
	epfd int
	f    *os.File
	stop chan struct{}
}

func newConnPoller() (*connPoller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	return &connPoller{epfd: epfd, f: os.NewFile(uintptr(epfd), "health-epoll"), stop: make(chan struct{})}, nil
}

// What a registration waits for.
const (
	waitWritable = unix.EPOLLOUT // the connect is done, or the request can be written
	waitReadable = unix.EPOLLIN  // the response, its end or an error has come
)

func (c *connPoller) add(fd int, gen uint32) error { return c.arm(fd, gen, waitWritable, false) }

// arm registers fd for one event of the kinds given, as gen. A socket
// kept from an earlier check (tcpSockets) is still in the set, its
// one-shot registration spent: it is armed again with EPOLL_CTL_MOD, one
// call when registered says it was there, two when it was not (and the
// other way round for a new socket).
func (c *connPoller) arm(fd int, gen uint32, events uint32, registered bool) error {
	ev := unix.EpollEvent{Events: events | unix.EPOLLONESHOT, Fd: int32(fd), Pad: int32(gen)}
	first, then, miss := unix.EPOLL_CTL_ADD, unix.EPOLL_CTL_MOD, unix.EEXIST
	if registered {
		first, then, miss = unix.EPOLL_CTL_MOD, unix.EPOLL_CTL_ADD, unix.ENOENT
	}
	err := unix.EpollCtl(c.epfd, first, fd, &ev)
	if err == miss {
		err = unix.EpollCtl(c.epfd, then, fd, &ev)
	}
	if err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// wait sends the completed connects to out until close.
func (c *connPoller) wait(out chan<- []connEvent) {
	rc, err := c.f.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]unix.EpollEvent, 256)
	for {
		var n int
		err := rc.Read(func(fd uintptr) bool {
			var err error
			n, err = unix.EpollWait(int(fd), buf, 0)
			return n > 0 || (err != nil && err != unix.EINTR)
		})
		if err != nil {
			return // closed
		}
		evs := make([]connEvent, 0, n)
		for _, e := range buf[:max(n, 0)] {
			evs = append(evs, connEvent{fd: int(e.Fd), gen: uint32(e.Pad)})
		}
		select {
		case out <- evs:
		case <-c.stop:
			return
		}
	}
}

func (c *connPoller) close() {
	close(c.stop)
	c.f.Close()
}
