package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"

	"lbd/internal/balancer"
	"lbd/internal/health"
	"lbd/internal/octavia"
)

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
	idle     *idlePool                   // HTTP keep-alive connections to members
	plan     *poolPlan                   // the plan last applied; guarded by the runtime's lock
	persist  atomic.Pointer[persistence] // nil: no session persistence
	// tls is how a tls_enabled pool speaks to its members; nil: plain
	// TCP. tlsKey (guarded by the runtime's lock, as update is) says
	// what it was built from.
	tls    atomic.Pointer[tls.Config]
	tlsKey string
}

// proxyVersion is the PROXY protocol version the pool's members get ahead
// of each connection (pool protocol PROXY or PROXYV2), 0 for none.
func (p *pool) proxyVersion() int {
	switch *p.protocol.Load() {
	case octavia.ProtocolProxy:
		return 1
	case octavia.ProtocolProxyV2:
		return 2
	}
	return 0
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
// member's passive-health observer. Parts that did not change since the
// last update are left alone, and a plan that changes nothing costs
// nothing: a change elsewhere in a big configuration must not rebuild a
// pool of 10,000 members.
func (p *pool) update(pp *poolPlan) error {
	old := p.plan
	if pp.sameAs(old) {
		p.plan = pp
		return nil
	}
	p.protocol.Store(&pp.protocol)
	p.enabled.Store(pp.enabled)
	if pp.tlsKey != p.tlsKey {
		// Connections made the old way (plain, or other TLS settings)
		// must not carry requests any more.
		p.idle.retain(nil)
		p.tls.Store(pp.tls)
		p.tlsKey = pp.tlsKey
	}
	members := old == nil || pp.alg != old.alg || !slices.Equal(pp.members, old.members)
	if members {
		p.bal.Update(pp.alg, pp.members)
		p.idle.retain(p.bal.Members())
	}
	if members || pp.persist != old.persist {
		p.persist.Store(newPersistence(pp.persist, p.persist.Load(), p.bal.Members()))
	}
	if old == nil || pp.health != old.health || !slices.Equal(pp.targets, old.targets) {
		if err := p.mon.Update(pp.health, pp.targets); err != nil {
			return fmt.Errorf("%s health monitor: %w", pp.desc, err)
		}
		members = true
	}
	if members {
		for _, m := range p.bal.Members() {
			m.SetObserver(p.mon.Observer(m.ID))
		}
	}
	p.plan = pp
	return nil
}

// close releases what the pool holds once it is no longer configured.
func (p *pool) close() {
	p.stopMon()
	p.idle.retain(nil)
}
