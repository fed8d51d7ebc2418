package proxy

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"lbd/internal/proxy/http1"
)

// HTTP/2 from clients: net/http's HTTP/2 server (the same code as
// golang.org/x/net/http2, whose own Server is deprecated for it) takes each
// connection that negotiated h2, and runs the handler (h2exchange.go) for
// each stream: route, pick and forward over lbd's pooled HTTP/1.1 member
// connections, so the balancer picks per request.
//
// net/http serves connections from a listener only, so each h2front is an
// http.Server on a queue the TLS path pushes its handshaken connections
// into; the connection's listener, client address and TLS peer reach the
// handler through ConnContext, and its end comes back through ConnState,
// so that the goroutine that accepted it accounts for it as for any other.
// A listener's fronts are shut down when it drains, which sends GOAWAY.

// Hardening (net/http's HTTP/2 server handles each of these; tested in
// h2_hostile_test.go):
//   - rapid reset (CVE-2023-44487): handlers run at most
//     MaxConcurrentStreams at once per connection; streams reset before
//     their handler starts queue, and a connection whose queue outgrows 4×
//     that is closed. A stream reset before it was forwarded is not
//     forwarded, and lbd closes a connection whose client has reset more
//     than h2MaxResets streams beyond those it let finish (a browser
//     resets a few);
//   - CONTINUATION flood (CVE-2023-45288) and HPACK bombs: a header block
//     is bounded by MaxHeaderBytes (decoded size included) and the decoder
//     table by MaxDecoderHeaderTableSize;
//   - settings, ping and reset floods: a client that makes the server queue
//     more than 10000 control frames without reading is disconnected, and
//     one whose connection stops taking writes for timeout_client_data
//     (WriteByteTimeout) too;
//   - stream limits: MaxConcurrentStreams, with REFUSED_STREAM beyond.
const (
	h2MaxConcurrentStreams = 100 // HAProxy's tune.h2.max-concurrent-streams
	h2MaxHeaderBytes       = http1.MaxHeadBytes
	h2MaxResets            = 2 * h2MaxConcurrentStreams
)

// h2Conn is what the handler knows of the client connection of a stream.
type h2Conn struct {
	l      *listener
	remote netip.AddrPort
	local  netip.AddrPort // the address the client reached, for a PROXY header
	ipText []byte
	st     *connState
	conn   net.Conn
	done   chan struct{} // closed when net/http is done with the connection
	// Streams the client reset before their answer, and streams answered.
	resets, answered atomic.Int64
}

// noteStream counts a stream that ended; a connection whose client resets
// streams far more than it lets them finish is closed.
func (hc *h2Conn) noteStream(reset bool) {
	if !reset {
		hc.answered.Add(1)
		return
	}
	if n := hc.resets.Add(1); n > h2MaxResets && n > hc.answered.Load() {
		hc.conn.Close()
	}
}

type h2ConnKey struct{}

// h2front is one http.Server serving HTTP/2 connections of one listener
// with one idle timeout.
type h2front struct {
	srv   *http.Server
	queue *connQueue
	conns sync.Map // net.Conn → *h2Conn, until the connection ends
}

// h2Key tells a listener's fronts apart: net/http reads IdleTimeout for
// each connection from its Server, which must not change while it serves.
type h2Key struct {
	idle time.Duration
	h2c  bool // prior knowledge, without TLS (h2c.go)
}

// h2Stats counts what the HTTP/2 server reports (CountError): protocol
// errors and the attacks it fended off, by net/http's name for them.
type h2Stats struct {
	mu     sync.Mutex
	counts map[string]*atomic.Uint64
}

func (s *h2Stats) count(kind string) {
	s.mu.Lock()
	c := s.counts[kind]
	if c == nil {
		if s.counts == nil {
			s.counts = map[string]*atomic.Uint64{}
		}
		c = &atomic.Uint64{}
		s.counts[kind] = c
	}
	s.mu.Unlock()
	c.Add(1)
}

// Errors returns a copy of the counts.
func (s *h2Stats) errors() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.counts))
	for k, v := range s.counts {
		out[k] = v.Load()
	}
	return out
}

// h2frontFor returns l's front for idle, starting it on first use; nil
// once l drains.
func (rt *Runtime) h2frontFor(l *listener, idle time.Duration, h2c bool) *h2front {
	rt.h2mu.Lock()
	defer rt.h2mu.Unlock()
	if l.draining.Load() {
		return nil
	}
	if rt.h2 == nil {
		rt.h2 = map[*listener]map[h2Key]*h2front{}
	}
	fronts := rt.h2[l]
	if fronts == nil {
		fronts = map[h2Key]*h2front{}
		rt.h2[l] = fronts
	}
	k := h2Key{idle: idle, h2c: h2c}
	if f := fronts[k]; f != nil {
		return f
	}
	f := rt.newH2front(l, idle, h2c)
	fronts[k] = f
	return f
}

func (rt *Runtime) newH2front(l *listener, idle time.Duration, h2c bool) *h2front {
	f := &h2front{queue: newConnQueue(l.ln.Addr())}
	var protos http.Protocols
	if h2c {
		protos.SetUnencryptedHTTP2(true)
	} else {
		protos.SetHTTP2(true)
	}
	f.srv = &http.Server{
		Handler:        http.HandlerFunc(rt.serveH2Stream),
		Protocols:      &protos,
		IdleTimeout:    idle,
		MaxHeaderBytes: h2MaxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:      h2MaxConcurrentStreams,
			MaxDecoderHeaderTableSize: 4096,
			MaxEncoderHeaderTableSize: 4096,
			// A client that stops reading (a flood of frames whose
			// acknowledgements it never reads, a slow reader) is cut
			// after timeout_client_data, as HAProxy's "timeout client".
			WriteByteTimeout: idle,
			CountError:       rt.h2stats.count,
		},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if hc, ok := f.conns.Load(c); ok {
				return context.WithValue(ctx, h2ConnKey{}, hc)
			}
			return ctx
		},
		ConnState: func(c net.Conn, s http.ConnState) {
			if s == http.StateClosed || s == http.StateHijacked {
				if hc, ok := f.conns.LoadAndDelete(c); ok {
					close(hc.(*h2Conn).done)
				}
			}
		},
		ErrorLog: rt.h2errorLog(),
	}
	go f.srv.Serve(f.queue)
	return f
}

func (rt *Runtime) h2errorLog() *log.Logger {
	if rt.h2log != nil {
		return rt.h2log
	}
	return log.New(io.Discard, "", 0)
}

// serveH2 serves an HTTP/2 connection that negotiated h2 until it ends.
// serveH2Conn serves an HTTP/2 connection, over TLS or (h2c) not.
func (rt *Runtime) serveH2Conn(l *listener, c net.Conn, cfg *listenerConfig, pr peer, st *connState, h2c bool) {
	remote := pr.remote
	f := rt.h2frontFor(l, cfg.clientTimeout, h2c)
	if f == nil {
		return // draining: no new connection
	}
	hc := &h2Conn{l: l, remote: remote, local: pr.local, ipText: remote.Addr().Unmap().AppendTo(nil), st: st, conn: c, done: make(chan struct{})}
	f.conns.Store(c, hc)
	if !f.queue.push(c) {
		f.conns.Delete(c)
		return
	}
	<-hc.done
}

// goAway shuts l's HTTP/2 fronts down: each connection gets GOAWAY, its
// streams in flight finish, and it closes; the listener's drain closes
// what is left at its deadline.
func (rt *Runtime) goAway(l *listener) {
	rt.h2mu.Lock()
	fronts := rt.h2[l]
	delete(rt.h2, l)
	rt.h2mu.Unlock()
	for _, f := range fronts {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), rt.opts.DrainTimeout)
			defer cancel()
			f.srv.Shutdown(ctx)
		}()
	}
}

// connQueue is a net.Listener whose connections are pushed in.
type connQueue struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.done) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }

// push hands c to the server; false once the queue is closed.
func (q *connQueue) push(c net.Conn) bool {
	select {
	case q.ch <- c:
		return true
	case <-q.done:
		return false
	}
}
