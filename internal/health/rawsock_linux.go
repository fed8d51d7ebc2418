package health

import (
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The raw sockets' shared machinery, the pinger's and the synner's:
// messages queued and sent in batches by sendmmsg, datagrams read in
// batches by recvmmsg, the Internet checksum, atomic datagrams.

// recvBatch is the most replies one recvmmsg reads; replyRoom the bytes
// kept of each, enough for the largest IP header and the ICMP or TCP
// header (a longer datagram is cut short, which the parsers do not mind).
const recvBatch, replyRoom = 64, 128

// replyBuffers are recv's buffers, pointed at by its headers once and for
// all.
type replyBuffers struct {
	hdrs [recvBatch]unix.Mmsghdr
	iovs [recvBatch]unix.Iovec
	from [recvBatch]unix.RawSockaddrInet4
	bufs [recvBatch][replyRoom]byte
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
