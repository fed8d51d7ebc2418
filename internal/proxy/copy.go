package proxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// copyChunk bounds one splice call, so byte counters move while a long
// transfer is under way.
const copyChunk = 1 << 20

// errIdle reports that a connection saw no traffic for its idle timeout.
var errIdle = errors.New("idle timeout")

// activity is the last time data moved in either direction of a proxied
// connection (unix nanoseconds). A connection is idle only when both
// directions are.
type activity struct{ last atomic.Int64 }

func (a *activity) touch(now time.Time) { a.last.Store(now.UnixNano()) }

func (a *activity) idleFor(now time.Time) time.Duration {
	return time.Duration(now.UnixNano() - a.last.Load())
}

// pipe copies src to dst until src reaches EOF, keeping Linux splice(2):
// see spliceN.
func pipe(dst, src net.Conn, idle time.Duration, act *activity, counters ...*atomic.Uint64) (int64, error) {
	return spliceN(dst, src, -1, idle, act, counters...)
}

// spliceN copies n bytes (all until EOF when n < 0) from src to dst, keeping
// Linux splice(2) between two TCP connections: io.Copy hands
// (*net.TCPConn).ReadFrom an *io.LimitedReader around a *net.TCPConn, which
// the runtime unwraps and splices. Other connections (TLS) are copied. Idle detection cannot hook into a splice, so
// pipe arms a read deadline a quarter of the idle timeout ahead and, when it
// fires, asks the shared activity record whether either direction moved data
// since: the connection is closed as idle within [idle, 1.25×idle] of its
// last byte. The write side gets the whole idle timeout, so a peer that stops
// reading is cut too. idle 0 disables the timeout. Every byte copied is added
// to each counter that is not nil.
func spliceN(dst, src net.Conn, n int64, idle time.Duration, act *activity, counters ...*atomic.Uint64) (int64, error) {
	var total int64
	window := idle / 4
	if idle > 0 && window < 10*time.Millisecond {
		window = min(idle, 10*time.Millisecond)
	}
	for {
		now := time.Now()
		if idle > 0 {
			src.SetReadDeadline(now.Add(window))
			dst.SetWriteDeadline(now.Add(idle))
		}
		chunk := int64(copyChunk)
		if n >= 0 {
			chunk = min(chunk, n-total)
		}
		lr := io.LimitedReader{R: src, N: chunk}
		got, err := io.Copy(dst, &lr)
		total += got
		if got > 0 {
			act.touch(time.Now())
			for _, c := range counters {
				if c != nil {
					c.Add(uint64(got))
				}
			}
		}
		switch {
		case err == nil && n >= 0 && total == n:
			return total, nil
		case err == nil && lr.N > 0:
			if n >= 0 {
				return total, io.ErrUnexpectedEOF
			}
			return total, nil // EOF
		case err == nil:
			continue // chunk done, more to come
		case idle > 0 && errors.Is(err, os.ErrDeadlineExceeded) && time.Since(now) < idle:
			// Before the write deadline could fire, so it is the read tick:
			// splice was waiting for src with nothing in flight.
			if act.idleFor(time.Now()) < idle {
				continue
			}
			return total, errIdle
		default:
			return total, err
		}
	}
}
