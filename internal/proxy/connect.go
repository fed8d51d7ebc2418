package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"lbd/internal/balancer"
	"lbd/internal/proxy/http1"
	"lbd/internal/proxy/proxyproto"
	"lbd/internal/proxy/tlsterm"
)

// maxConnectAttempts is HAProxy's "retries 3" plus the first try. With
// "option redispatch", which Octavia sets, retries go to other members.
const maxConnectAttempts = 4

// connectRequest is a connection a request wants from a pool.
type connectRequest struct {
	src     netip.AddrPort // the client, for SOURCE_IP and a PROXY header
	dst     netip.AddrPort // the address the client reached, for a PROXY header
	tls     *tlsterm.Peer  // a TLS client's handshake, for a PROXYV2 header; nil over plain TCP
	req     *http1.Head    // the HTTP request, for session persistence; nil for TCP
	timeout time.Duration  // per connect attempt
	// avoid is a member that just failed this request: another is
	// preferred if one is ready.
	avoid *balancer.Member
	// tried is how many of maxConnectAttempts were made already (by the
	// event loop, whose failed connect to avoid handed the request over).
	tried int
	// first is a member already picked and acquired for this request (by
	// the event loop that handed it over): the first attempt goes there.
	first *balancer.Member
	// idle, for HTTP, has idle keep-alive connections to reuse.
	idle idleSource
}

// idleSource gives out an idle connection to a member, or nil.
type idleSource interface {
	takeIdle(m *balancer.Member) *upstreamConn
}

// memberConn is a member picked for a request and a connection to it: a new
// one (conn), or an idle one reused (reused).
type memberConn struct {
	m      *balancer.Member
	conn   net.Conn // TCP, or TLS over it for a tls_enabled pool
	reused *upstreamConn
}

// connect picks a member for r and returns a connection to it: an idle
// one if r.idle has one, else a new one. When a connect fails (refused,
// unreachable, timed out) it retries on another member, like HAProxy's
// "retries 3" with "option redispatch", so a client sees no error while
// another member is up. The caller owns the connection and must Release
// the member; on error nothing is left acquired, r.first included.
func (p *pool) connect(ctx context.Context, r *connectRequest) (memberConn, error) {
	first := r.first
	if !p.enabled.Load() {
		if first != nil {
			first.Release()
		}
		return memberConn{}, balancer.ErrNoMember
	}
	failed := r.avoid
	var lastErr error
	for attempt := r.tried; attempt < maxConnectAttempts; attempt++ {
		m, err := first, error(nil)
		if first == nil {
			m, err = p.bal.PickExcept(r.src, failed)
		}
		first = nil
		if err != nil {
			break // no member ready
		}
		if failed != nil {
			if m.State != failed.State {
				m.Traffic.Redispatches.Add(1)
			} else {
				m.Traffic.Retries.Add(1)
			}
		}
		if r.idle != nil {
			if uc := r.idle.takeIdle(m); uc != nil {
				return memberConn{m: m, reused: uc}, nil
			}
		}
		start := time.Now()
		c, err := p.dial(ctx, m.Addr, r.timeout, peer{r.src, r.dst, r.tls})
		if err == nil {
			m.Traffic.ConnectTime.Observe(time.Since(start))
			m.Traffic.Connections.Add(1)
			if failed != nil {
				p.redispatched(r.src, r.req, m) // the sticky member failed: the client moves
			}
			return memberConn{m: m, conn: c}, nil
		}
		m.Traffic.ConnectErrors.Add(1)
		m.Observer().ConnectFailure()
		m.Release()
		failed, lastErr = m, fmt.Errorf("connect to member %s (%s): %w", m.ID, m.Addr, err)
		if ctx.Err() != nil {
			return memberConn{}, lastErr
		}
	}
	if m, c, err := p.connectEjected(ctx, r.timeout, peer{r.src, r.dst, r.tls}); err == nil {
		return memberConn{m: m, conn: c}, nil
	}
	if lastErr != nil {
		return memberConn{}, lastErr
	}
	return memberConn{}, balancer.ErrNoMember
}

// connectEjected is the last resort when no ready member took the
// connection: a member that passive health ejected may well be back (it was
// ejected for failures its ejection outlasts, and nothing probes it), and
// trying it beats a 503. This happens when the ejection cap left a member
// that is down in the ready set while one that came back is still out.
// Members that an active monitor marked down, that are disabled or that
// have weight 0 are not tried.
func (p *pool) connectEjected(ctx context.Context, timeout time.Duration, pr peer) (*balancer.Member, net.Conn, error) {
	for _, m := range p.bal.Members() {
		if !m.Enabled || m.Weight == 0 || m.Healthy() {
			continue
		}
		if st, ok := p.mon.Member(m.ID); !ok || !st.Ejected {
			continue
		}
		m.Acquire()
		start := time.Now()
		c, err := p.dial(ctx, m.Addr, timeout, pr)
		if err == nil {
			m.Traffic.ConnectTime.Observe(time.Since(start))
			m.Traffic.Connections.Add(1)
			m.Traffic.Redispatches.Add(1)
			return m, c, nil
		}
		m.Traffic.ConnectErrors.Add(1)
		m.Release()
	}
	return nil, nil, balancer.ErrNoMember
}

// dial connects to a member of p within timeout and, for a PROXY or
// PROXYV2 pool, sends the PROXY header that names the client pr (as
// HAProxy's send-proxy and send-proxy-v2 do) before anything else; then,
// for a tls_enabled pool, speaks TLS (HAProxy too sends the header first).
func (p *pool) dial(ctx context.Context, addr netip.AddrPort, timeout time.Duration, pr peer) (net.Conn, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	c, err := dialMember(ctx, addr, timeout)
	if err != nil {
		return nil, err
	}
	if err := p.sendProxyHeader(c, timeout, pr); err != nil {
		return nil, err
	}
	if cfg := p.tls.Load(); cfg != nil {
		return handshakeMember(ctx, c, cfg, deadline)
	}
	return c, nil
}

func dialMember(ctx context.Context, addr netip.AddrPort, timeout time.Duration) (*net.TCPConn, error) {
	// No TCP keep-alive probes (Go enables them by default, at the cost of
	// four setsockopt calls per connection): idle timeouts and health checks
	// find dead members, as HAProxy does without "option srvtcpka".
	d := net.Dialer{Timeout: timeout, KeepAlive: -1}
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// sendProxyHeader writes a PROXY or PROXYV2 pool's header naming pr to a
// fresh member connection; nothing for other pools.
func (p *pool) sendProxyHeader(c *net.TCPConn, timeout time.Duration, pr peer) error {
	v := p.proxyVersion()
	if v == 0 {
		return nil
	}
	var buf [256]byte // the longest version 1 header takes 108, a version 2 without TLVs 52
	var hdr []byte
	if v == 1 {
		hdr = proxyproto.AppendV1(buf[:0], pr.remote, pr.local)
	} else {
		hdr = proxyproto.AppendV2(buf[:0], pr.remote, pr.local, proxySSL(pr.tls))
	}
	if timeout > 0 {
		c.SetWriteDeadline(time.Now().Add(timeout))
	}
	if _, err := c.Write(hdr); err != nil {
		c.Close()
		return fmt.Errorf("send PROXY header: %w", err)
	}
	c.SetWriteDeadline(time.Time{})
	return nil
}

// proxySSL is what a PROXYV2 header says of a TLS client's connection: as
// the amphora's HAProxy, whose server line for a PROXYV2 pool behind a
// TERMINATED_HTTPS listener is "send-proxy-v2-ssl-cn" (Octavia's
// macros.j2), the protocol ALPN chose, the TLS version, whether the
// session has a client certificate and whether it came on this connection,
// its verification result, and its first common name. Nothing over plain
// TCP (nil): the amphora's "send-proxy-v2".
func proxySSL(p *tlsterm.Peer) *proxyproto.SSL {
	if p == nil {
		return nil
	}
	return &proxyproto.SSL{ALPN: p.ALPN, Cert: p.ClientCertUsed(), CertConn: !p.Resumed,
		Verify: uint32(p.VerifyResult()), Version: p.Protocol, CN: p.CN}
}
