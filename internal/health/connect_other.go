//go:build !linux

package health

import (
	"context"
	"errors"
	"net/netip"
	"time"
)

// connectReset opens a TCP connection to target and closes it at once
// with a reset; connect_linux.go does it on the socket itself.
func (t Timeouts) connectReset(ctx context.Context, target netip.AddrPort) error {
	return t.dialReset(ctx, target)
}

var (
	errConnectPending     = errors.New("connect in progress")
	errConnectUnsupported = errors.New("connect: not on this system")
)

// tcpSockets is connect_linux.go's; elsewhere every TCP check goes
// through TCPChecker.Check in a goroutine of its own.
type tcpSockets struct{}

func (*tcpSockets) connect(netip.AddrPort) (int, error) { return -1, errConnectUnsupported }
func (*tcpSockets) open(netip.AddrPort) (int, bool, error) {
	return -1, false, errConnectUnsupported
}
func (*tcpSockets) release(int, bool) {}
func (*tcpSockets) close()            {}
func (*tcpSockets) trim()             {}

func connectResult(int) error { return errConnectUnsupported }
func pendingError(int) error  { return errConnectUnsupported }

var errWouldBlock = errors.New("operation would block")

func sockSend(int, []byte) (int, error) { return 0, errConnectUnsupported }
func sockRead(int, []byte) (int, error) { return 0, errConnectUnsupported }

const waitWritable, waitReadable = 1, 2

func closeSocket(int) {}

type connEvent struct {
	fd  int
	gen uint32
}

type connPoller struct{}

func newConnPoller() (*connPoller, error)               { return nil, errConnectUnsupported }
func (*connPoller) add(int, uint32) error               { return errConnectUnsupported }
func (*connPoller) arm(int, uint32, uint32, bool) error { return errConnectUnsupported }
func (*connPoller) wait(chan<- []connEvent)             {}
func (*connPoller) close()                              {}

type pinger struct{ fd int }

type echoReply struct {
	seq  uint16
	from netip.Addr
}

type sendFailure struct {
	seq uint16
	err error
}

func newPinger(bool) (*pinger, error)                    { return nil, errConnectUnsupported }
func (*pinger) add(netip.Addr) uint16                    { return 0 }
func (*pinger) flush(failed []sendFailure) []sendFailure { return failed }
func (*pinger) recv(got []echoReply) []echoReply         { return got }
func (*pinger) close()                                   {}

type synner struct{ fd int }

func newSynner() (*synner, error) { return nil, errConnectUnsupported }
func (*synner) add(netip.AddrPort, *synSource, time.Time) (uint32, error) {
	return 0, errConnectUnsupported
}
func (*synner) flush(failed []synFailure) []synFailure { return failed }
func (*synner) recv(got []synAnswer) []synAnswer       { return got }
func (*synner) close()                                 {}
