package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"lbd/internal/balancer"
	"lbd/internal/health"
	"lbd/internal/octavia"
)

// maxConnectAttempts is HAProxy's "retries 3" plus the first try. With
// "option redispatch", which Octavia sets, retries go to other members.
const maxConnectAttempts = 4

// errNoMember is returned when no member could take a connection.
var errNoMember = errors.New("no member available")

// pool is a pool as the data plane runs it: the balancer plus what
// forwarding needs. It is updated in place on reload, so connections that
// hold it keep working.
type pool struct {
	id       string
	bal      *balancer.Pool
	mon      *health.Monitor
	stopMon  context.CancelFunc
	enabled  atomic.Bool
	protocol atomic.Pointer[octavia.Protocol]
	idle     *idlePool // HTTP keep-alive connections to members
}

// newPool starts a pool's balancer and health monitor; the monitor's
// verdicts move members in and out of the balancer's ready set.
func newPool(id string, log *slog.Logger) *pool {
	p := &pool{id: id, bal: balancer.NewPool(balancer.RoundRobin, nil), idle: newIdlePool()}
	p.mon = health.NewMonitor(health.Options{
		PoolID: id,
		Log:    log,
		Report: func(memberID string, up bool, _ string) { p.bal.SetHealthy(memberID, up) },
	})
	ctx, cancel := context.WithCancel(context.Background())
	p.stopMon = cancel
	go p.mon.Run(ctx)
	go p.idle.reap(ctx)
	return p
}

// update applies a pool's translated configuration: members to the
// balancer first, then to the monitor (which may report at once), then each
// member's passive-health observer.
func (p *pool) update(pp *poolPlan) error {
	p.protocol.Store(&pp.protocol)
	p.enabled.Store(pp.enabled)
	p.bal.Update(pp.alg, pp.members)
	p.idle.retain(p.bal.Members())
	if err := p.mon.Update(pp.health, pp.targets); err != nil {
		return fmt.Errorf("pool %s health monitor: %w", pp.id, err)
	}
	for _, m := range p.bal.Members() {
		m.SetObserver(p.mon.Observer(m.ID))
	}
	return nil
}

// close releases what the pool holds once it is no longer configured.
func (p *pool) close() {
	p.stopMon()
	p.idle.retain(nil)
}

// connect picks a member for src and returns a connection to it: an idle
// keep-alive connection if reuse finds one (HTTP), else a new one. When a
// connect fails (refused, unreachable, timed out) it retries on another
// member, like HAProxy's "retries 3" with "option redispatch", so a client
// sees no error while another member is up. The caller owns the connection
// and must Release the member. avoid, when set, is a member that just
// failed this request: another is preferred if one is ready. first, when
// set, is a member already picked (and acquired) for this request, by the
// event loop that handed it over: the first attempt goes there.
func (p *pool) connect(ctx context.Context, src netip.AddrPort, timeout time.Duration, reuse func(*balancer.Member) *upstreamConn, avoid, first *balancer.Member) (*balancer.Member, *net.TCPConn, *upstreamConn, error) {
	if !p.enabled.Load() {
		if first != nil {
			first.Release()
		}
		return nil, nil, nil, errNoMember
	}
	failed := avoid
	var lastErr error
	for attempt := 0; attempt < maxConnectAttempts; attempt++ {
		m, err := first, error(nil)
		if first == nil {
			m, err = p.bal.PickExcept(src, failed)
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
		if reuse != nil {
			if uc := reuse(m); uc != nil {
				return m, nil, uc, nil
			}
		}
		start := time.Now()
		c, err := dialMember(ctx, m.Addr, timeout)
		if err == nil {
			m.Traffic.ConnectTime.Observe(time.Since(start))
			m.Traffic.Connections.Add(1)
			return m, c, nil, nil
		}
		m.Traffic.ConnectErrors.Add(1)
		m.Observer().ConnectFailure()
		m.Release()
		failed, lastErr = m, fmt.Errorf("connect to member %s (%s): %w", m.ID, m.Addr, err)
		if ctx.Err() != nil {
			return nil, nil, nil, lastErr
		}
	}
	if m, c, err := p.connectEjected(ctx, timeout); err == nil {
		return m, c, nil, nil
	}
	if lastErr != nil {
		return nil, nil, nil, lastErr
	}
	return nil, nil, nil, errNoMember
}

// connectEjected is the last resort when no ready member took the
// connection: a member that passive health ejected may well be back (it was
// ejected for failures its ejection outlasts, and nothing probes it), and
// trying it beats a 503. This happens when the ejection cap left a member
// that is down in the ready set while one that came back is still out.
// Members that an active monitor marked down, that are disabled or that
// have weight 0 are not tried.
func (p *pool) connectEjected(ctx context.Context, timeout time.Duration) (*balancer.Member, *net.TCPConn, error) {
	for _, m := range p.bal.Members() {
		if !m.Enabled || m.Weight == 0 || m.Healthy() {
			continue
		}
		if st, ok := p.mon.Member(m.ID); !ok || !st.Ejected {
			continue
		}
		m.Acquire()
		start := time.Now()
		c, err := dialMember(ctx, m.Addr, timeout)
		if err == nil {
			m.Traffic.ConnectTime.Observe(time.Since(start))
			m.Traffic.Connections.Add(1)
			m.Traffic.Redispatches.Add(1)
			return m, c, nil
		}
		m.Traffic.ConnectErrors.Add(1)
		m.Release()
	}
	return nil, nil, errNoMember
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
