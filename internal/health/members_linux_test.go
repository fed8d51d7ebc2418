//go:build linux

package health

import (
	"fmt"
	"net/netip"
	"syscall"
)

// rawHTTPMembers listens on n loopback addresses, as TestHelperServeMembers
// does, and answers every connection with one canned response
// ("HTTP/1.0 200 OK", a 3-byte body) and a close, from one epoll loop: an
// HTTP member that costs a few system calls a request, so that 10,000 of
// them checked every second do not take the machine's cores from the
// checker being measured (net/http's server took most of both).
// LBD_HEALTH_SERVE_HTTP=raw selects it. It returns the addresses and the
// loop to run.
func rawHTTPMembers(n int) ([]netip.AddrPort, func() error, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, nil, err
	}
	listeners := map[int32]bool{}
	var addrs []netip.AddrPort
	for i := range n {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, nil, err
		}
		a := [4]byte{127, 77, byte(i / 250), byte(i%250 + 1)}
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: a}); err != nil {
			return nil, nil, fmt.Errorf("bind %v: %w", a, err)
		}
		if err := syscall.Listen(fd, 4096); err != nil {
			return nil, nil, err
		}
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			return nil, nil, err
		}
		if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}); err != nil {
			return nil, nil, err
		}
		listeners[int32(fd)] = true
		addrs = append(addrs, netip.AddrPortFrom(netip.AddrFrom4(a), uint16(sa.(*syscall.SockaddrInet4).Port)))
	}
	resp := []byte("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
	buf := make([]byte, 4096)
	// serve answers c if its request is in, and reports whether it is done.
	serve := func(c int) bool {
		_, err := syscall.Read(c, buf)
		if err == syscall.EAGAIN {
			return false
		}
		if err == nil {
			syscall.Write(c, resp)
		}
		syscall.Close(c)
		return true
	}
	loop := func() error {
		events := make([]syscall.EpollEvent, 256)
		for {
			k, err := syscall.EpollWait(epfd, events, -1)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			for _, ev := range events[:k] {
				if !listeners[ev.Fd] {
					serve(int(ev.Fd))
					continue
				}
				for {
					c, _, err := syscall.Accept4(int(ev.Fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
					if err != nil {
						break
					}
					if !serve(c) {
						syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, c, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(c)})
					}
				}
			}
		}
	}
	return addrs, loop, nil
}
