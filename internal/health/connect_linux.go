package health

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// connectReset opens a TCP connection to target and closes it at once with
// a reset: the whole of a TCP check. It works on the socket itself instead
// of going through net.Dialer, whose connect costs about a dozen system
// calls (keep-alive and no-delay options, the poller's registration, the
// local and peer addresses) and a wake-up of the prober's goroutine by the
// poller; on a virtual machine where a system call costs microseconds,
// that was most of a check. Here a check that connects at once (loopback,
// a near member: the handshake completes inside connect) is four calls:
// socket, connect, getpeername, close; the linger option that makes close
// send a reset is set with them. Only a connect still in progress when
// connect returns waits, in the runtime's poller, for the deadline.
func (t Timeouts) connectReset(ctx context.Context, target netip.AddrPort) error {
	a := target.Addr().Unmap() // as net.Dialer does: a mapped address is dialled as IPv4
	if a.Zone() != "" {
		return t.dialReset(ctx, target) // the zone's interface index is the resolver's business
	}
	var sa syscall.Sockaddr
	family := syscall.AF_INET
	if a.Is4() {
		sa = &syscall.SockaddrInet4{Port: int(target.Port()), Addr: a.As4()}
	} else {
		sa, family = &syscall.SockaddrInet6{Port: int(target.Port()), Addr: a.As16()}, syscall.AF_INET6
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return errors.New("connect: " + os.NewSyscallError("socket", err).Error())
	}
	// close sends a reset rather than a FIN: no TIME_WAIT on either side.
	if err := syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1}); err != nil {
		syscall.Close(fd)
		return errors.New("connect: " + os.NewSyscallError("setsockopt", err).Error())
	}
	err = syscall.Connect(fd, sa)
	if err == syscall.EINPROGRESS {
		// The handshake usually completed inside connect (loopback, a
		// member on the same host): a peer address says so.
		if _, perr := syscall.Getpeername(fd); perr == nil {
			err = nil
		} else if soerr, gerr := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR); gerr == nil && soerr != 0 {
			err = syscall.Errno(soerr)
		} else {
			return t.awaitConnect(ctx, fd)
		}
	}
	syscall.Close(fd)
	if err != nil {
		return errors.New(describeConnectError(err))
	}
	return nil
}

// awaitConnect waits in the runtime's poller for fd's connect to finish,
// bounded by the connect timeout and ctx, and closes fd.
func (t Timeouts) awaitConnect(ctx context.Context, fd int) error {
	f := os.NewFile(uintptr(fd), "health-check") // pollable: fd is non-blocking
	defer f.Close()
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
		return errors.New("connect: " + err.Error())
	}
	var soerr int
	waited := false
	werr := rc.Write(func(fd uintptr) bool {
		if !waited { // the first call is before any wait
			waited = true
			return false
		}
		soerr, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ERROR)
		return true
	})
	switch {
	case werr != nil:
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return errors.New(describeConnectError(ctx.Err()))
		}
		return errors.New(describeConnectError(werr))
	case err != nil:
		return errors.New(describeConnectError(err))
	case soerr != 0:
		return errors.New(describeConnectError(syscall.Errno(soerr)))
	}
	return nil
}
