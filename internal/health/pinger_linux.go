package health

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"syscall"
)

// pinger is the prober's one ICMP socket for all of its PING checks
// (IPv4): a check is one sendto of an echo request, and the prober reads
// the replies in batches (recv) when it wakes on its grid, or, when it has
// nothing else to wake for, when its epoll set says replies came; instead
// of a socket, two goroutines and a timer per check as a PingChecker
// (pro-bing) has. The socket is not in the runtime's poller: a goroutine
// woken there for each reply was a wake-up of the runtime a check. A raw socket sees every ICMP packet of the
// host: ICMP_FILTER keeps all but echo replies out, and the identifier,
// the sequence number and the source address tell ours apart. A datagram
// ("ping") socket gets only its own replies, with the identifier the
// kernel chose.
type pinger struct {
	fd  int
	raw bool
	id  uint16
	seq uint16
	buf [1500]byte
}

// echoReply is an echo reply's sequence number and source.
type echoReply struct {
	seq  uint16
	from netip.Addr
}

func newPinger(privileged bool) (*pinger, error) {
	typ := syscall.SOCK_DGRAM
	if privileged {
		typ = syscall.SOCK_RAW
	}
	fd, err := syscall.Socket(syscall.AF_INET, typ|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_ICMP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if privileged {
		// ICMP_FILTER (1) at SOL_RAW: a bit set drops that type.
		const solRaw, icmpFilter = 255, 1
		if err := syscall.SetsockoptInt(fd, solRaw, icmpFilter, ^(1 << 0)); err != nil {
			syscall.Close(fd)
			return nil, os.NewSyscallError("setsockopt", err)
		}
	}
	// Room for a second of replies at 10,000 members while the reader
	// waits for a CPU; SO_RCVBUFFORCE where allowed, else up to rmem_max.
	if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 8<<20) != nil {
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8<<20)
	}
	return &pinger{fd: fd, raw: privileged, id: uint16(rand.Uint32()), seq: uint16(rand.Uint32())}, nil
}

// send sends an echo request to a and returns its sequence number.
func (p *pinger) send(a netip.Addr) (uint16, error) {
	p.seq++
	var pkt [16]byte // header and 8 bytes of payload, as ping -s 8
	pkt[0] = 8       // echo request
	binary.BigEndian.PutUint16(pkt[4:], p.id)
	binary.BigEndian.PutUint16(pkt[6:], p.seq)
	binary.BigEndian.PutUint16(pkt[2:], icmpChecksum(pkt[:]))
	if err := syscall.Sendto(p.fd, pkt[:], 0, &syscall.SockaddrInet4{Addr: a.As4()}); err != nil {
		return 0, os.NewSyscallError("sendto", err)
	}
	return p.seq, nil
}

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// recv appends to got the echo replies that have come, reading until
// there are none left.
func (p *pinger) recv(got []echoReply) []echoReply {
	for {
		n, from, err := syscall.Recvfrom(p.fd, p.buf[:], syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return got // EAGAIN: no more; another error: the next wake tries again
		}
		if r, ok := p.parse(p.buf[:n], from); ok {
			got = append(got, r)
		}
	}
}

// parse returns the echo reply in b, if it is one of this pinger's.
func (p *pinger) parse(b []byte, from syscall.Sockaddr) (echoReply, bool) {
	sa, ok := from.(*syscall.SockaddrInet4)
	if !ok {
		return echoReply{}, false
	}
	if p.raw { // the IP header comes first
		if len(b) < 20 {
			return echoReply{}, false
		}
		b = b[int(b[0]&0x0f)*4:]
	}
	if len(b) < 8 || b[0] != 0 || b[1] != 0 {
		return echoReply{}, false
	}
	if p.raw && binary.BigEndian.Uint16(b[4:]) != p.id {
		return echoReply{}, false // another process's ping
	}
	return echoReply{seq: binary.BigEndian.Uint16(b[6:]), from: netip.AddrFrom4(sa.Addr)}, true
}

func (p *pinger) close() { syscall.Close(p.fd) }
