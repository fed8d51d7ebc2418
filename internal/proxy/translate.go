package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"lbd/internal/balancer"
	"lbd/internal/health"
	"lbd/internal/octavia"
	"lbd/internal/proxy/l7"
	"lbd/internal/stats"
)

// This file is the one translation from the Octavia model to what the data
// plane runs: listener configurations, balancer members and algorithms,
// health monitor configurations and targets. Apply translates the whole
// config first and commits the result only if all of it translated, so a
// config lbd cannot serve changes nothing. Nothing else turns the model
// into running objects.
//
// The model arrives with its defaults set (octavia.Config.SetDefaults, the
// one place defaults are decided), validated and normalized; the
// translation reads each value as set, without defaulting it again, and
// parses each address once. Ranges are the model's rules and are not
// checked again here.

// plan is a config translated into what the runtime runs, before any of it
// is committed.
type plan struct {
	listeners map[string]*plannedListener // by bind key
	byID      map[string]*listenerConfig  // the same listeners, by listener ID
	pools     map[string]*poolPlan        // by pool ID
	// lbs is each load balancer's share of the plan, by the graph it was
	// translated from: the next Apply reuses it for a graph it gets again.
	lbs map[*octavia.LoadBalancer]*lbPlan
}

// lbPlan is what one enabled load balancer translates to.
type lbPlan struct {
	listeners []*plannedListener
	pools     []*poolPlan
}

type plannedListener struct {
	key    string // bind key: transport/address:port
	bind   string
	poolID string
	cfg    *listenerConfig
	// freebind binds the address before it is this machine's: the VIP of
	// an ACTIVE_STANDBY load balancer, which keepalived brings to this
	// instance when it becomes MASTER.
	freebind bool
}

// poolPlan is a pool's configuration for its balancer and health monitor.
type poolPlan struct {
	id       string
	desc     string // how messages name it
	protocol octavia.Protocol
	enabled  bool
	alg      balancer.Algorithm
	members  []balancer.MemberConfig
	health   health.Config
	targets  []health.Target // members, in the same order
	persist  persistPlan     // zero: no session persistence
	tls      *tls.Config     // tls_enabled: how to speak to members; nil: plain TCP
	tlsKey   string          // what tls was built from; a change drops idle member connections
}

// sameAs reports whether pp configures the pool exactly as old does, so
// that applying it would change nothing.
func (pp *poolPlan) sameAs(old *poolPlan) bool {
	if old == pp {
		return true
	}
	if old == nil || !slices.Equal(pp.members, old.members) || !slices.Equal(pp.targets, old.targets) {
		return false
	}
	// Every other field, whatever fields the plan grows.
	// TLS by what it was built from (tlsKey): a crypto/tls configuration
	// built again from the same material is the same.
	a, b := *pp, *old
	a.members, a.targets, b.members, b.targets = nil, nil, nil, nil
	a.tls, b.tls = nil, nil
	return reflect.DeepEqual(a, b)
}

// DefaultVIP is where listeners bind when their load balancer has no
// vip_address.
const DefaultVIP = "127.0.0.1"

// translate turns cfg into a plan. Counters of listeners that stay are
// carried over. The caller holds rt.mu.
//
// Configurations share the graphs of load balancers that did not change
// (the control plane copies only the one an API call changes), so a load
// balancer whose graph is the very one the last Apply translated reuses
// that translation: an API change costs the translation of what it
// changed, not of the whole state.
func (rt *Runtime) translate(ctx context.Context, cfg *octavia.Config) (*plan, error) {
	// Sized like the last plan: growing maps of thousands of entries costs
	// more than filling them.
	p := &plan{
		listeners: make(map[string]*plannedListener, len(rt.listeners)+1),
		byID:      make(map[string]*listenerConfig, len(rt.byID)+1),
		pools:     make(map[string]*poolPlan, len(rt.pools)+1),
		lbs:       make(map[*octavia.LoadBalancer]*lbPlan, len(cfg.LoadBalancers)),
	}
	needPing := false
	for _, lb := range cfg.LoadBalancers {
		if !lb.Enabled() {
			continue // an administratively down load balancer serves nothing
		}
		lp := rt.lbPlans[lb]
		if lp == nil {
			var err error
			if lp, err = rt.translateLB(ctx, cfg, lb); err != nil {
				return nil, err
			}
			for _, pp := range lp.pools {
				needPing = needPing || (pp.health.Type == health.TypePing && !pp.health.Disabled)
			}
		}
		p.lbs[lb] = lp
		for _, pl := range lp.listeners {
			if other, dup := p.listeners[pl.key]; dup {
				return nil, fmt.Errorf("%s: %s is already bound by %s", pl.cfg.desc, pl.bind, other.cfg.desc)
			}
			p.listeners[pl.key] = pl
			p.byID[pl.cfg.id] = pl.cfg
		}
		for _, pp := range lp.pools {
			p.pools[pp.id] = pp
		}
	}
	if needPing {
		// Refuse a PING monitor lbd cannot run before changing anything,
		// with the error that says how to fix it.
		if _, err := health.NewPingChecker(health.PingAuto); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// translateLB translates one enabled load balancer's listeners and pools.
func (rt *Runtime) translateLB(ctx context.Context, cfg *octavia.Config, lb *octavia.LoadBalancer) (*lbPlan, error) {
	lp := &lbPlan{}
	// A pool's checks connect within its listeners' timeout_member_connect;
	// a pool several listeners share takes the smallest, and one that no
	// listener uses takes health's default.
	connect := map[string]time.Duration{}
	vip := lb.VIPAddress
	if vip == "" {
		vip = DefaultVIP
	}
	for _, l := range lb.Listeners {
		if !l.Enabled() {
			continue
		}
		desc := describe("listener", l.ID, l.Name, rt.origin(cfg, l.ID))
		if l.Protocol.Transport() != "tcp" {
			return nil, fmt.Errorf("%s: protocol %s is not served by lbd", desc, l.Protocol)
		}
		bind := net.JoinHostPort(vip, strconv.Itoa(l.ProtocolPort))
		lc, err := rt.translateListener(ctx, lb, l, desc)
		if err != nil {
			return nil, err
		}
		lp.listeners = append(lp.listeners, &plannedListener{key: "tcp/" + bind, bind: bind, poolID: l.DefaultPoolID, cfg: lc, freebind: lb.ActiveStandby()})
		if l.DefaultPoolID != "" {
			if cur, ok := connect[l.DefaultPoolID]; !ok || lc.connectTimeout < cur {
				connect[l.DefaultPoolID] = lc.connectTimeout
			}
		}
	}
	for _, pool := range lb.Pools {
		pp, err := translatePool(pool, describe("pool", pool.ID, pool.Name, rt.origin(cfg, pool.ID)), connect[pool.ID], rt.opts.Passive)
		if err != nil {
			return nil, err
		}
		if pp.tls, pp.tlsKey, err = rt.poolTLS(ctx, pool); err != nil {
			return nil, err
		}
		lp.pools = append(lp.pools, pp)
	}
	return lp, nil
}

// translateListener translates a listener; desc is how messages name it.
func (rt *Runtime) translateListener(ctx context.Context, lb *octavia.LoadBalancer, l *octavia.Listener, desc string) (*listenerConfig, error) {
	lc := &listenerConfig{
		id:             l.ID,
		desc:           desc,
		lbID:           lb.ID,
		protocol:       l.Protocol,
		port:           l.ProtocolPort,
		connLimit:      int64(*l.ConnectionLimit),
		clientTimeout:  ms(*l.TimeoutClientData),
		connectTimeout: ms(*l.TimeoutMemberConnect),
		memberTimeout:  ms(*l.TimeoutMemberData),
		portText:       []byte(strconv.Itoa(l.ProtocolPort)),
		traffic:        &stats.Traffic{},
		log:            rt.log.With("listener_id", l.ID, "listener", l.Name),
		pipes:          &rt.pipes,
	}
	if l.LogsConnections(rt.opts.ConnectionLogging) {
		lc.access = rt.opts.AccessLog
	}
	lc.names = newAccessNames(lb, l)
	old := rt.byID[l.ID]
	if old != nil {
		lc.traffic = old.traffic
	}
	if l.Protocol == octavia.ProtocolTerminatedHTTPS || (l.Protocol == octavia.ProtocolPrometheus && l.DefaultTLSRef+strings.Join(l.SNIContainerRefs, "") != "") {
		t, err := rt.translateTLS(ctx, l, old)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", desc, err)
		}
		lc.tls = t
	}
	if lc.connLimit < 0 {
		lc.connLimit = -1
	}
	for k, v := range l.InsertHeaders {
		on := strings.EqualFold(v, "true")
		switch k {
		case "X-Forwarded-For":
			lc.xff = on
		case "X-Forwarded-Port":
			lc.xfPort = on
		case "X-Forwarded-Proto":
			lc.xfProto = on
		}
	}
	if err := translateL7(lb, l, lc); err != nil {
		return nil, err
	}
	if ap := l.AcceptProxyProtocol; ap != nil {
		lc.proxyFrom = make([]netip.Prefix, 0, len(ap.AllowedCIDRs))
		for _, c := range ap.AllowedCIDRs {
			pfx, err := netip.ParsePrefix(c)
			if err != nil {
				return nil, fmt.Errorf("listener %s accept_proxy_protocol.allowed_cidrs: %w", l.ID, err)
			}
			lc.proxyFrom = append(lc.proxyFrom, pfx.Masked())
		}
	}
	if l.AllowedCIDRs != nil {
		lc.allowed = make([]netip.Prefix, 0, len(l.AllowedCIDRs))
		for _, c := range l.AllowedCIDRs {
			pfx, err := netip.ParsePrefix(c)
			if err != nil {
				return nil, fmt.Errorf("%s allowed_cidrs: %w", desc, err)
			}
			lc.allowed = append(lc.allowed, pfx.Masked())
		}
	}
	return lc, nil
}

// translatePool translates a pool, its members and its monitor; desc is
// how messages name it. connect is its listeners' timeout_member_connect,
// 0 when no listener uses it.
func translatePool(pool *octavia.Pool, desc string, connect time.Duration, passive health.Passive) (*poolPlan, error) {
	alg, err := balancer.ParseAlgorithm(string(pool.LBAlgorithm))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", desc, err)
	}
	pp := &poolPlan{id: pool.ID, desc: desc, protocol: pool.Protocol, enabled: pool.Enabled(), alg: alg}
	if sp := pool.SessionPersistence; sp != nil {
		pp.persist = persistPlan{kind: sp.Type, cookie: sp.CookieName}
	}
	if pp.health, err = translateMonitor(pool.HealthMonitor, connect); err != nil {
		return nil, fmt.Errorf("%s health monitor: %w", desc, err)
	}
	pp.health.Passive = passive
	if *pool.TLSEnabled && pp.health.Type == health.TypeHTTP {
		// HAProxy's checks inherit the server's "ssl": an HTTP monitor of a
		// tls_enabled pool speaks HTTPS, without verifying the member.
		pp.health.Type = health.TypeHTTPS
	}
	pp.members = make([]balancer.MemberConfig, 0, len(pool.Members))
	pp.targets = make([]health.Target, 0, len(pool.Members))
	for _, m := range pool.Members {
		mc, t, err := translateMember(m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", desc, err)
		}
		pp.members = append(pp.members, mc)
		pp.targets = append(pp.targets, t)
	}
	return pp, nil
}

// translateMember makes a member the balancer's and the monitor's, from
// one parse of its address.
func translateMember(m *octavia.Member) (balancer.MemberConfig, health.Target, error) {
	addr, err := netip.ParseAddr(m.Address)
	if err != nil {
		return balancer.MemberConfig{}, health.Target{}, fmt.Errorf("%s address %q: %w", describe("member", m.ID, m.Name, ""), m.Address, err)
	}
	ap := netip.AddrPortFrom(addr.Unmap(), uint16(m.ProtocolPort))
	mc := balancer.MemberConfig{ID: m.ID, Name: m.Name, Addr: ap, Weight: *m.Weight, Backup: *m.Backup, Enabled: m.Enabled()}
	t := health.Target{ID: m.ID, Name: m.Name, Addr: ap, Enabled: mc.Enabled, Weight: mc.Weight}
	if m.MonitorAddress != "" {
		ma, err := netip.ParseAddr(m.MonitorAddress)
		if err != nil {
			return balancer.MemberConfig{}, health.Target{}, fmt.Errorf("%s monitor_address %q: %w", describe("member", m.ID, m.Name, ""), m.MonitorAddress, err)
		}
		t.MonitorAddr = ma.Unmap()
	}
	if m.MonitorPort != nil {
		t.MonitorPort = uint16(*m.MonitorPort)
	}
	return mc, t, nil
}

// translateMonitor makes a pool's health monitor health's Config; hm may be
// nil (no monitor). connect bounds the probes' connects; 0 leaves health's
// default.
func translateMonitor(hm *octavia.HealthMonitor, connect time.Duration) (health.Config, error) {
	c := health.Config{ConnectTimeout: connect}
	if hm == nil {
		return c, nil
	}
	// A disabled monitor of a type lbd cannot run probes nothing, like any
	// disabled monitor.
	typ, ok := monitorTypes[hm.Type]
	if !ok && hm.Enabled() {
		return c, fmt.Errorf("healthmonitor.type %q: lbd supports HTTP, HTTPS, PING, TCP, TLS-HELLO and UDP-CONNECT", hm.Type)
	}
	c.Type = typ
	c.Disabled = !hm.Enabled()
	c.Delay = time.Duration(*hm.Delay) * time.Second
	c.Timeout = time.Duration(*hm.Timeout) * time.Second
	c.Rise = hm.MaxRetries
	c.Fall = *hm.MaxRetriesDown
	if hm.Type.IsHTTP() {
		c.HTTPMethod = hm.HTTPMethod
		c.URLPath = hm.URLPath
		codes, err := octavia.ParseExpectedCodes(hm.ExpectedCodes)
		if err != nil {
			return c, fmt.Errorf("healthmonitor.expected_codes %q: %w", hm.ExpectedCodes, err)
		}
		for _, r := range codes {
			c.ExpectedCodes.Add(r.Lo, r.Hi)
		}
		c.HTTPVersion = "1.0"
		if hm.HTTPVersion != nil && *hm.HTTPVersion == 1.1 {
			c.HTTPVersion = "1.1"
		}
		c.DomainName = hm.DomainName
	}
	return c, nil
}

// monitorTypes are the Octavia monitor types lbd runs, as health's types.
var monitorTypes = map[octavia.MonitorType]health.Type{
	octavia.MonitorTCP:        health.TypeTCP,
	octavia.MonitorHTTP:       health.TypeHTTP,
	octavia.MonitorHTTPS:      health.TypeHTTPS,
	octavia.MonitorTLSHello:   health.TypeTLSHello,
	octavia.MonitorUDPConnect: health.TypeUDPConnect,
	octavia.MonitorPING:       health.TypePing,
}

// ms converts Octavia's millisecond timeouts; 0 means no timeout, as in
// HAProxy.
func ms(v int) time.Duration { return time.Duration(v) * time.Millisecond }

// translateL7 compiles a listener's L7 policies into lc: what the amphora
// renders takes part (enabled policies, their enabled rules whose value it
// can write, REDIRECT_TO_POOL to an enabled pool); a policy left without
// rules never matches.
func translateL7(lb *octavia.LoadBalancer, l *octavia.Listener, lc *listenerConfig) error {
	var pcs []l7.PolicyConfig[int]
	for _, pol := range l.L7Policies {
		if !pol.Enabled() {
			continue
		}
		pc := l7.PolicyConfig[int]{ID: pol.ID, Code: octavia.IntOr(pol.RedirectHTTPCode, octavia.DefaultRedirectHTTPCode)}
		switch pol.Action {
		case octavia.L7Reject:
			pc.Action = l7.Reject
		case octavia.L7RedirectToURL:
			pc.Action, pc.Location = l7.RedirectURL, pol.RedirectURL
		case octavia.L7RedirectPrefix:
			pc.Action, pc.Location = l7.RedirectPrefix, pol.RedirectPrefix
		case octavia.L7RedirectToPool:
			target := lb.PoolByID(pol.RedirectPoolID)
			if target == nil || !target.Enabled() {
				continue
			}
			pc.Action, pc.Target = l7.ToPool, len(lc.l7poolIDs)
			lc.l7poolIDs = append(lc.l7poolIDs, target.ID)
		default:
			return fmt.Errorf("l7 policy %s: action %q", pol.ID, pol.Action)
		}
		for _, r := range pol.Rules {
			if !r.Enabled() || octavia.HasConfigControls(r.Value) {
				continue
			}
			rc, err := translateRule(r)
			if err != nil {
				return fmt.Errorf("l7 policy %s: %w", pol.ID, err)
			}
			pc.Rules = append(pc.Rules, rc)
		}
		pcs = append(pcs, pc)
	}
	t, err := l7.Compile(pcs)
	if err != nil {
		return fmt.Errorf("listener %s: %w", l.ID, err)
	}
	lc.l7 = t
	lc.l7pools = make([]*pool, len(lc.l7poolIDs))
	return nil
}

var (
	l7Fetches = map[octavia.L7RuleType]l7.Fetch{
		octavia.L7HostName: l7.HostName, octavia.L7Path: l7.Path, octavia.L7FileType: l7.FileType,
		octavia.L7Header: l7.Header, octavia.L7Cookie: l7.Cookie, octavia.L7SSLConnHasCert: l7.SSLConnHasCert,
		octavia.L7SSLVerifyResult: l7.SSLVerifyResult, octavia.L7SSLDNField: l7.SSLDNField,
	}
	l7Compares = map[octavia.L7CompareType]l7.Compare{
		octavia.L7Regex: l7.Regex, octavia.L7StartsWith: l7.StartsWith, octavia.L7EndsWith: l7.EndsWith,
		octavia.L7Contains: l7.Contains, octavia.L7EqualTo: l7.EqualTo,
	}
)

func translateRule(r *octavia.L7Rule) (l7.RuleConfig, error) {
	f, ok1 := l7Fetches[r.Type]
	c, ok2 := l7Compares[r.CompareType]
	if !ok1 || !ok2 {
		return l7.RuleConfig{}, fmt.Errorf("rule %s: type %q compare_type %q", r.ID, r.Type, r.CompareType)
	}
	return l7.RuleConfig{Fetch: f, Compare: c, Key: r.Key, Value: r.Value, Invert: r.Invert}, nil
}
