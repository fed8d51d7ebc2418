package proxy

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// A proxy writes a request to a member and then waits for the response.
// Read through Go's poller, that wait costs a read(2) that finds nothing
// (EAGAIN) before the goroutine parks. parkedWrite saves it: RawConn.Read
// arms the poller for readiness first, the callback writes the request, and
// returning false parks the goroutine until the connection is readable.
//
// Arming discards a readiness that arrived since the connection was last
// read, so this is safe only where nothing can have arrived unread that the
// write does not answer: a member connection between exchanges, written to
// once with the whole request. Anything the member sent or closed in the
// meantime is followed by its response to the request or, from a closed
// socket, by a reset, and either wakes the wait. A client connection is not
// like that (it may pipeline or half-close while its response is being
// written), nor is a request written in parts (the member may answer the
// first part early), so neither uses it.

// parkedWrite writes p without blocking and, when all of it went out, waits
// until the connection is readable (or its read deadline passes, or it is
// closed) before returning. It reports how much it wrote and whether that
// was all; the caller writes any rest the ordinary way. A wait that ended in
// an error leaves it for the next Read.
func (t *timedConn) parkedWrite(p []byte) (int, bool, error) {
	if t.raw == nil {
		raw, err := t.TCPConn.SyscallConn()
		if err != nil {
			return 0, false, nil
		}
		t.raw, t.parkStep = raw, t.writeThenWait // bound once per connection: no allocation per call
	}
	if t.readTimeout > 0 && !t.holdRead {
		t.armRead(time.Now())
	}
	t.park = parkState{buf: p}
	waitErr := t.raw.Read(t.parkStep)
	st := t.park
	t.park = parkState{}
	if st.writeErr != nil {
		return st.n, false, &net.OpError{Op: "write", Net: "tcp", Source: t.LocalAddr(), Addr: t.RemoteAddr(),
			Err: os.NewSyscallError("write", st.writeErr)}
	}
	if st.n < len(p) {
		return st.n, false, nil
	}
	if waitErr != nil {
		t.pendingRead = &net.OpError{Op: "read", Net: "tcp", Source: t.LocalAddr(), Addr: t.RemoteAddr(), Err: waitErr}
	}
	return st.n, true, nil
}

// parkState is one parkedWrite in progress.
type parkState struct {
	buf      []byte
	n        int
	wrote    bool
	writeErr error
}

// writeThenWait is the raw read callback of parkedWrite. Called first, it
// writes and asks to wait for readability when the write completed; called
// again after the wait, it ends the call, leaving the reading to Read.
func (t *timedConn) writeThenWait(fd uintptr) bool {
	st := &t.park
	if st.wrote {
		return true
	}
	st.wrote = true
	for st.n < len(st.buf) {
		n, err := syscall.Write(int(fd), st.buf[st.n:])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			if !errors.Is(err, syscall.EAGAIN) {
				st.writeErr = err
			}
			return true
		}
		st.n += n
	}
	return false
}
