package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"lbd/internal/health"
	"lbd/internal/octavia"
	"lbd/internal/stats"
)

// plan is a config compiled into what the runtime runs, before any of it
// is committed.
type plan struct {
	listeners map[string]*plannedListener // by bind key
	pools     map[string]*octavia.Pool    // by pool ID
	health    map[string]*healthPlan      // by pool ID
	traffic   map[string]*stats.Traffic   // by listener ID
}

type plannedListener struct {
	bind   string
	poolID string
	cfg    *listenerConfig
}

// DefaultVIP is where listeners bind when their load balancer has no
// vip_address.
const DefaultVIP = "127.0.0.1"

// plan compiles cfg. Counters of listeners that stay are carried over.
func (rt *Runtime) plan(cfg *octavia.Config) (*plan, error) {
	p := &plan{
		listeners: map[string]*plannedListener{},
		pools:     map[string]*octavia.Pool{},
		health:    map[string]*healthPlan{},
		traffic:   map[string]*stats.Traffic{},
	}
	// A pool's checks connect within its listeners' timeout_member_connect;
	// a pool several listeners share takes the smallest.
	connectMS := map[string]int{}
	for _, lb := range cfg.LoadBalancers {
		if !lb.Enabled() {
			continue // an administratively down load balancer serves nothing
		}
		for _, pool := range lb.Pools {
			p.pools[pool.ID] = pool
		}
		vip := lb.VIPAddress
		if vip == "" {
			vip = DefaultVIP
		}
		for _, l := range lb.Listeners {
			if !l.Enabled() {
				continue
			}
			if l.Protocol.Transport() != "tcp" {
				return nil, fmt.Errorf("listener %s: protocol %s is not served by lbd", l.ID, l.Protocol)
			}
			bind := net.JoinHostPort(vip, strconv.Itoa(l.ProtocolPort))
			key := "tcp/" + bind
			if other, dup := p.listeners[key]; dup {
				return nil, fmt.Errorf("listener %s: %s is already bound by listener %s", l.ID, bind, other.cfg.id)
			}
			lc, err := compileListener(lb, l, rt)
			if err != nil {
				return nil, err
			}
			tr := rt.traffic[l.ID]
			if tr == nil {
				tr = &stats.Traffic{}
			}
			lc.traffic = tr
			p.traffic[l.ID] = tr
			p.listeners[key] = &plannedListener{bind: bind, poolID: l.DefaultPoolID, cfg: lc}
			if l.DefaultPoolID != "" {
				ms := octavia.IntOr(l.TimeoutMemberConnect, octavia.DefaultTimeoutMemberConnect)
				if cur, ok := connectMS[l.DefaultPoolID]; !ok || ms < cur {
					connectMS[l.DefaultPoolID] = ms
				}
			}
		}
	}
	needPing := false
	for id, pool := range p.pools {
		ms, ok := connectMS[id]
		if !ok {
			ms = octavia.DefaultTimeoutMemberConnect
		}
		hp, err := planHealth(pool, ms, rt.opts.Passive)
		if err != nil {
			return nil, err
		}
		p.health[id] = hp
		needPing = needPing || (pool.HealthMonitor != nil && pool.HealthMonitor.Type == octavia.MonitorPING && pool.HealthMonitor.Enabled())
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

func compileListener(lb *octavia.LoadBalancer, l *octavia.Listener, rt *Runtime) (*listenerConfig, error) {
	lc := &listenerConfig{
		id:             l.ID,
		lbID:           lb.ID,
		protocol:       l.Protocol,
		port:           l.ProtocolPort,
		connLimit:      int64(octavia.IntOr(l.ConnectionLimit, octavia.DefaultConnectionLimit)),
		clientTimeout:  ms(octavia.IntOr(l.TimeoutClientData, octavia.DefaultTimeoutClientData)),
		connectTimeout: ms(octavia.IntOr(l.TimeoutMemberConnect, octavia.DefaultTimeoutMemberConnect)),
		memberTimeout:  ms(octavia.IntOr(l.TimeoutMemberData, octavia.DefaultTimeoutMemberData)),
		portText:       []byte(strconv.Itoa(l.ProtocolPort)),
		log:            rt.log.With("listener_id", l.ID),
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
	if l.AllowedCIDRs != nil {
		lc.allowed = make([]netip.Prefix, 0, len(l.AllowedCIDRs))
		for _, c := range l.AllowedCIDRs {
			pfx, err := netip.ParsePrefix(c)
			if err != nil {
				return nil, fmt.Errorf("listener %s allowed_cidrs: %w", l.ID, err)
			}
			lc.allowed = append(lc.allowed, pfx.Masked())
		}
	}
	return lc, nil
}

// ms converts Octavia's millisecond timeouts; 0 means no timeout, as in
// HAProxy.
func ms(v int) time.Duration { return time.Duration(v) * time.Millisecond }
