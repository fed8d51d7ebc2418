package health

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"os"
	"syscall"

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
