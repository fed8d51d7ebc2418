package evloop

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// Socket is a socket a Loop owns, as its handler sees it. The handler's
// state embeds it; Register fills it in. Its methods run on the loop's
// goroutine only.
type Socket struct {
	// In is what was read and not yet consumed: a buffer from the loop's
	// Bufs, or nil when nothing is held (ReleaseIn). The handler may
	// consume from it and shrink it, never grow it past its capacity.
	In []byte

	loop     *Loop
	h        Handler
	fd       int
	slot     int    // in loop.socks
	wbuf     []byte // output still to write from sent on, or nil
	sent     int
	readable bool          // epoll said so and no read has emptied it since
	armed    bool          // in the epoll set (RegisterReadable leaves it out until it must wait)
	hup      bool          // the peer's FIN is in: read until EOF
	rerr     syscall.Errno // why the last ReadEOF was not an EOF; 0: it was
	deadline time.Time
}

// note records what epoll reported and returns whether the socket is
// writable.
func (s *Socket) note(events uint32) (writable bool) {
	if events&(syscall.EPOLLIN|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
		s.readable = true
	}
	if events&(syscall.EPOLLRDHUP|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
		s.hup = true
	}
	return events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) != 0
}

// arm puts the socket in its loop's epoll set, edge-triggered, if it is
// not there yet: epoll then reports what is ready already, and every
// change after.
func (s *Socket) arm() error {
	if s.armed {
		return nil
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | epollET, Fd: int32(s.fd)}
	if err := syscall.EpollCtl(s.loop.epfd, syscall.EPOLL_CTL_ADD, s.fd, &ev); err != nil {
		return fmt.Errorf("event loop: register socket: %w", err)
	}
	s.armed = true
	return nil
}

// waitRead is a read that found nothing: readiness is gone until epoll
// reports it again, for which the socket must be in the set.
func (s *Socket) waitRead() syscall.Errno {
	s.readable = false
	if err := s.arm(); err != nil {
		return syscall.EBADF
	}
	return 0
}

func (s *Socket) registeredIn(l *Loop) bool {
	return s.Open() && s.loop == l && s.slot >= 0 && s.slot < len(l.socks) && l.socks[s.slot] == s
}

// Handler returns the socket's handler.
func (s *Socket) Handler() Handler { return s.h }

// Readable reports whether a read may find data (or EOF).
func (s *Socket) Readable() bool { return s.readable }

// Hup reports whether the peer closed its side: what is left to read ends
// in EOF.
func (s *Socket) Hup() bool { return s.hup }

// HoldsBuffer reports whether the socket holds a buffer of the loop's.
func (s *Socket) HoldsBuffer() bool { return s.In != nil || s.wbuf != nil }

// ReadResult is what Read found.
type ReadResult int

const (
	ReadData ReadResult = iota // bytes were added to In
	ReadNone                   // nothing there yet
	ReadEOF                    // closed, or failed
	ReadFull                   // no room left in In
)

// Read reads once into In, taking a buffer for it if s has none. A short
// read empties the socket unless a FIN is pending, so readiness is cleared
// then and the next edge sets it again.
func (s *Socket) Read() ReadResult {
	if s.In == nil {
		s.In = s.loop.bufs.get()
	}
	space := s.In[len(s.In):cap(s.In)]
	if len(space) == 0 {
		return ReadFull
	}
	for {
		// recvfrom, not read: the same sock_recvmsg without the VFS
		// layer's work around it (fdget_pos, rw_verify_area, fsnotify),
		// as nginx's recv; about 4 % of a read here (3.47 against 3.64 µs
		// for 200 bytes on loopback, 15 pairs alternated, quiet machine).
		r, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(s.fd), uintptr(unsafe.Pointer(&space[0])), uintptr(len(space)), 0, 0, 0)
		n := int(r)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			if s.rerr = s.waitRead(); s.rerr != 0 {
				return ReadEOF
			}
			s.ReleaseIn()
			return ReadNone
		case e != 0 || n == 0:
			s.readable = false
			s.rerr = e
			return ReadEOF
		}
		s.In = s.In[:len(s.In)+n]
		// A short read emptied the socket: readiness is cleared, and the
		// next edge sets it again. A socket outside the epoll set stays
		// readable instead: its next read finds out (and arms it), and a
		// connection served by its first read never needs that.
		if n < len(space) && !s.hup && s.armed {
			s.readable = false
		}
		return ReadData
	}
}

// SpliceIn moves what the socket has, up to max bytes, into the pipe whose
// write end is pipeW, as Read reads: n bytes moved (ReadData), nothing there
// yet (ReadNone), or the end (ReadEOF, ReadErr says why). Readiness is
// cleared only when the socket had nothing: a short splice may have been
// the pipe's limit, not the socket's.
func (s *Socket) SpliceIn(pipeW, max int) (n int, res ReadResult) {
	return s.spliceIn(pipeW, max, true)
}

// SpliceInMore is SpliceIn into a pipe that holds bytes already. Such a
// pipe refuses with EAGAIN too when its slots (a page fragment each) are
// taken, so EAGAIN leaves the socket readable: a SpliceIn into the pipe
// once it is empty finds out whether it is.
func (s *Socket) SpliceInMore(pipeW, max int) (n int, res ReadResult) {
	return s.spliceIn(pipeW, max, false)
}

// spliceIn is SpliceIn, which takes EAGAIN for the socket's (emptyPipe),
// and SpliceInMore, which cannot.
func (s *Socket) spliceIn(pipeW, max int, emptyPipe bool) (n int, res ReadResult) {
	for {
		m, e := splice(s.fd, pipeW, max)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			if !emptyPipe {
				return 0, ReadNone
			}
			if s.rerr = s.waitRead(); s.rerr != 0 {
				return 0, ReadEOF
			}
			return 0, ReadNone
		case e != 0 || m == 0:
			s.readable = false
			s.rerr = e
			return 0, ReadEOF
		}
		return m, ReadData
	}
}

// SpliceOut moves up to n bytes from the pipe whose read end is pipeR to
// the socket, as Send writes: fewer with a nil error means the socket is
// full.
func (s *Socket) SpliceOut(pipeR, n int) (int, error) {
	done := 0
	for done < n {
		m, e := splice(pipeR, s.fd, n-done)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return done, s.arm() // epoll reports the room
		case e != 0:
			return done, e
		}
		done += m
	}
	return done, nil
}

// Drained reports whether the socket has nothing to read now, clearing its
// readiness if so: the next byte or FIN sets it again. After SpliceIn
// moved all that was expected, a socket stays readable (a short splice may
// have been the pipe's limit); a connection about to go idle must not look
// readable, or it is taken for one its peer closed. A non-blocking peek
// settles it: one system call.
func (s *Socket) Drained() bool {
	var b [1]byte
	for {
		_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(s.fd), uintptr(unsafe.Pointer(&b[0])), 1, syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return s.waitRead() == 0
		}
		return false // a byte, the FIN or an error
	}
}

// spliceFlags: SPLICE_F_NONBLOCK, the pipe's side never blocks.
const spliceFlags = 2

// splice moves up to n bytes from in to out, a raw system call as the
// loop's reads and sends are: neither side blocks. syscall.Splice tells
// the scheduler it enters a system call, and that wakes sysmon from its
// sleep whenever the P was idle before (runtime.entersyscall): with 64 KiB
// answers, 0.15 nanosleep and 0.04 futex calls a request and a context
// switch on the loop's core for each (issue 22, size_64k).
func splice(in, out, n int) (int, syscall.Errno) {
	r, _, e := syscall.RawSyscall6(syscall.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n), spliceFlags)
	return int(r), e
}

// ReadErr is why the last Read returned ReadEOF: nil for an orderly EOF,
// else the error (a reset, say).
func (s *Socket) ReadErr() error {
	if s.rerr == 0 {
		return nil
	}
	return s.rerr
}

// Send writes what of b the socket takes now: n < len(b) with a nil error
// means it is full, and the loop reports it writable again once it has
// room. A peer gone is an error, not a SIGPIPE.
func (s *Socket) Send(b []byte) (n int, err error) {
	for n < len(b) {
		out := b[n:]
		r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&out[0])), uintptr(len(out)), syscall.MSG_NOSIGNAL, 0, 0)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return n, s.arm() // epoll reports the room
		case e != 0:
			return n, e
		}
		n += int(r)
	}
	return n, nil
}

// CloseWrite sends a FIN: the peer reads EOF, and the other direction goes
// on.
func (s *Socket) CloseWrite() error {
	return syscall.Shutdown(s.fd, syscall.SHUT_WR)
}

// ResetOnClose makes Close reset the connection (SO_LINGER 0) instead of
// ending it with a FIN.
func (s *Socket) ResetOnClose() {
	syscall.SetsockoptLinger(s.fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
}

// ReleaseIn gives In's buffer back to the loop once it holds nothing.
func (s *Socket) ReleaseIn() {
	if s.In != nil && len(s.In) == 0 {
		s.loop.bufs.put(s.In)
		s.In = nil
	}
}

// Preload makes b, read elsewhere, the start of In.
func (s *Socket) Preload(b []byte) {
	if s.In == nil {
		s.In = s.loop.bufs.get()
	}
	s.In = append(s.In, b...)
}

// Sink is a socket's pending output, which the head writers append to.
type Sink []byte

func (k *Sink) Write(p []byte) (int, error)       { *k = append(*k, p...); return len(p), nil }
func (k *Sink) WriteString(p string) (int, error) { *k = append(*k, p...); return len(p), nil }
func (k *Sink) WriteByte(c byte) error            { *k = append(*k, c); return nil }

// Writer returns the socket's output to append to, taking a buffer for it
// if there is none; Flush writes it.
func (s *Socket) Writer() *Sink {
	if s.wbuf == nil {
		s.wbuf = s.loop.bufs.get()
	}
	return (*Sink)(&s.wbuf)
}

// Pending reports whether output is left to write.
func (s *Socket) Pending() bool { return s.sent < len(s.wbuf) }

// Unsent is the output left to write, valid until the next call on s.
func (s *Socket) Unsent() []byte { return s.wbuf[s.sent:] }

// Flush writes the output until all of it is written, its buffer going back
// to the loop, or the socket is full; it returns a failed write's error.
func (s *Socket) Flush() error {
	for s.sent < len(s.wbuf) {
		out := s.wbuf[s.sent:]
		// send with MSG_NOSIGNAL: a peer gone is an error, not a SIGPIPE.
		r, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&out[0])), uintptr(len(out)), syscall.MSG_NOSIGNAL, 0, 0)
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return s.arm() // epoll reports the room
		case e != 0:
			return e
		}
		s.sent += int(r)
	}
	s.loop.bufs.put(s.wbuf)
	s.wbuf, s.sent = nil, 0
	return nil
}

// SetDeadline sets when the handler's Expire is called (within a Tick
// after); zero: never.
func (s *Socket) SetDeadline(t time.Time) { s.deadline = t }

// SetTimeout sets the deadline d after the loop's Now; d <= 0: none.
func (s *Socket) SetTimeout(d time.Duration) {
	if d <= 0 {
		s.deadline = time.Time{}
		return
	}
	s.deadline = s.loop.now.Add(d)
}

// Expired reports whether the socket's deadline has passed.
func (s *Socket) Expired() bool {
	return !s.deadline.IsZero() && !s.loop.now.Before(s.deadline)
}

// Close closes the socket and gives its buffers back to the loop. Closing
// a socket twice does nothing.
func (s *Socket) Close() {
	if !s.Open() {
		return
	}
	fd := s.fd
	s.loop.forget(s)
	syscall.Close(fd) // which takes it out of the epoll set
	s.loop.bufs.put(s.In)
	s.loop.bufs.put(s.wbuf)
	s.In, s.wbuf, s.sent = nil, nil, 0
}

// Release takes the socket out of the loop and gives it to Go's poller:
// the caller owns the connection and in, what was read and not consumed
// (from a loop buffer that now leaves the loop). Output not yet written is
// dropped. The socket is gone from the loop even on error, when it is
// closed.
func (s *Socket) Release() (c *net.TCPConn, in []byte, err error) {
	fd := s.fd
	if s.armed {
		var ev syscall.EpollEvent
		syscall.EpollCtl(s.loop.epfd, syscall.EPOLL_CTL_DEL, fd, &ev)
	}
	s.loop.forget(s)
	in = s.In
	s.In, s.wbuf, s.sent = nil, nil, 0
	c, err = Attach(fd)
	return c, in, err
}

// Detach takes c's socket out of Go's poller for a loop to Register: it
// returns a descriptor of the socket and closes c. On error c is left as
// it was. Only a socket can be detached: a *tls.Conn, say, cannot.
func Detach(c net.Conn) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("detach: %T is not a socket", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("detach socket: %w", err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		fd = int(r)
	}); err != nil {
		return -1, fmt.Errorf("detach socket: %w", err)
	}
	if derr != nil {
		return -1, fmt.Errorf("detach socket: dup: %w", derr)
	}
	// Closing c takes the socket out of Go's poller; it lives on in fd.
	c.Close()
	return fd, nil
}

// Attach gives the socket fd to Go's poller as a *net.TCPConn; fd is
// closed (the connection has a descriptor of its own), on error too.
func Attach(fd int) (*net.TCPConn, error) {
	f := os.NewFile(uintptr(fd), "evloop")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("attach socket: %w", err)
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("attach socket: not TCP: %T", c)
	}
	return tc, nil
}

// Open reports whether the socket is registered: not yet closed or
// released.
func (s *Socket) Open() bool { return s.fd >= 0 && s.loop != nil }
