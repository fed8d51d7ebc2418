package health

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pinger is the prober's one ICMP socket for all of its PING checks
// (IPv4). The echo requests of one wake-up of the prober are queued (add)
// and go out together in one sendmmsg (flush), and the prober reads the
// replies with recvmmsg, up to recvBatch a call (recv), when it wakes on
// its grid or, when it has nothing else to wake for, when its epoll set
// says replies came: on this PVM guest a system call costs about 3 µs, as
// much as the kernel's whole loopback echo, so a check no longer pays one
// sendto and one recvfrom of its own (docs/performance.md, "PING checks in
// batches"). That replaces a socket, two goroutines and a timer per check
// as a PingChecker (pro-bing) has. The socket is not in the runtime's
// poller: a goroutine woken there for each reply was a wake-up of the
// runtime a check. A raw socket sees every ICMP packet of the host:
// ICMP_FILTER keeps all but echo replies out, and the identifier, the
// sequence number and the source address tell ours apart. A datagram
// ("ping") socket gets only its own replies, with the identifier the
// kernel chose.
type pinger struct {
	fd  int
	raw bool
	id  uint16
	seq uint16

	queue []echoRequest // added since the last flush
	out   sendBuffers   // flush's
	in    *replyBuffers // recv's
	sends int           // sendmmsg calls (tests)
	recvs int           // recvmmsg calls (tests)
}

// echoRequest is a queued echo request: the packet, where it goes, and its
// sequence number.
type echoRequest struct {
	pkt [16]byte // header and 8 bytes of payload, as ping -s 8
	to  unix.RawSockaddrInet4
	seq uint16
}

// recvBatch is the most replies one recvmmsg reads; replyRoom the bytes
// kept of each, enough for the largest IP header and the ICMP header (a
// longer datagram is cut short, which parse does not mind).
const recvBatch, replyRoom = 64, 128

// replyBuffers are recv's buffers, pointed at by its headers once and for
// all.
type replyBuffers struct {
	hdrs [recvBatch]unix.Mmsghdr
	iovs [recvBatch]unix.Iovec
	from [recvBatch]unix.RawSockaddrInet4
	bufs [recvBatch][replyRoom]byte
}

// sendFailure is an echo request that the kernel refused.
type sendFailure struct {
	seq uint16
	err error
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
	if err := atomicDatagrams(fd); err != nil {
		syscall.Close(fd)
		return nil, err
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
	return &pinger{fd: fd, raw: privileged, id: uint16(rand.Uint32()), seq: uint16(rand.Uint32()), in: newReplyBuffers()}, nil
}

// atomicDatagrams has the kernel send fd's packets as atomic datagrams
// (RFC 6864): Don't Fragment set and no fragmenting, even locally
// (IP_PMTUDISC_DO), so that it leaves their IP ID 0. In the default mode
// (IP_PMTUDISC_WANT) the packets carry Don't Fragment too, but the kernel
// may still fragment them locally, so each packet of an unconnected raw or
// ICMP socket draws an ID from the host's one generator (__ip_select_ident:
// a hash and an atomic add in a table every socket shares): 4 % of the
// prober's CPU with TCP checks by SYN at 10,000 members. The SYNs (44
// bytes) and echo requests (36) are far under any path's MTU.
func atomicDatagrams(fd int) error {
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_IP, syscall.IP_MTU_DISCOVER, syscall.IP_PMTUDISC_DO); err != nil {
		return os.NewSyscallError("setsockopt IP_MTU_DISCOVER", err)
	}
	return nil
}

func newReplyBuffers() *replyBuffers {
	in := new(replyBuffers)
	for i := range in.hdrs {
		in.iovs[i].Base = &in.bufs[i][0]
		in.iovs[i].SetLen(replyRoom)
		in.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&in.from[i]))
		in.hdrs[i].Hdr.Iov = &in.iovs[i]
		in.hdrs[i].Hdr.SetIovlen(1)
	}
	return in
}

// add queues an echo request to a, for the next flush, and returns its
// sequence number.
func (p *pinger) add(a netip.Addr) uint16 {
	p.seq++
	p.queue = append(p.queue, echoRequest{seq: p.seq, to: unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}})
	pkt := &p.queue[len(p.queue)-1].pkt
	pkt[0] = 8 // echo request
	binary.BigEndian.PutUint16(pkt[4:], p.id)
	binary.BigEndian.PutUint16(pkt[6:], p.seq)
	binary.BigEndian.PutUint16(pkt[2:], icmpChecksum(pkt[:]))
	return p.seq
}

// flush sends the queued echo requests, in as few sendmmsg calls as the
// kernel allows (it takes up to 1,024 a call), and appends to failed the
// ones it refused, each with its own error: a refused request is skipped
// and the rest go on.
func (p *pinger) flush(failed []sendFailure) []sendFailure {
	q := p.queue
	p.sends += sendQueue(p.fd, &p.out, q, func(i int, err error) {
		failed = append(failed, sendFailure{q[i].seq, err})
	})
	p.queue = q[:0]
	return failed
}

func (r *echoRequest) packet() ([]byte, *unix.RawSockaddrInet4) { return r.pkt[:], &r.to }

func icmpChecksum(b []byte) uint16 { return inetChecksum(0, b) }

// inetChecksum is the Internet checksum (RFC 1071) of b's 16-bit words
// added to sum (a pseudo-header's, or 0): their one's-complement sum,
// complemented. b has an even length.
func inetChecksum(sum uint32, b []byte) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// recv appends to got the echo replies that have come, reading until
// there are none left: recvmmsg of up to recvBatch replies until one
// returns fewer.
func (p *pinger) recv(got []echoReply) []echoReply {
	p.recvs += recvBatches(p.fd, p.in, func(b []byte, from *unix.RawSockaddrInet4) {
		if r, ok := p.parse(b, netip.AddrFrom4(from.Addr)); ok {
			got = append(got, r)
		}
	})
	return got
}

// sendBuffers are the message headers a raw socket's queue is sent
// through, kept from one flush to the next.
type sendBuffers struct {
	iovs []unix.Iovec   // one a message
	hdrs []unix.Mmsghdr // one a message
}

// queued is a message waiting in a raw socket's queue: its bytes and
// where it goes.
type queued interface {
	packet() ([]byte, *unix.RawSockaddrInet4)
}

// sendQueue sends q on fd through out (sendBatch), and calls failed with
// the index and the error of each message the kernel refused. It returns
// the sendmmsg calls made.
func sendQueue[T any, P interface {
	*T
	queued
}](fd int, out *sendBuffers, q []T, failed func(int, error)) int {
	if len(q) == 0 {
		return 0
	}
	if cap(out.hdrs) < len(q) {
		out.hdrs, out.iovs = make([]unix.Mmsghdr, len(q), 2*len(q)), make([]unix.Iovec, len(q), 2*len(q))
	}
	hdrs, iovs := out.hdrs[:len(q)], out.iovs[:len(q)]
	for i := range q {
		pkt, to := P(&q[i]).packet()
		iovs[i] = unix.Iovec{Base: &pkt[0]}
		iovs[i].SetLen(len(pkt))
		hdrs[i] = unix.Mmsghdr{Hdr: unix.Msghdr{Name: (*byte)(unsafe.Pointer(to)), Namelen: unix.SizeofSockaddrInet4, Iov: &iovs[i]}}
		hdrs[i].Hdr.SetIovlen(1)
	}
	calls := sendBatch(fd, hdrs, failed)
	clear(hdrs) // no pointers into the queue kept past the call
	clear(iovs)
	return calls
}

// sendBatch sends hdrs on fd in as few sendmmsg calls as the kernel allows
// (it takes up to 1,024 a call), and calls failed with the index and the
// error of each message it refused: a refused message is skipped and the
// rest go on. It returns the calls made.
func sendBatch(fd int, hdrs []unix.Mmsghdr, failed func(int, error)) (calls int) {
	for i := 0; i < len(hdrs); {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&hdrs[i])), uintptr(len(hdrs)-i), 0, 0, 0)
		calls++
		switch n := int(r); {
		case errno == unix.EINTR:
		case errno != 0:
			failed(i, os.NewSyscallError("sendmmsg", errno))
			i++
		case n <= 0:
			failed(i, os.NewSyscallError("sendmmsg", unix.EAGAIN))
			i++
		default:
			i += n
		}
	}
	return calls
}

// recvBatches reads the datagrams waiting on fd, through in, until there
// are none left: recvmmsg of up to recvBatch until one returns fewer. It
// calls got with each IPv4 datagram (cut to replyRoom) and its source, and
// returns the calls made.
func recvBatches(fd int, in *replyBuffers, got func([]byte, *unix.RawSockaddrInet4)) (calls int) {
	for {
		for i := range in.hdrs {
			in.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrInet4
			in.hdrs[i].Hdr.Flags = 0
		}
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&in.hdrs[0])), recvBatch, unix.MSG_DONTWAIT, 0, 0)
		calls++
		switch {
		case errno == unix.EINTR:
			continue
		case errno != 0:
			return calls // EAGAIN: no more; another error: the next wake tries again
		}
		n := int(r)
		for i := range n {
			h := &in.hdrs[i]
			if h.Hdr.Namelen < unix.SizeofSockaddrInet4 || in.from[i].Family != unix.AF_INET {
				continue
			}
			got(in.bufs[i][:min(int(h.Len), replyRoom)], &in.from[i])
		}
		if n < recvBatch {
			return calls
		}
	}
}

// parse returns the echo reply in b, from from, if it is one of this
// pinger's.
func (p *pinger) parse(b []byte, from netip.Addr) (echoReply, bool) {
	if p.raw { // the IP header comes first
		if len(b) < 20 || len(b) < int(b[0]&0x0f)*4 {
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
	return echoReply{seq: binary.BigEndian.Uint16(b[6:]), from: from}, true
}

func (p *pinger) close() { syscall.Close(p.fd) }
