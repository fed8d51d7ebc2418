package loadgen

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"time"
)

// Target is where load goes and what a request is.
type Target struct {
	Addr string // host:port of the listener
	Path string // request path; default "/"
	// Clients is how many source addresses requests come from: 127.0.0.2,
	// 127.0.0.3, ... (ClientAddr). 0 is one client whose address the
	// kernel picks.
	Clients int
	// Timeout bounds each request, from connecting to its last byte;
	// default 10s.
	Timeout time.Duration
}

func (t Target) timeout() time.Duration {
	if t.Timeout > 0 {
		return t.Timeout
	}
	return 10 * time.Second
}

func (t Target) request(close bool) []byte {
	path := t.Path
	if path == "" {
		path = "/"
	}
	return requestBytes(path, close)
}

// source is client i's local address for dialing; nil lets the kernel pick.
func (t Target) source(i int) *net.TCPAddr {
	if t.Clients == 0 {
		return nil
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ClientAddr(i), 0))
}

// ClientAddr is the source address of client i: 127.0.0.2, 127.0.0.3, ...
// continuing through 127.0.1.0 and on. Linux routes all of 127.0.0.0/8 to
// the loopback interface, so these bind without configuration.
func ClientAddr(i int) netip.Addr {
	v := uint32(127)<<24 + 2 + uint32(i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Failure is how a request ended without a complete response; OK is a
// complete response, whatever its status.
type Failure uint8

// The ways a request can end.
const (
	OK       Failure = iota
	Connect          // the connection could not be opened
	IO               // the connection broke, or the answer was not HTTP or cut short
	Timeout          // no complete answer within the timeout
	Overflow         // open loop: the client's queue was full
	Unsent           // open loop: still queued when the run's grace period ended
	NumFailures
)

var failureNames = [NumFailures]string{"ok", "connect", "io", "timeout", "overflow", "unsent"}

func (f Failure) String() string { return failureNames[f] }

// Outcome is how one request went. Times are since the run's start.
type Outcome struct {
	Client  int           // which source address sent it
	Due     time.Duration // when it was due (closed loop: when it was sent)
	Sent    time.Duration // when it was sent; < 0 when it never was
	Done    time.Duration // when it completed or failed
	Failure Failure
	Status  int    // the response's status; 0 when no head came
	Backend []byte // the response's X-Backend; valid during Observe only
	Err     error  // what went wrong (a failure, or a body cut short)
}

// Observer receives every request's outcome, from many goroutines at once.
// The Outcome is reused after Observe returns.
type Observer interface {
	Observe(o *Outcome)
}

// conn is a client's keep-alive connection: it sends one request at a time
// and reports each outcome.
type conn struct {
	t       Target
	client  int
	src     *net.TCPAddr
	req     []byte
	start   time.Time
	obs     Observer
	c       *net.TCPConn
	br      *bufio.Reader
	scratch []byte
	out     Outcome
}

func newConn(t Target, client int, start time.Time, obs Observer) *conn {
	return &conn{t: t, client: client, src: t.source(client), req: t.request(false), start: start, obs: obs, scratch: make([]byte, 0, 64)}
}

// do sends one request due at due and reports its outcome; it reports
// whether a response came back.
func (c *conn) do(due time.Duration) bool {
	sent := time.Since(c.start)
	c.out = Outcome{Client: c.client, Due: due, Sent: sent}
	deadline := c.start.Add(sent + c.t.timeout())
	if c.c == nil {
		d := net.Dialer{LocalAddr: c.src, Deadline: deadline}
		nc, err := d.Dial("tcp", c.t.Addr)
		if err != nil {
			return c.fail(Connect, err)
		}
		c.c = nc.(*net.TCPConn)
		if c.br == nil {
			c.br = bufio.NewReaderSize(c.c, 4096)
		} else {
			c.br.Reset(c.c)
		}
	}
	c.c.SetDeadline(deadline)
	if _, err := c.c.Write(c.req); err != nil {
		return c.fail(IO, err)
	}
	r, err := readResponse(c.br, c.scratch)
	c.out.Status = r.status
	if err != nil {
		return c.fail(IO, err)
	}
	c.out.Done, c.out.Backend = time.Since(c.start), r.backend
	c.obs.Observe(&c.out)
	if !r.keep {
		c.close()
	}
	return true
}

// fail reports a request that got no complete response and drops the
// connection.
func (c *conn) fail(f Failure, err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		f = Timeout
	}
	c.out.Failure, c.out.Err, c.out.Done = f, err, time.Since(c.start)
	c.obs.Observe(&c.out)
	c.close()
	return false
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// Ask sends one request from client on a connection of its own, closed
// after the answer, and returns the status and the X-Backend of the
// response.
func Ask(ctx context.Context, t Target, client int) (status int, backend string, err error) {
	d := net.Dialer{LocalAddr: t.source(client), Timeout: t.timeout()}
	c, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(t.timeout()))
	if _, err := c.Write(t.request(true)); err != nil {
		return 0, "", err
	}
	r, err := readResponse(bufio.NewReader(c), nil)
	return r.status, string(r.backend), err
}
