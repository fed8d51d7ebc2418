package evloop

import (
	"fmt"
	"net/netip"
	"syscall"
)

// Connect opens a TCP connection to addr without blocking and registers it
// with h through s, as Register does: the connect goes on in the kernel,
// and h's Ready reports, writable, when it has completed or failed
// (ConnectErr says which). Like Go's dialer, it sets TCP_NODELAY. On error
// (no socket, or a connect that failed at once, refused say) nothing is
// registered and no descriptor is left open.
func (l *Loop) Connect(s *Socket, addr netip.AddrPort, h Handler) error {
	ip := addr.Addr().Unmap()
	family, sa := syscall.AF_INET6, syscall.Sockaddr(nil)
	if ip.Is4() {
		family, sa = syscall.AF_INET, &syscall.SockaddrInet4{Port: int(addr.Port()), Addr: ip.As4()}
	} else {
		sa = &syscall.SockaddrInet6{Port: int(addr.Port()), Addr: ip.As16()}
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return fmt.Errorf("event loop: socket: %w", err)
	}
	syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	// A non-blocking connect that a signal interrupted goes on, as one in
	// progress does.
	err = syscall.Connect(fd, sa)
	if err != nil && err != syscall.EINPROGRESS && err != syscall.EINTR {
		syscall.Close(fd)
		return fmt.Errorf("event loop: connect %s: %w", addr, err)
	}
	// Registered armed: epoll reports EPOLLOUT once the connect completes,
	// EPOLLERR once it fails, and at once if it completed already.
	if err := l.register(s, fd, h, true); err != nil {
		syscall.Close(fd)
		return err
	}
	return nil
}

// ConnectErr reports how a connect that Connect started ended, once the
// socket's handler was called writable: nil if it is connected, else why
// not (SO_ERROR: refused, unreachable...).
func (s *Socket) ConnectErr() error {
	e, err := syscall.GetsockoptInt(s.fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	if err != nil {
		return fmt.Errorf("event loop: SO_ERROR: %w", err)
	}
	if e != 0 {
		return syscall.Errno(e)
	}
	return nil
}
