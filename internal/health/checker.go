package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// Checker runs one probe against target. It returns nil when the probe
// passes and otherwise an error whose text says why, short enough for a log
// line ("connect refused", "status 503 not in 200-204").
//
// The caller bounds the probe with ctx's deadline and may cancel it; a
// Checker never starts a timer or goroutine that outlives the call. Each call
// uses fresh sockets: nothing is pooled or reused between probes, so one
// broken connection can never taint the next probe. Implementations are safe
// for concurrent use. The Monitor's prober runs a TCPChecker's checks itself
// (prober.go) and calls Check for every other kind.
type Checker interface {
	Check(ctx context.Context, target netip.AddrPort) error
}

// Timeouts bound the two phases of a probe, as HAProxy splits a check: the
// connection set-up, then the exchange that follows it. A zero value leaves
// that phase bounded only by the context's deadline.
type Timeouts struct {
	// Connect bounds the TCP connect. Octavia's HAProxy uses
	// min(timeout_member_connect, delay).
	Connect time.Duration
	// Response bounds what follows the connect: the TLS handshake, the HTTP
	// exchange, the wait for an ICMP reply or a UDP error. It starts when the
	// connection is up. Octavia's HAProxy uses the monitor's timeout.
	Response time.Duration
}

// dial connects to target with the connect-phase bound and returns the
// connection with its deadline set for the response phase. The connection
// is also closed early if ctx is cancelled.
func (t Timeouts) dial(ctx context.Context, network string, target netip.AddrPort) (net.Conn, func(), error) {
	d := net.Dialer{Timeout: t.Connect}
	conn, err := d.DialContext(ctx, network, target.String())
	if err != nil {
		return nil, nil, errors.New(describeConnectError(err))
	}
	if err := conn.SetDeadline(t.responseDeadline(ctx)); err != nil {
		conn.Close()
		return nil, nil, fmt.Errorf("set deadline: %w", err)
	}
	// Cancellation (monitor stopped, member removed) aborts the I/O at once.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	return conn, func() { stop(); conn.Close() }, nil
}

// responseDeadline is when the response phase, starting now, must end.
func (t Timeouts) responseDeadline(ctx context.Context) time.Time {
	dl, ok := ctx.Deadline()
	if t.Response > 0 {
		if r := time.Now().Add(t.Response); !ok || r.Before(dl) {
			return r
		}
	}
	if !ok {
		return time.Time{}
	}
	return dl
}

// describeConnectError turns a dial error into a short reason.
func describeConnectError(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connect refused"
	case isTimeout(err):
		return "connect timeout"
	case errors.Is(err, context.Canceled):
		return "check cancelled"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "connect: host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "connect: network unreachable"
	case errors.Is(err, syscall.ECONNRESET):
		return "connect: connection reset"
	}
	return "connect: " + rootCause(err)
}

// describeIOError turns an error of the response phase into a short reason;
// what names the step ("response", "tls handshake").
func describeIOError(what string, err error) string {
	switch {
	case isTimeout(err):
		return what + " timeout"
	case errors.Is(err, syscall.ECONNRESET):
		return what + ": connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return what + ": connection refused"
	case errors.Is(err, context.Canceled):
		return "check cancelled"
	}
	return what + ": " + rootCause(err)
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rootCause strips net.OpError and os.SyscallError wrappers, whose text
// repeats addresses the log line already carries.
func rootCause(err error) string {
	for {
		var op *net.OpError
		var sc *os.SyscallError
		switch {
		case errors.As(err, &op) && op.Err != nil:
			err = op.Err
		case errors.As(err, &sc) && sc.Err != nil:
			err = sc.Err
		default:
			return err.Error()
		}
	}
}
