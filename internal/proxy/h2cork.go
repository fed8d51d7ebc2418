package proxy

import (
	"net"
	"runtime"
	"sync"
	"time"
)

// corkConn gathers what net/http's HTTP/2 server writes to a client
// connection and sends it in one write once the goroutines that were ready
// to run have run: the server writes (and flushes) each frame as its
// stream's handler hands it over, so without it a response costs a write
// for its HEADERS and one for its DATA, and 32 streams answered together
// cost 64 writes (and as many TLS records) where one does. HAProxy and
// nginx send what their streams produced in one event-loop pass with one
// write; this is the same, in the runtime's terms: a write schedules a
// flush behind every goroutine runnable at that moment (runtime.Gosched).
//
// It sits under the TLS connection (records are sealed as the server
// writes them, and sent together) or, for h2c, is the connection. Until
// cork is called (the handshake, an HTTP/1.1 connection) it is a plain
// pass-through.
//
// Bounds: it holds at most corkLimit bytes; a write that would pass it,
// or a large one, goes out at once (with what is held, in one writev). Every
// write to the socket completes within the connection's write timeout
// (timeout_client_data, net/http's WriteByteTimeout for the frames it
// writes), or the connection is closed, and every later Write fails with
// that error: a client that stops reading is cut as before.
type corkConn struct {
	net.Conn
	on      bool          // set once, before the connection is shared
	timeout time.Duration // each write to the socket; 0: none

	mu        sync.Mutex
	buf       []byte
	scheduled bool  // a flush is on its way
	err       error // the first failed write: every Write after returns it
	closed    bool
}

const (
	corkLimit = 64 << 10 // bytes held at most
	corkLarge = 16 << 10 // a write this large goes out at once
	// corkCloseWait bounds the last flush when the connection closes.
	corkCloseWait = time.Second
)

var corkBufs = sync.Pool{New: func() any { b := make([]byte, 0, corkLimit); return &b }}

// cork starts gathering writes; timeout bounds each write to the socket.
// It must be called before the connection is shared between goroutines.
func (c *corkConn) cork(timeout time.Duration) {
	c.on, c.timeout = true, timeout
}

// NetConn is the connection under it (closeRead reaches the socket
// through it).
func (c *corkConn) NetConn() net.Conn { return c.Conn }

func (c *corkConn) Write(p []byte) (int, error) {
	if !c.on {
		return c.Conn.Write(p)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(p) >= corkLarge || len(c.buf)+len(p) > corkLimit {
		if err := c.flushLocked(p, c.timeout); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if c.buf == nil {
		c.buf = (*corkBufs.Get().(*[]byte))[:0]
	}
	c.buf = append(c.buf, p...)
	if !c.scheduled {
		c.scheduled = true
		go c.flushSoon()
	}
	return len(p), nil
}

// flushSoon sends what is held once the goroutines ready now have run (and
// added to it).
func (c *corkConn) flushSoon() {
	runtime.Gosched()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scheduled = false
	if c.err == nil && !c.closed {
		c.flushLocked(nil, c.timeout)
	}
}

// flushLocked writes what is held, then p, in one write; a failure closes
// the connection (the server's reader then ends it) and sticks.
func (c *corkConn) flushLocked(p []byte, timeout time.Duration) error {
	if len(c.buf) == 0 && len(p) == 0 {
		return nil
	}
	if timeout > 0 {
		c.Conn.SetWriteDeadline(time.Now().Add(timeout))
	}
	var err error
	switch {
	case len(c.buf) == 0:
		_, err = c.Conn.Write(p)
	case len(p) == 0:
		_, err = c.Conn.Write(c.buf)
	default:
		bufs := net.Buffers{c.buf, p}
		_, err = bufs.WriteTo(c.Conn)
	}
	if c.buf != nil {
		b := c.buf[:0]
		corkBufs.Put(&b)
		c.buf = nil
	}
	if err != nil {
		c.err = err
		c.Conn.Close()
	}
	return err
}

// SetWriteDeadline is the socket's while not corked; corked, writes
// happen later than the caller's and each is bounded by the timeout.
func (c *corkConn) SetWriteDeadline(t time.Time) error {
	if c.on {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline sets the read deadline only, once corked (see
// SetWriteDeadline).
func (c *corkConn) SetDeadline(t time.Time) error {
	if c.on {
		return c.Conn.SetReadDeadline(t)
	}
	return c.Conn.SetDeadline(t)
}

// Close sends what is held (waiting corkCloseWait at most), then closes.
func (c *corkConn) Close() error {
	if c.on {
		c.mu.Lock()
		if !c.closed {
			c.closed = true
			if c.err == nil {
				wait := corkCloseWait
				if c.timeout > 0 && c.timeout < wait {
					wait = c.timeout
				}
				c.flushLocked(nil, wait)
			}
		}
		c.mu.Unlock()
	}
	return c.Conn.Close()
}
