package health

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// synner is the prober's one raw TCP socket for its TCP checks (IPv4):
// a check sends the member a SYN and reads its answer, a SYN-ACK (the
// port takes connections: passed) or a reset (refused), without a socket
// or a connection of its own. What a connect would decide, the same way:
// connect returns once the SYN-ACK is in, before the member's application
// has accepted anything. The kernel, which knows no socket for the
// SYN-ACK, answers it with a reset, as a check's connect(AF_UNSPEC) would:
// the member is left with nothing, no TIME_WAIT on either side. The SYNs of
// one wake-up of the prober go out in one sendmmsg, the answers come in by
// recvmmsg, as the pinger does for PING checks: a check costs no system
// call of its own, where a connect and its reset cost three, and on
// loopback the kernel's handshake and teardown on both sides
// (docs/performance.md, "TCP checks by SYN").
//
// The answers come to port, a local port the synner holds with a bound TCP
// socket that never listens or connects: no connection of the host uses it,
// and a SYN-ACK to it finds no socket. A raw socket sees every TCP segment
// of the host; a socket filter keeps only SYN-ACKs and resets to port, and
// a check's sequence number, echoed in the answer's acknowledgement, and
// its member's address tell the checks apart.
type synner struct {
	fd    int
	hold  int    // the bound TCP socket that holds port
	route int    // a UDP socket, connected to a member to learn the source address toward it (source)
	port  uint16 // the answers' port
	isn   uint32 // the last sequence number sent

	queue []synSegment  // added since the last flush
	out   sendBuffers   // flush's
	in    *replyBuffers // recv's
}

// synSegment is a queued SYN: the segment, where it goes, and its sequence
// number.
type synSegment struct {
	pkt [24]byte // the TCP header and an MSS option
	to  unix.RawSockaddrInet4
	isn uint32
}

func newSynner() (*synner, error) {
	hold, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	var port uint16
	if err := syscall.Bind(hold, &syscall.SockaddrInet4{}); err != nil {
		syscall.Close(hold)
		return nil, os.NewSyscallError("bind", err)
	}
	if sa, err := syscall.Getsockname(hold); err == nil {
		port = uint16(sa.(*syscall.SockaddrInet4).Port)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, syscall.IPPROTO_TCP)
	if err != nil {
		syscall.Close(hold)
		return nil, os.NewSyscallError("socket", err)
	}
	route, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		syscall.Close(fd)
		syscall.Close(hold)
		return nil, os.NewSyscallError("socket", err)
	}
	s := &synner{fd: fd, hold: hold, route: route, port: port, isn: rand.Uint32()}
	if err := atomicDatagrams(fd); err != nil {
		s.close()
		return nil, err
	}
	if err := s.filter(); err != nil {
		s.close()
		return nil, err
	}
	if syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 8<<20) != nil {
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUF, 8<<20)
	}
	s.in = newReplyBuffers()
	return s, nil
}

// filter attaches the socket filter (synFilter); nothing else is queued
// on the socket.
func (s *synner) filter() error {
	prog := synFilter(s.port)
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
		return os.NewSyscallError("setsockopt SO_ATTACH_FILTER", err)
	}
	return nil
}

// synFilter is a classic BPF program over the IPv4 packets of TCP
// segments (a raw TCP socket's) that keeps those to port with SYN and ACK
// both set, or RST set.
func synFilter(port uint16) []unix.SockFilter {
	return []unix.SockFilter{
		{Code: unix.BPF_LDX | unix.BPF_B | unix.BPF_MSH, K: 0}, // x = the IP header's length
		{Code: unix.BPF_LD | unix.BPF_H | unix.BPF_IND, K: 2},  // the destination port
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jf: 5, K: uint32(port)},
		{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_IND, K: 13},            // the flags
		{Code: unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K, Jt: 2, K: 0x04}, // RST
		{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: 0x12},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jf: 1, K: 0x12}, // SYN and ACK
		{Code: unix.BPF_RET | unix.BPF_K, K: 0xffff},
		{Code: unix.BPF_RET | unix.BPF_K, K: 0},
	}
}

// add queues a SYN to to, for the next flush, and returns its sequence
// number. src is the member's cached source address, looked up again when
// it is for another address or older than synSourceFor at now.
func (s *synner) add(to netip.AddrPort, src *synSource, now time.Time) (uint32, error) {
	if src.dst != to.Addr() || now.Sub(src.at) >= synSourceFor {
		addr, err := s.source(to.Addr())
		if err != nil {
			return 0, err
		}
		*src = synSource{dst: to.Addr(), addr: addr, at: now}
	}
	s.isn++
	s.queue = append(s.queue, synSegment{isn: s.isn, to: unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: to.Addr().As4()}})
	h := &s.queue[len(s.queue)-1].pkt
	binary.BigEndian.PutUint16(h[0:], s.port)
	binary.BigEndian.PutUint16(h[2:], to.Port())
	binary.BigEndian.PutUint32(h[4:], s.isn)
	h[12] = 6 << 4 // 24 bytes of header
	h[13] = 0x02   // SYN
	binary.BigEndian.PutUint16(h[14:], 65535)
	h[20], h[21] = 2, 4 // MSS, as any SYN carries
	binary.BigEndian.PutUint16(h[22:], 1460)
	binary.BigEndian.PutUint16(h[16:], tcpChecksum(h[:], src.addr.As4(), to.Addr().As4()))
	return s.isn, nil
}

// source is the address the routes choose toward dst: the synner's UDP
// socket's own address once connected to dst (no packet is sent). The
// socket is disconnected again (AF_UNSPEC), which unbinds the address
// and port the connect chose, for the next lookup to choose afresh: three
// system calls and no socket made and closed for each (a socket's close
// frees its file, inode and dentry).
func (s *synner) source(dst netip.Addr) (netip.Addr, error) {
	if err := syscall.Connect(s.route, &syscall.SockaddrInet4{Port: 9, Addr: dst.As4()}); err != nil {
		return netip.Addr{}, os.NewSyscallError("connect", err)
	}
	defer disconnect(s.route)
	sa, err := syscall.Getsockname(s.route)
	if err != nil {
		return netip.Addr{}, os.NewSyscallError("getsockname", err)
	}
	return netip.AddrFrom4(sa.(*syscall.SockaddrInet4).Addr), nil
}

// tcpChecksum is the checksum of the TCP segment h from src to dst, its
// own checksum field zero.
func tcpChecksum(h []byte, src, dst [4]byte) uint16 {
	sum := uint32(binary.BigEndian.Uint16(src[0:])) + uint32(binary.BigEndian.Uint16(src[2:])) +
		uint32(binary.BigEndian.Uint16(dst[0:])) + uint32(binary.BigEndian.Uint16(dst[2:])) +
		syscall.IPPROTO_TCP + uint32(len(h))
	return inetChecksum(sum, h)
}

// flush sends the queued SYNs, in as few sendmmsg calls as the kernel
// allows, and appends to failed the ones it refused, each with its error.
func (s *synner) flush(failed []synFailure) []synFailure {
	q := s.queue
	sendQueue(s.fd, &s.out, q, func(i int, err error) {
		failed = append(failed, synFailure{q[i].isn, err})
	})
	s.queue = q[:0]
	return failed
}

func (g *synSegment) packet() ([]byte, *unix.RawSockaddrInet4) { return g.pkt[:], &g.to }

// recv appends to got the answers that have come, reading until there are
// none left.
func (s *synner) recv(got []synAnswer) []synAnswer {
	recvBatches(s.fd, s.in, func(b []byte, _ *unix.RawSockaddrInet4) {
		if a, ok := s.parse(b); ok {
			got = append(got, a)
		}
	})
	return got
}

// parse returns the answer in the IP packet b, if it is one to this
// synner's port: a SYN-ACK or a reset that acknowledges a SYN of ours.
func (s *synner) parse(b []byte) (synAnswer, bool) {
	if len(b) < 20 || b[0]>>4 != 4 || len(b) < int(b[0]&0x0f)*4+20 {
		return synAnswer{}, false
	}
	from := netip.AddrFrom4([4]byte(b[12:16]))
	t := b[int(b[0]&0x0f)*4:]
	flags := t[13]
	if binary.BigEndian.Uint16(t[2:]) != s.port || flags&0x10 == 0 { // an answer to a SYN acknowledges it
		return synAnswer{}, false
	}
	a := synAnswer{isn: binary.BigEndian.Uint32(t[8:]) - 1, from: netip.AddrPortFrom(from, binary.BigEndian.Uint16(t[0:]))}
	switch {
	case flags&0x04 != 0:
		a.refused = true
	case flags&0x12 != 0x12:
		return synAnswer{}, false
	}
	return a, true
}

func (s *synner) close() {
	syscall.Close(s.fd)
	syscall.Close(s.hold)
	syscall.Close(s.route)
}
