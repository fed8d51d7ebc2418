package proxy

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"lbd/internal/accesslog"
	"lbd/internal/certs"
	"lbd/internal/health"
	"lbd/internal/octavia"
	"lbd/internal/proxy/evloop"
	"lbd/internal/proxy/tlsterm"
)

// Options tune a Runtime.
type Options struct {
	// DrainTimeout bounds how long a removed listener waits for its open
	// connections before closing them. Default 30s.
	DrainTimeout time.Duration
	// Passive configures passive health for every pool; the zero value is
	// health's default (on).
	Passive health.Passive
	// Metrics serves /metrics on PROMETHEUS listeners; nil answers 404. It
	// may also be set later with SetMetrics, before the first Apply.
	Metrics http.Handler
	// NoEventLoop serves every HTTP connection with a goroutine of its
	// own, without the event loops that otherwise take keep-alive
	// connections in their steady state (loops.go).
	NoEventLoop bool
	// EventLoops is how many event loops run; 0: one per P (GOMAXPROCS).
	EventLoops int
	// LoopThreads makes each event loop wait for events in an epoll_pwait
	// of its own, keeping its P and its thread, instead of parking in Go's
	// poller (evloop.Options.OwnThread): the caller has added a P per loop
	// to GOMAXPROCS for the other goroutines. Ignored, with a warning,
	// when GOMAXPROCS is not above EventLoops.
	LoopThreads bool
	// LoopLinger is how long a loop on a thread of its own goes on polling
	// after serving before it blocks (evloop.Options.Linger); 0: it blocks
	// at once.
	LoopLinger time.Duration
	// LoopNap is how long a busy loop on a thread of its own sleeps on a
	// timer, deaf to its sockets, when lingering found nothing, before it
	// waits for them (evloop.Options.Nap); 0: it waits at once.
	LoopNap time.Duration
	// AccessLog writes the access log: a line per HTTP request and per
	// TCP connection, on the listeners that log connections. nil: none.
	AccessLog *accesslog.Logger
	// ConnectionLogging is the global switch (Octavia's [haproxy_amphora]
	// connection_logging): whether listeners log connections unless their
	// own connection_logging (provider lbd) says otherwise.
	ConnectionLogging bool
	// Certs resolves certificate refs (files, and Barbican secrets when
	// it has a Fetcher); nil reads files only.
	Certs *certs.Store
	// Tickets are the session ticket keys every TLS listener shares; nil:
	// keys generated in memory and rotated every TicketRotation.
	Tickets *tlsterm.Tickets
	// TicketRotation is how often generated ticket keys rotate (each
	// stays valid for three periods). Default 1 hour.
	TicketRotation time.Duration
	// NoSessionResumption makes every TLS handshake a full one.
	NoSessionResumption bool
}

// SetOrigins tells the runtime where the objects read from the config file
// are defined (octavia.Config.Origins), for its messages: the configs it
// applies come through the control plane, which keeps no such thing.
func (rt *Runtime) SetOrigins(origins map[string]string) { rt.origins.Store(&origins) }

// origin is where the object with that ID is defined, "" when unknown.
func (rt *Runtime) origin(cfg *octavia.Config, id string) string {
	if o := cfg.Origin(id); o != "" {
		return o
	}
	if m := rt.origins.Load(); m != nil {
		return (*m)[id]
	}
	return ""
}

// AccessLogStats reads the access log's counters.
func (rt *Runtime) AccessLogStats() accesslog.Stats { return rt.opts.AccessLog.Stats() }

// SetMetrics sets the handler PROMETHEUS listeners serve. Call it before
// the first Apply; the handler usually reads the runtime itself.
func (rt *Runtime) SetMetrics(h http.Handler) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.opts.Metrics = h
}

// Runtime is the running data plane. It implements octavia.DataPlane.
type Runtime struct {
	log  *slog.Logger
	opts Options

	mu        sync.Mutex // serializes Apply and Shutdown
	listeners map[string]*listener
	pools     map[string]*pool
	byID      map[string]*listenerConfig        // served listeners by ID; their counters carry over reloads
	lbPlans   map[*octavia.LoadBalancer]*lbPlan // what the load balancers served translated to (translate.go)
	cfg       atomic.Pointer[octavia.Config]
	origins   atomic.Pointer[map[string]string]
	closed    bool

	loops *loopSet // nil: goroutines only
	pipes pipePool // splice pipes, shared by every listener
	mem   memoryReturn

	certs       *certs.Store
	tickets     *tlsterm.Tickets
	stopTickets context.CancelFunc

	h2mu    sync.Mutex
	h2      map[*listener]map[h2Key]*h2front // HTTP/2 servers by listener (h2serve.go)
	h2stats h2Stats
	h2log   *log.Logger // the HTTP/2 servers' own log; nil: discarded (tests read it)

	metrics promServer
	applies applyCounters
}

var _ octavia.DataPlane = (*Runtime)(nil)

// New returns a Runtime serving nothing until the first Apply.
func New(log *slog.Logger, opts Options) *Runtime {
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	rt := &Runtime{
		log:       log,
		opts:      opts,
		listeners: map[string]*listener{},
		pools:     map[string]*pool{},
		byID:      map[string]*listenerConfig{},
	}
	rt.cfg.Store(&octavia.Config{})
	rt.certs = certsStore(opts.Certs)
	rt.tickets, rt.stopTickets = tickets(opts.Tickets, opts.TicketRotation)
	if !opts.NoEventLoop {
		ls, err := startLoops(log, opts.EventLoops, evloop.Options{OwnThread: opts.LoopThreads, Linger: opts.LoopLinger, Nap: opts.LoopNap})
		if err != nil {
			log.Warn("event loops not started; serving HTTP with goroutines only", "err", err)
		}
		rt.loops = ls
	}
	return rt
}

// Config returns the configuration being served. It must not be modified.
func (rt *Runtime) Config() *octavia.Config { return rt.cfg.Load() }

// Apply makes the runtime serve cfg: the model with its defaults set
// (octavia.Config.SetDefaults), validated and normalized, as octavia.Parse
// and the control plane produce it. The config is translated whole first
// (translate.go), so a config lbd cannot serve changes nothing; then new
// listener sockets are bound, so a bind error changes nothing either. Then
// pools are updated in place, listener configurations swapped, and
// listeners that are no longer configured drain in the background.
func (rt *Runtime) Apply(ctx context.Context, cfg *octavia.Config) (err error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	defer func() { rt.applies.record(err == nil) }()
	if rt.closed {
		return errors.New("apply: runtime is shut down")
	}
	want, err := rt.translate(ctx, cfg)
	if err != nil {
		return err
	}
	// Bind what is new before touching anything that runs.
	opened := map[string]*net.TCPListener{}
	for key, lc := range want.listeners {
		if _, ok := rt.listeners[key]; ok {
			continue
		}
		ln, err := listenTCP(ctx, lc.bind, lc.freebind)
		if err != nil {
			for _, o := range opened {
				o.Close()
			}
			return fmt.Errorf("%s: %w", lc.cfg.desc, err)
		}
		opened[key] = ln
	}

	// Commit. Pools first, so a swapped-in listener finds its pool ready.
	// What the config did not change is left alone: pools whose plan is
	// the same, listeners that keep the very configuration they serve.
	for id, pp := range want.pools {
		p := rt.pools[id]
		if p == nil {
			p = newPool(id, rt.log)
			rt.pools[id] = p
		}
		if err := p.update(pp); err != nil {
			// Validated input cannot fail here; log rather than leave a
			// half-applied state.
			rt.log.Error("pool update failed", "pool", pp.desc, "err", err)
		}
	}
	for key, lc := range want.listeners {
		l := rt.listeners[key]
		if l != nil && l.cfg.Load() == lc.cfg {
			continue
		}
		lc.cfg.pool = rt.pools[lc.poolID]
		for i, id := range lc.cfg.l7poolIDs {
			lc.cfg.l7pools[i] = rt.pools[id]
		}
		setDeferAccept(lc.socket(l, opened[key]), lc.cfg.protocol == octavia.ProtocolHTTP, rt.log)
		if l == nil {
			l = newListener(key, opened[key], rt)
			l.mem = &rt.mem
			l.cfg.Store(lc.cfg)
			rt.listeners[key] = l
			go l.serve()
			rt.log.Info("listener started", "listener_id", lc.cfg.id, "listener", lc.cfg.names.listener.Name, "origin", rt.origin(cfg, lc.cfg.id), "addr", lc.bind, "protocol", lc.cfg.protocol)
			continue
		}
		l.cfg.Store(lc.cfg)
		// A higher connection limit may let the accept loop go on.
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	for key, l := range rt.listeners {
		if _, ok := want.listeners[key]; ok {
			continue
		}
		delete(rt.listeners, key)
		old := l.cfg.Load()
		rt.log.Info("listener removed, draining", "listener_id", old.id, "listener", old.names.listener.Name, "addr", key)
		l.stopAccepting()
		go func() {
			dctx, cancel := context.WithTimeout(context.Background(), rt.opts.DrainTimeout)
			defer cancel()
			l.drain(dctx)
		}()
	}
	for id, p := range rt.pools {
		if _, ok := want.pools[id]; !ok {
			delete(rt.pools, id)
			p.close()
		}
	}
	rt.byID = want.byID
	rt.lbPlans = want.lbs
	rt.cfg.Store(cfg)
	rt.forgetCerts(cfg)
	return nil
}

// RereadCertificates makes the next Apply read every certificate ref
// again (lbd calls it on SIGHUP): otherwise a load balancer whose graph is
// the one applied before reuses its translation, certificates and OCSP
// staples included, and a replaced file would not be served.
func (rt *Runtime) RereadCertificates() {
	rt.mu.Lock()
	rt.lbPlans = nil
	rt.mu.Unlock()
}

// Shutdown stops accepting on every listener and waits for open connections
// to finish until ctx is done, then closes what is left.
func (rt *Runtime) Shutdown(ctx context.Context) error {
	rt.mu.Lock()
	rt.closed = true
	ls := make([]*listener, 0, len(rt.listeners))
	for _, l := range rt.listeners {
		ls = append(ls, l)
	}
	rt.listeners = map[string]*listener{}
	rt.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() { defer wg.Done(); l.drain(ctx) }()
	}
	wg.Wait()
	rt.loops.stop() // the listeners have drained: the loops serve no one
	rt.stopTickets()
	rt.mu.Lock()
	for _, p := range rt.pools {
		p.close()
	}
	rt.mu.Unlock()
	return ctx.Err()
}

func listenTCP(ctx context.Context, addr string, freebind bool) (*net.TCPListener, error) {
	// Accepted connections get no TCP keep-alive probes either (HAProxy's
	// default, without "option clitcpka"): it saves four setsockopt calls
	// per connection, and timeout_client_data ends dead clients.
	lc := net.ListenConfig{KeepAlive: -1, Control: func(network, address string, c syscall.RawConn) error {
		return listenOptions(network, address, c, freebind)
	}}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}

// listenOptions sets a listening socket's options before it binds:
// TCP_NODELAY, which the connections it accepts inherit (the event loops
// take them without the setsockopt net's Accept makes), and IP_FREEBIND
// when asked.
func listenOptions(network, address string, c syscall.RawConn, freebind bool) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}); err == nil && serr != nil {
		return fmt.Errorf("TCP_NODELAY: %w", serr)
	}
	if freebind {
		return setFreebind(network, address, c)
	}
	return nil
}

// setFreebind lets a socket bind an address this machine does not have
// (yet): IP_FREEBIND, per socket, where Octavia's amphora sets the
// system-wide net.ipv4.ip_nonlocal_bind.
func setFreebind(network, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		if network == "tcp6" {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("IP_FREEBIND: %w", err)
	}
	return nil
}

// socket is the listening socket a planned listener will use: the one it
// keeps, or the one just opened for it.
func (pl *plannedListener) socket(l *listener, opened *net.TCPListener) *net.TCPListener {
	if l != nil {
		return l.ln
	}
	return opened
}

// deferAcceptSeconds bounds how long the kernel holds a connection that has
// sent nothing before handing it to lbd anyway.
const deferAcceptSeconds = 5

// setDeferAccept turns TCP_DEFER_ACCEPT on for HTTP listeners, where the
// client speaks first: accept returns once the request's first bytes are
// there, so the first read succeeds at once instead of costing a wasted
// read, a park and a wake-up per connection; a client that connects and
// sends nothing never takes a connection slot. TCP listeners keep it off:
// their protocol may have the server speak first. A listener whose
// protocol changes on reload is switched.
func setDeferAccept(ln *net.TCPListener, on bool, log *slog.Logger) {
	rc, err := ln.SyscallConn()
	if err != nil {
		return
	}
	secs := 0
	if on {
		secs = deferAcceptSeconds
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, secs)
	}); err == nil && serr != nil {
		log.Warn("TCP_DEFER_ACCEPT not set; accepting without it", "addr", ln.Addr().String(), "err", serr)
	}
}
