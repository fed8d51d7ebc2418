package proxy

import (
	"net"
	"net/netip"

	"lbd/internal/octavia"
	"lbd/internal/proxy/tlsterm"
)

// peer is a client connection's two ends: the client, and the address it
// reached (the listener's VIP and port), as the socket or a trusted
// upstream's PROXY header says.
type peer struct {
	remote, local netip.AddrPort
	// tls is a TLS client's handshake (nil over plain TCP), which a
	// PROXYV2 pool's header describes.
	tls *tlsterm.Peer
}

// serve is the Runtime's side of engines: each accepted connection goes
// to the engine for its listener's protocol.
func (rt *Runtime) serve(l *listener, c *net.TCPConn, cfg *listenerConfig, remote, local netip.AddrPort, pre []byte, st *connState) (moved bool) {
	switch cfg.protocol {
	case octavia.ProtocolHTTP:
		return serveHTTP(rt.loops, l, c, peer{remote: remote, local: local}, st, cfg.traffic, pre, nil)
	case octavia.ProtocolTerminatedHTTPS:
		rt.serveTLS(l, c, cfg, peer{remote: remote, local: local}, pre, st)
	case octavia.ProtocolPrometheus:
		// Scrapes are short: a drain may cut them. The handler was set
		// before the first Apply.
		st.closeOnDrain.Store(true)
		if cfg.tls != nil {
			rt.servePrometheusTLS(c, cfg, remote)
		} else {
			rt.metrics.serve(c, rt.opts.Metrics)
		}
	default: // TCP, and HTTPS passed through as TCP
		return serveTCP(rt.loops, l, cfg, c, peer{remote: remote, local: local}, pre)
	}
	return false
}

// closeLooped closes l's connections the event loops hold; when l starts
// draining (all false), its HTTP/2 connections get GOAWAY.
func (rt *Runtime) closeLooped(l *listener, all bool) {
	if !all {
		rt.goAway(l)
	}
	rt.loops.closeListener(l, all)
}

// takesAccepted is the Runtime's side of engines: the event loops take
// plain HTTP listeners' new connections, but those that must begin with a
// PROXY header, which the goroutine path reads.
func (rt *Runtime) takesAccepted(cfg *listenerConfig) bool {
	return rt.loops != nil && cfg.protocol == octavia.ProtocolHTTP && cfg.proxyFrom == nil
}

// adoptAccepted hands a socket just accepted to the next event loop, which
// reads its first request at once (TCP_DEFER_ACCEPT held the accept until
// it came). What the loop does not serve goes to a goroutine from there.
func (rt *Runtime) adoptAccepted(l *listener, fd int, cfg *listenerConfig, remote, local netip.AddrPort) {
	rt.loops.adopt(nil, &loopMove{l: l, traffic: cfg.traffic, remote: remote, local: local, fd: fd, back: resumeHTTP, fresh: true})
}
