package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"lbd/internal/balancer"
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
	enabled  atomic.Bool
	protocol atomic.Pointer[octavia.Protocol]
	idle     *idlePool // HTTP keep-alive connections to members
}

func newPool(id string) *pool {
	p := &pool{id: id, bal: balancer.NewPool(balancer.RoundRobin, nil), idle: newIdlePool()}
	return p
}

// update applies a pool's configuration.
func (p *pool) update(cfg *octavia.Pool) error {
	alg, err := balancer.ParseAlgorithm(string(cfg.LBAlgorithm))
	if err != nil {
		return fmt.Errorf("pool %s: %w", cfg.ID, err)
	}
	members := make([]balancer.MemberConfig, 0, len(cfg.Members))
	for _, m := range cfg.Members {
		addr, err := netip.ParseAddr(m.Address)
		if err != nil {
			return fmt.Errorf("member %s address: %w", m.ID, err)
		}
		members = append(members, balancer.MemberConfig{
			ID:      m.ID,
			Addr:    netip.AddrPortFrom(addr.Unmap(), uint16(m.ProtocolPort)),
			Weight:  octavia.IntOr(m.Weight, octavia.DefaultWeight),
			Backup:  m.Backup != nil && *m.Backup,
			Enabled: m.Enabled(),
		})
	}
	proto := cfg.Protocol
	p.protocol.Store(&proto)
	p.enabled.Store(cfg.Enabled())
	p.bal.Update(alg, members)
	p.idle.retain(p.bal.Members())
	return nil
}

// close releases what the pool holds once it is no longer configured.
func (p *pool) close() { p.idle.retain(nil) }

// connect picks a member for src and returns a connection to it: an idle
// keep-alive connection if reuse finds one (HTTP), else a new one. When a
// connect fails (refused, unreachable, timed out) it retries on another
// member, like HAProxy's "retries 3" with "option redispatch", so a client
// sees no error while another member is up. The caller owns the connection
// and must Release the member.
func (p *pool) connect(ctx context.Context, src netip.AddrPort, timeout time.Duration, reuse func(*balancer.Member) *upstreamConn) (*balancer.Member, *net.TCPConn, *upstreamConn, error) {
	if !p.enabled.Load() {
		return nil, nil, nil, errNoMember
	}
	var failed *balancer.Member
	var lastErr error
	for attempt := 0; attempt < maxConnectAttempts; attempt++ {
		m, err := p.bal.PickExcept(src, failed)
		if err != nil {
			if lastErr != nil {
				return nil, nil, nil, lastErr
			}
			return nil, nil, nil, errNoMember
		}
		if attempt > 0 {
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
		c, err := dialMember(ctx, m.Addr, timeout)
		if err == nil {
			m.Traffic.Connections.Add(1)
			return m, c, nil, nil
		}
		m.Traffic.ConnectErrors.Add(1)
		m.Release()
		failed, lastErr = m, fmt.Errorf("connect to member %s (%s): %w", m.ID, m.Addr, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, nil, nil, lastErr
}

func dialMember(ctx context.Context, addr netip.AddrPort, timeout time.Duration) (*net.TCPConn, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}
