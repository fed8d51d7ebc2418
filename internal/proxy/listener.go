package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"lbd/internal/accesslog"
	"lbd/internal/octavia"
	"lbd/internal/proxy/evloop"
	"lbd/internal/proxy/l7"
	"lbd/internal/proxy/tlsterm"
	"lbd/internal/stats"
)

// listenerConfig is everything a connection needs from its listener's
// configuration. It is immutable: Apply builds a new one and swaps it in.
type listenerConfig struct {
	id             string
	desc           string // how messages name it: name, ID and where it is defined
	lbID           string
	protocol       octavia.Protocol
	port           int
	pool           *pool // nil when the listener has no default pool
	connLimit      int64 // -1: unlimited
	clientTimeout  time.Duration
	connectTimeout time.Duration
	memberTimeout  time.Duration
	xff            bool // insert X-Forwarded-For
	xfPort         bool // insert X-Forwarded-Port
	xfProto        bool // insert X-Forwarded-Proto
	portText       []byte
	allowed        []netip.Prefix // nil: every source is allowed
	tls            *listenerTLS   // TERMINATED_HTTPS only (tlsserve.go)
	traffic        *stats.Traffic
	log            *slog.Logger
	// access logs the listener's requests (HTTP) or connections (TCP);
	// nil when connection logging is off for it. names fill its records.
	access *accesslog.Logger
	names  accessNames
	pipes  *pipePool // the runtime's, for splicing bodies and tunnels

	// L7 policies: nil when the listener has none that can match. Their
	// REDIRECT_TO_POOL targets are indexes into l7pools, which Apply fills
	// once the pools exist (l7poolIDs names them).
	l7        *l7.Table[int]
	l7pools   []*pool
	l7poolIDs []string
	// proxyFrom are the upstreams that must begin each connection with a
	// PROXY protocol header (accept_proxy_protocol); nil: off.
	proxyFrom []netip.Prefix
}

// trustsProxy reports whether a connection from a must send a PROXY
// header.
func (c *listenerConfig) trustsProxy(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range c.proxyFrom {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (c *listenerConfig) allows(a netip.Addr) bool {
	if c.allowed == nil {
		return true
	}
	a = a.Unmap()
	for _, p := range c.allowed {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// engines serve the connections a listener accepts; the Runtime is the one
// implementation (serve.go). A listener knows them only through this.
type engines interface {
	// serve serves c until it ends, and reports whether it moved into an
	// event loop instead, which then owns it and its connection count.
	// remote is the client and local the address it reached, as the
	// socket or a trusted upstream's PROXY header says.
	serve(l *listener, c *net.TCPConn, cfg *listenerConfig, remote, local netip.AddrPort, pre []byte, st *connState) (moved bool)
	// closeLooped closes l's connections that the event loops hold: the
	// idle ones, or all.
	closeLooped(l *listener, all bool)
	// takesAccepted reports whether an event loop takes the connections
	// a listener with cfg accepts as they come, as bare sockets
	// (adoptAccepted).
	takesAccepted(cfg *listenerConfig) bool
	// adoptAccepted gives a socket just accepted, which takesAccepted
	// said an event loop takes, to one; it then owns the socket and its
	// connection count.
	adoptAccepted(l *listener, fd int, cfg *listenerConfig, remote, local netip.AddrPort)
}

// listener owns one bound socket, its accept loop, and the count of its
// open connections, whichever engine serves them. Its configuration is
// swapped atomically on reload; the socket stays.
type listener struct {
	key string // transport/address:port, the identity that keeps the socket
	ln  *net.TCPListener
	// acc is a second descriptor of ln's socket in Go's poller, for
	// acceptRaw (a TCPListener's own RawConn cannot wait to read); nil
	// when it could not be made, and then net accepts every connection.
	acc *os.File
	raw syscall.RawConn
	// addr is the address the socket is bound to: every connection's
	// local address, unless it is a wildcard (then invalid).
	addr netip.AddrPort
	cfg  atomic.Pointer[listenerConfig]
	eng  engines
	mem  *memoryReturn // the runtime's; nil: none
	wake chan struct{} // a connection ended: the accept loop may go on
	done chan struct{} // closed when the listener stops accepting
	stop sync.Once     // stopAccepting's

	active   atomic.Int64
	draining atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex // guards conns; taken on open and close only
	conns    map[*net.TCPConn]*connState
}

// connState lets a drain tell idle keep-alive connections from busy ones.
type connState struct {
	// accepted is when the connection was accepted, for the access log
	// of its first request; zero when its listener does not log.
	accepted time.Time
	idle     atomic.Bool
	// closeOnDrain: the connection is served by net/http (PROMETHEUS),
	// which resets deadlines itself, so a drain closes it outright.
	closeOnDrain atomic.Bool
	// peer is a TLS client's certificate, for the X-SSL-* headers; nil
	// over plain TCP. Set once, after the handshake, before any request.
	peer *tlsterm.Peer
}

func newListener(key string, ln *net.TCPListener, eng engines) *listener {
	acc, raw := acceptFile(ln)
	addr := ln.Addr().(*net.TCPAddr).AddrPort()
	if addr.Addr().IsUnspecified() {
		addr = netip.AddrPort{}
	}
	return &listener{
		key:   key,
		ln:    ln,
		acc:   acc,
		raw:   raw,
		addr:  addr,
		eng:   eng,
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
		conns: map[*net.TCPConn]*connState{},
	}
}

// serve accepts until the listener is closed. While connection_limit
// connections are open it stops accepting, as HAProxy's maxconn does: new
// clients wait in the kernel's backlog instead of being refused.
func (l *listener) serve() {
	var backoff time.Duration
	for {
		for {
			limit := l.cfg.Load().connLimit
			if limit < 0 || l.active.Load() < limit {
				break
			}
			select {
			case <-l.wake:
			case <-l.done:
				return
			}
		}
		var c *net.TCPConn
		var err error
		if l.acc != nil && l.eng.takesAccepted(l.cfg.Load()) {
			var fd int
			var remote netip.AddrPort
			if fd, remote, err = l.acceptRaw(); err == nil {
				backoff = 0
				if c = l.adoptRaw(fd, remote); c == nil {
					continue
				}
			}
		} else {
			c, err = l.ln.AcceptTCP()
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.draining.Load() {
				return // closed (acc's error for it is internal/poll's own)
			}
			// Out of file descriptors and the like: back off, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.cfg.Load().log.Warn("accept failed", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-l.done:
				return
			}
			continue
		}
		backoff = 0
		l.admit(c)
	}
}

// admit starts serving a connection net accepted, on a goroutine of its
// own, or refuses it.
func (l *listener) admit(c *net.TCPConn) {
	cfg := l.cfg.Load()
	remote := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	// allowed_cidrs judge the client: behind a trusted upstream, the
	// one its PROXY header names (handle checks it).
	if !cfg.allows(remote.Addr()) && !(cfg.proxyFrom != nil && cfg.trustsProxy(remote.Addr())) {
		cfg.traffic.Denied.Add(1)
		c.SetLinger(0)
		c.Close()
		return
	}
	st := &connState{}
	if cfg.access != nil {
		st.accepted = time.Now()
	}
	l.track(c, st)
	l.opened(cfg)
	go l.handle(c, cfg, remote, st)
}

// opened counts a connection admitted under cfg.
func (l *listener) opened(cfg *listenerConfig) {
	l.active.Add(1)
	if l.mem != nil {
		l.mem.opened()
	}
	cfg.traffic.NoteActive(cfg.traffic.Active.Add(1))
	cfg.traffic.Connections.Add(1)
	l.wg.Add(1)
}

// acceptFile makes acc, a descriptor of ln's socket that Go's poller
// waits on for acceptRaw; nil when it cannot.
func acceptFile(ln *net.TCPListener) (*os.File, syscall.RawConn) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return nil, nil
	}
	fd := -1
	rc.Control(func(s uintptr) {
		if r, err := unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0); err == nil {
			fd = r
		}
	})
	if fd < 0 {
		return nil, nil
	}
	acc := os.NewFile(uintptr(fd), "listener")
	raw, err := acc.SyscallConn()
	if err != nil {
		acc.Close()
		return nil, nil
	}
	return acc, raw
}

// acceptRaw accepts a connection with accept4 on the listening socket,
// waiting in Go's poller, and returns its bare socket. An event loop takes
// it as it is: none of what net's Accept does for a *net.TCPConn (a
// getsockname, TCP_NODELAY, which the socket has from the listening one,
// registering with Go's poller and, at close, unregistering) is needed,
// four system calls of about twelve per connection that carries one
// request.
func (l *listener) acceptRaw() (fd int, remote netip.AddrPort, err error) {
	// syscall's Accept4, not x/sys/unix's: that one asks the socket's
	// protocol with a getsockopt per connection.
	var sa syscall.Sockaddr
	var aerr error
	err = l.raw.Read(func(s uintptr) bool {
		for {
			fd, sa, aerr = syscall.Accept4(int(s), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
			if aerr != syscall.EINTR && aerr != syscall.ECONNABORTED {
				return aerr != syscall.EAGAIN
			}
		}
	})
	if err == nil {
		err = aerr
	}
	if err != nil {
		return -1, netip.AddrPort{}, err
	}
	return fd, sockaddrPort(sa), nil
}

// sockaddrPort is a TCP socket address as an AddrPort.
func sockaddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *syscall.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// adoptRaw admits a connection acceptRaw accepted: an event loop takes it,
// or it is refused. When the configuration changed while the accept waited
// and no loop takes it now, it returns the connection as net's Accept
// would have, for admit; nil otherwise.
func (l *listener) adoptRaw(fd int, remote netip.AddrPort) *net.TCPConn {
	cfg := l.cfg.Load()
	if !l.eng.takesAccepted(cfg) {
		c, err := evloop.Attach(fd)
		if err != nil {
			cfg.log.Warn("accept failed", "err", err)
			return nil
		}
		return c
	}
	if !cfg.allows(remote.Addr()) {
		cfg.traffic.Denied.Add(1)
		syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
		syscall.Close(fd)
		return nil
	}
	local := l.addr
	if !local.IsValid() {
		sa, err := syscall.Getsockname(fd)
		if err != nil {
			syscall.Close(fd)
			return nil
		}
		local = sockaddrPort(sa)
	}
	l.opened(cfg)
	l.eng.adoptAccepted(l, fd, cfg, remote, local)
	return nil
}

func (l *listener) handle(c *net.TCPConn, cfg *listenerConfig, remote netip.AddrPort, st *connState) {
	moved := false
	defer func() {
		if !moved {
			l.closeConn(c, cfg.traffic)
		}
	}()
	local := c.LocalAddr().(*net.TCPAddr).AddrPort()
	var pre []byte
	if cfg.proxyFrom != nil && cfg.trustsProxy(remote.Addr()) {
		var err error
		if remote, local, pre, err = readProxyHeader(c, remote, local, cfg.clientTimeout); err != nil {
			cfg.traffic.RequestErrors.Add(1)
			cfg.log.Debug("PROXY header refused", "upstream", remote, "err", err)
			return
		}
		if !cfg.allows(remote.Addr()) {
			cfg.traffic.Denied.Add(1)
			c.SetLinger(0)
			return
		}
	}
	moved = l.eng.serve(l, c, cfg, remote, local, pre, st)
}

// track and untrack keep the goroutine-served connections a drain must
// reach; the event loops keep their own (closeLooped).
func (l *listener) track(c *net.TCPConn, st *connState) {
	l.mu.Lock()
	l.conns[c] = st
	l.mu.Unlock()
}

func (l *listener) untrack(c *net.TCPConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// closeConn ends a connection served by a goroutine.
func (l *listener) closeConn(c *net.TCPConn, traffic *stats.Traffic) {
	c.Close()
	l.untrack(c)
	l.connEnded(traffic)
}

// connEnded accounts for a client connection that closed, whichever engine
// served it last: traffic is the listener's counters it was accepted under.
func (l *listener) connEnded(traffic *stats.Traffic) {
	traffic.Active.Add(-1)
	l.active.Add(-1)
	if l.mem != nil {
		l.mem.closed()
	}
	select {
	case l.wake <- struct{}{}:
	default:
	}
	l.wg.Done()
}

// stopAccepting closes the listening socket: when it returns, a new
// connection to the listener's address is refused (closing a descriptor
// Go's poller waits on returns once the descriptor is closed). Apply calls
// it for a listener it removes before it returns, so that the port is
// closed when the API answers; drain, in the background, does the rest.
func (l *listener) stopAccepting() {
	l.stop.Do(func() {
		l.draining.Store(true)
		close(l.done)
		l.ln.Close()
		if l.acc != nil {
			l.acc.Close() // the socket closes with its last descriptor
		}
	})
}

// drain stops accepting, lets open connections finish (idle keep-alive
// connections are closed at once, busy ones after their current request),
// and after ctx is done closes whatever is left.
func (l *listener) drain(ctx context.Context) {
	l.stopAccepting()
	l.wakeIdle()
	finished := make(chan struct{})
	go func() { l.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return
	case <-ctx.Done():
	}
	l.mu.Lock()
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.eng.closeLooped(l, true)
	<-finished
}

// wakeIdle makes HTTP connections waiting for a next request notice that the
// listener is draining.
func (l *listener) wakeIdle() {
	l.eng.closeLooped(l, false)
	l.mu.Lock()
	defer l.mu.Unlock()
	for c, st := range l.conns {
		switch {
		case st.closeOnDrain.Load():
			c.Close()
		case st.idle.Load():
			c.SetReadDeadline(time.Now())
		}
	}
}
