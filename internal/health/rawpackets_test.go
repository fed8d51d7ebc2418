//go:build linux

package health

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// TestRawPacketsCarryNoIPID: the SYNs of TCP checks and the echo requests
// of PING checks leave with Don't Fragment set and IP ID 0, atomic
// datagrams, not each with an ID drawn from the host's shared generator
// (atomicDatagrams). A capturing raw socket in the test's own namespace
// reads them as the member's host receives them.
func TestRawPacketsCarryNoIPID(t *testing.T) {
	const n = 3
	t.Run("SYN", func(t *testing.T) {
		withCapture(t, syscall.IPPROTO_TCP, func(capture int) error {
			s, err := newSynner()
			if err != nil {
				return errSkip{err}
			}
			defer s.close()
			lfd, to, err := loopbackListener()
			if err != nil {
				return err
			}
			defer syscall.Close(lfd)
			var src synSource
			for range n {
				if _, err := s.add(to, &src, time.Now()); err != nil {
					return err
				}
			}
			if failed := s.flush(nil); len(failed) != 0 {
				return fmt.Errorf("SYNs refused: %v", failed)
			}
			return expectAtomic(capture, n, func(ip, l4 []byte) bool {
				return binary.BigEndian.Uint16(l4[0:]) == s.port && binary.BigEndian.Uint16(l4[2:]) == to.Port() && l4[13] == 0x02
			})
		})
	})
	t.Run("echo request", func(t *testing.T) {
		withCapture(t, syscall.IPPROTO_ICMP, func(capture int) error {
			p, err := testPinger()
			if err != nil {
				return err
			}
			defer p.close()
			for range n {
				p.add(netip.MustParseAddr("127.0.0.1"))
			}
			if failed := p.flush(nil); len(failed) != 0 {
				return fmt.Errorf("echo requests refused: %v", failed)
			}
			return expectAtomic(capture, n, func(ip, l4 []byte) bool { return l4[0] == 8 })
		})
	})
}

// withCapture runs fn in a network namespace of the test's own with a raw
// socket that receives every packet of proto the namespace's host
// receives, and fails the test with fn's error.
func withCapture(t *testing.T, proto int, fn func(capture int) error) {
	t.Helper()
	err := inNetns(t, func() error {
		capture, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, proto)
		if err != nil {
			return errSkip{fmt.Errorf("raw socket: %w", err)}
		}
		defer syscall.Close(capture)
		return fn(capture)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// loopbackListener is a listening TCP socket on 127.0.0.1 that nothing
// accepts from, and its address.
func loopbackListener() (int, netip.AddrPort, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, netip.AddrPort{}, err
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return -1, netip.AddrPort{}, err
	}
	if err := syscall.Listen(fd, 16); err != nil {
		syscall.Close(fd)
		return -1, netip.AddrPort{}, err
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return -1, netip.AddrPort{}, err
	}
	return fd, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*syscall.SockaddrInet4).Port)), nil
}

// expectAtomic reads capture for up to 5 s until want packets that match
// came, and fails unless each has Don't Fragment set and IP ID 0.
func expectAtomic(capture, want int, match func(ip, l4 []byte) bool) error {
	buf := make([]byte, 1500)
	deadline := time.Now().Add(5 * time.Second)
	for got := 0; got < want; {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("%d of %d packets captured within 5s", got, want)
		}
		fds := []unix.PollFd{{Fd: int32(capture), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
			return err
		}
		for {
			k, _, err := syscall.Recvfrom(capture, buf, syscall.MSG_DONTWAIT)
			if err != nil {
				break
			}
			ip := buf[:k]
			if len(ip) < 20 || len(ip) < int(ip[0]&0x0f)*4+14 || !match(ip, ip[int(ip[0]&0x0f)*4:]) {
				continue
			}
			got++
			id, frag := binary.BigEndian.Uint16(ip[4:]), binary.BigEndian.Uint16(ip[6:])
			if frag&0x4000 == 0 || id != 0 {
				return fmt.Errorf("packet %d: IP ID %d, flags %#x: want ID 0 and Don't Fragment (0x4000)", got, id, frag&0xe000)
			}
		}
	}
	return nil
}

// TestSynFilter runs the synner's socket filter (synFilter) in x/net/bpf's
// virtual machine over TCP packets: it keeps SYN-ACKs and resets to the
// synner's port, with or without IP options, and drops the rest of what a
// raw TCP socket sees — another port, a bare ACK, a SYN.
func TestSynFilter(t *testing.T) {
	const port = 40000
	raw := synFilter(port)
	ins := make([]bpf.RawInstruction, len(raw))
	for i, r := range raw {
		ins[i] = bpf.RawInstruction{Op: r.Code, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	prog, ok := bpf.Disassemble(ins)
	if !ok {
		t.Fatalf("synFilter has an instruction x/net/bpf does not know: %v", prog)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	// pkt is an IPv4 packet with ihl words of header and a TCP header to
	// dport with flags.
	pkt := func(ihl int, dport uint16, flags byte) []byte {
		b := make([]byte, ihl*4+24)
		b[0], b[9] = 0x40|byte(ihl), syscall.IPPROTO_TCP
		h := b[ihl*4:]
		binary.BigEndian.PutUint16(h[0:], 8080)
		binary.BigEndian.PutUint16(h[2:], dport)
		h[13] = flags
		return b
	}
	for _, c := range []struct {
		name string
		b    []byte
		keep bool
	}{
		{"SYN-ACK", pkt(5, port, 0x12), true},
		{"reset", pkt(5, port, 0x14), true},
		{"SYN-ACK after IP options", pkt(7, port, 0x12), true},
		{"another port", pkt(5, port+1, 0x12), false},
		{"a bare ACK", pkt(5, port, 0x10), false},
		{"a SYN", pkt(5, port, 0x02), false},
	} {
		got, err := vm.Run(c.b)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if keep := got > 0; keep != c.keep {
			t.Errorf("%s: kept %v (%d bytes), want %v", c.name, keep, got, c.keep)
		}
	}
}
