package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// lbd splices between sockets itself rather than through io.Copy and
// (*net.TCPConn).ReadFrom: the runtime's splice keeps its pipes in a
// sync.Pool whose pipes only a garbage collection closes, and holds one for
// the whole of every copy, even one waiting for its first byte. After a
// burst of slow uploads or tunnels that is two descriptors per connection
// left open until the collector runs (issue 18: 400 descriptors for 200
// clients), and an idle TCP connection costs six descriptors instead of
// two. Here a copy holds a pipe only while bytes are in it, and the pipes
// go back to a pipePool that closes the spare ones itself.

const (
	// pipeSize is each pipe's capacity, asked of the kernel (as Go's own
	// splice does): one copyChunk moves in one pair of splice calls.
	pipeSize = copyChunk
	// maxSparePipes bounds the pipes kept for reuse; more are closed as
	// they come back.
	maxSparePipes = 256
	// pipeTrimEvery is how often the pipes that stayed spare since the
	// last look are closed.
	pipeTrimEvery = time.Second

	fSetPipeSz      = 1031     // F_SETPIPE_SZ
	defaultPipeSize = 64 << 10 // a pipe's capacity unless F_SETPIPE_SZ changed it
	spliceNonblock  = 2        // SPLICE_F_NONBLOCK: the pipe's side never blocks
)

// splicePipe is a pipe bytes go through from one socket to another.
type splicePipe struct {
	r, w int
	data int // bytes in it
	size int // its capacity: pipeSize, or the kernel's default if it refused that
}

// room is how many more bytes the pipe may take. (A pipe holds a page
// fragment a slot, so one that holds data may take fewer.)
func (p *splicePipe) room() int { return max(0, p.size-p.data) }

func (p *splicePipe) close() {
	syscall.Close(p.r)
	syscall.Close(p.w)
}

// pipePool keeps the pipes splices go through. A pipe is taken for the
// bytes of one read and given back once they are written, so a transfer
// waiting for data holds none; spares beyond what traffic keeps using are
// closed every pipeTrimEvery, so a burst's pipes are gone two seconds after
// it.
// The zero value is ready; a nil pool makes a pipe per use.
type pipePool struct {
	mu       sync.Mutex
	free     []*splicePipe
	low      int  // the fewest spares since the last trim
	trimming bool // a trim is scheduled
	made     atomic.Int64
	closed   atomic.Int64
}

// get returns an empty pipe.
func (pp *pipePool) get() (*splicePipe, error) {
	if pp != nil {
		pp.mu.Lock()
		if n := len(pp.free); n > 0 {
			p := pp.free[n-1]
			pp.free[n-1] = nil
			pp.free = pp.free[:n-1]
			pp.low = min(pp.low, n-1)
			pp.mu.Unlock()
			return p, nil
		}
		pp.low = 0
		pp.mu.Unlock()
	}
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	// A larger pipe moves a whole chunk per splice; if the kernel refuses
	// (pipe-user-pages-soft), the default 64 KiB still works.
	size, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fds[1]), fSetPipeSz, pipeSize)
	if e != 0 {
		size = defaultPipeSize
	}
	if pp != nil {
		pp.made.Add(1)
	}
	return &splicePipe{r: fds[0], w: fds[1], size: int(size)}, nil
}

// put gives a pipe back; one with bytes left in it is closed.
func (pp *pipePool) put(p *splicePipe) {
	if pp == nil || p.data != 0 {
		pp.discard(p)
		return
	}
	pp.mu.Lock()
	if len(pp.free) >= maxSparePipes {
		pp.mu.Unlock()
		pp.discard(p)
		return
	}
	pp.free = append(pp.free, p)
	if !pp.trimming {
		pp.trimming = true
		pp.low = len(pp.free) - 1 // the one just put back was in use
		time.AfterFunc(pipeTrimEvery, pp.trim)
	}
	pp.mu.Unlock()
}

func (pp *pipePool) discard(p *splicePipe) {
	p.close()
	if pp != nil {
		pp.closed.Add(1)
	}
}

// trim closes the pipes that stayed spare since the last trim: traffic
// did not need them. It looks again later while any are left.
func (pp *pipePool) trim() {
	pp.mu.Lock()
	keep := len(pp.free) - pp.low
	drop := append([]*splicePipe(nil), pp.free[keep:]...)
	clear(pp.free[keep:])
	pp.free = pp.free[:keep]
	pp.low = keep
	pp.trimming = keep > 0
	if pp.trimming {
		time.AfterFunc(pipeTrimEvery, pp.trim)
	}
	pp.mu.Unlock()
	for _, p := range drop {
		pp.discard(p)
	}
}

// closeSpare closes every spare pipe at once.
func (pp *pipePool) closeSpare() {
	pp.mu.Lock()
	drop := pp.free
	pp.free, pp.low = nil, 0
	pp.mu.Unlock()
	for _, p := range drop {
		pp.discard(p)
	}
}

// spares counts the pipes kept for reuse.
func (pp *pipePool) spares() int {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	return len(pp.free)
}

// spliceOp splices from one socket to another through pipes of a pool.
// Its drain and pump are the callbacks of the sockets' RawConn Read and
// Write, bound once (newSpliceOp), so that an op kept with a connection
// splices without allocating.
type spliceOp struct {
	pipes      *pipePool
	rsrc, rdst syscall.RawConn // the sockets; nil: not a TCP socket (rawOf)
	p          *splicePipe     // held while bytes are in it
	max        int             // the most one drain moves
	n          int             // what the last callback moved
	err        error           // and its error
	drainFn    func(uintptr) bool
	pumpFn     func(uintptr) bool
}

func newSpliceOp() *spliceOp {
	op := &spliceOp{}
	op.drainFn, op.pumpFn = op.drain, op.pump
	return op
}

// rawOf returns c's RawConn if c is a TCP socket, which spliceN splices;
// nil otherwise.
func rawOf(c net.Conn) syscall.RawConn {
	if tc, ok := c.(*net.TCPConn); ok {
		if rc, err := tc.SyscallConn(); err == nil {
			return rc
		}
	}
	return nil
}

// drain moves what the source socket has into a pipe, taking one from the
// pool first. While the socket has nothing it returns the pipe and asks
// the poller to wait.
func (op *spliceOp) drain(fd uintptr) bool {
	if op.p == nil {
		p, err := op.pipes.get()
		if err != nil {
			op.n, op.err = 0, err
			return true
		}
		op.p = p
	}
	for {
		n, err := syscall.Splice(int(fd), nil, op.p.w, nil, op.max, spliceNonblock)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			op.pipes.put(op.p)
			op.p = nil
			return false
		}
		op.n, op.err = int(n), err
		if n > 0 {
			op.p.data += int(n)
		}
		return true
	}
}

// pump moves bytes from the pipe to the destination socket; it returns
// once some moved, or asks the poller to wait until the socket has room.
func (op *spliceOp) pump(fd uintptr) bool {
	for {
		n, err := syscall.Splice(op.p.r, nil, int(fd), nil, op.p.data, spliceNonblock)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		op.n, op.err = int(n), err
		if n > 0 {
			op.p.data -= int(n)
		}
		return true
	}
}

// errCopyWrite marks a copy that failed on its destination's side; other
// errors are the source's.
var errCopyWrite = errors.New("write")

// idles are a copy's inactivity timeouts; zero means none.
type idles struct {
	// read: how long the source may send nothing. A bridge's two
	// directions share their activity, so a connection is idle only
	// when both are.
	read time.Duration
	// write: how long the destination may take no byte it was offered
	// (a peer that stopped reading).
	write time.Duration
}

// spliceN copies n bytes (all until EOF when n < 0) from src to dst. Two
// TCP sockets (op's rsrc and rdst, from rawOf) are spliced through pipes
// of op's pool (see pipePool); any other connection (TLS) is copied. Idle
// detection cannot hook into a blocked read, so the read deadline is a
// tick a quarter of the read timeout ahead: when it fires with no byte in
// either direction of act for the whole timeout, the copy ends with
// errIdle, within [1, 1.25] of the timeout after the last byte. A write
// that makes no progress for the write timeout ends it too. Every byte
// copied is added to each counter that is not nil.
func spliceN(dst, src net.Conn, n int64, to idles, act *activity, op *spliceOp, counters ...*atomic.Uint64) (int64, error) {
	if op.rsrc == nil || op.rdst == nil {
		return copyN(dst, src, n, to, act, counters...)
	}
	defer func() {
		if op.p != nil {
			op.pipes.put(op.p) // closed if bytes are left in it
			op.p = nil
		}
	}()
	var total int64
	var tick, wdl time.Time // the read tick and write deadline armed
	window := readWindow(to.read)
	// One clock reading per batch of bytes: the deadlines are coarse, and
	// a tunnel's small messages each cost one.
	now := time.Now()
	for n < 0 || total < n {
		op.max = copyChunk
		if n >= 0 {
			op.max = int(min(int64(op.max), n-total))
		}
		if to.read > 0 && tick.Sub(now) < window/2 {
			tick = now.Add(window)
			src.SetReadDeadline(tick)
		}
		// The pipe the last batch went through, empty, is tried first;
		// drain gives it back if the source has nothing yet.
		if err := op.rsrc.Read(op.drainFn); err != nil {
			now = time.Now()
			if to.read > 0 && errors.Is(err, os.ErrDeadlineExceeded) {
				tick = time.Time{}
				if act.idleFor(now) < to.read {
					continue
				}
				return total, errIdle
			}
			return total, err
		}
		if op.err != nil {
			return total, &net.OpError{Op: "splice", Net: "tcp", Err: os.NewSyscallError("splice", op.err)}
		}
		if op.n == 0 { // EOF
			if n >= 0 {
				return total, io.ErrUnexpectedEOF
			}
			return total, nil
		}
		now = time.Now()
		act.touch(now)
		for first := true; op.p.data > 0; first = false {
			if !first { // the last write moved part of it and waited for room
				now = time.Now()
				act.touch(now) // a slow reader is no idle peer
			}
			if to.write > 0 && wdl.Sub(now) < to.write-to.write/8 {
				wdl = now.Add(to.write)
				dst.SetWriteDeadline(wdl)
			}
			if err := op.rdst.Write(op.pumpFn); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					err = errIdle
				}
				return total, fmt.Errorf("%w: %w", errCopyWrite, err)
			}
			if op.err != nil {
				return total, fmt.Errorf("%w: %w", errCopyWrite, &net.OpError{Op: "splice", Net: "tcp", Err: os.NewSyscallError("splice", op.err)})
			}
			if op.n == 0 {
				return total, fmt.Errorf("%w: %w", errCopyWrite, io.ErrNoProgress)
			}
			total += int64(op.n)
			for _, c := range counters {
				if c != nil {
					c.Add(uint64(op.n))
				}
			}
		}
	}
	return total, nil
}

// readWindow is the read tick for a read timeout.
func readWindow(idle time.Duration) time.Duration {
	window := idle / 4
	if idle > 0 && window < 10*time.Millisecond {
		window = min(idle, 10*time.Millisecond)
	}
	return window
}

// copyN is spliceN for connections that are not both TCP sockets.
func copyN(dst, src net.Conn, n int64, to idles, act *activity, counters ...*atomic.Uint64) (int64, error) {
	var total int64
	window := readWindow(to.read)
	for {
		now := time.Now()
		if to.read > 0 {
			src.SetReadDeadline(now.Add(window))
		}
		if to.write > 0 {
			dst.SetWriteDeadline(now.Add(to.write))
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
		case to.read > 0 && errors.Is(err, os.ErrDeadlineExceeded) && (to.write == 0 || time.Since(now) < to.write):
			// Before the write deadline could fire, so it is the read tick:
			// the copy was waiting for src with nothing in flight.
			if act.idleFor(time.Now()) < to.read {
				continue
			}
			return total, errIdle
		case errors.Is(err, os.ErrDeadlineExceeded):
			return total, fmt.Errorf("%w: %w", errCopyWrite, errIdle)
		default:
			return total, err
		}
	}
}
