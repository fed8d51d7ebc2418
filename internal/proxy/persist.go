package proxy

import (
	"net/netip"
	"time"

	"lbd/internal/balancer"
	"lbd/internal/octavia"
	"lbd/internal/proxy/http1"
	"lbd/internal/proxy/l7"
	"lbd/internal/proxy/stick"
)

// Session persistence, as the amphora's HAProxy keeps it:
//
//   - SOURCE_IP: "stick on src", a table from the client's address to its
//     member;
//   - HTTP_COOKIE: "cookie SRV insert indirect nocache": the member's ID in
//     a cookie lbd sets (SRV=<member id>; path=/) and takes out of the
//     request before the member sees it, with "Cache-Control: private" on
//     a cacheable response that carries it;
//   - APP_COOKIE: "stick store-response res.cook(<name>)" and "stick match
//     req.cook(<name>)": a table from the first 64 bytes of the
//     application's own session cookie to the member that set it.
//
// Persistence yields to health: a member that is down, disabled or
// drained (weight 0) takes no sticky client; the client is balanced anew
// and stays with its new member from then on (moved once). Tables are
// bounded (stickSize entries, least recently used out first) and forget a
// client after stickExpiry without a request; they carry over reloads
// that keep the persistence type, and HTTP_COOKIE's cookies name member
// IDs, which a reload keeps.

const (
	// stickSize is the amphora's stick-table size ([haproxy_amphora]
	// haproxy_stick_size, 10k).
	stickSize = 10000
	// stickExpiry is how long an entry lives without use. The amphora's
	// tables set no expiry (entries leave only when the table is full);
	// lbd bounds both.
	stickExpiry = 30 * time.Minute
)

// cookieSRV is the cookie HTTP_COOKIE persistence inserts.
var cookieSRV = []byte("SRV")

// persistPlan is a pool's session persistence as configured.
type persistPlan struct {
	kind   octavia.PersistenceType // "" for none
	cookie string                  // APP_COOKIE's cookie name
}

// persistence is a pool's session persistence as it runs: immutable,
// swapped on update. Its table outlives updates that keep the plan.
type persistence struct {
	plan    persistPlan
	cookie  []byte       // the cookie read from requests (SRV, or APP_COOKIE's)
	table   *stick.Table // SOURCE_IP and APP_COOKIE
	members map[string]*balancer.Member
}

// newPersistence builds a pool's persistence for its current members,
// keeping old's table when the plan is the same.
func newPersistence(plan persistPlan, old *persistence, members []*balancer.Member) *persistence {
	if plan.kind == "" {
		return nil
	}
	ps := &persistence{plan: plan, members: make(map[string]*balancer.Member, len(members))}
	for _, m := range members {
		ps.members[m.ID] = m
	}
	switch plan.kind {
	case octavia.PersistenceHTTPCookie:
		ps.cookie = cookieSRV
	case octavia.PersistenceAppCookie:
		ps.cookie = []byte(plan.cookie)
	}
	if plan.kind != octavia.PersistenceHTTPCookie {
		if old != nil && old.plan == plan {
			ps.table = old.table
		} else {
			ps.table = stick.New(stickSize, stickExpiry)
		}
	}
	return ps
}

// usable reports whether a member may take a sticky client: enabled,
// healthy and not drained.
func usable(m *balancer.Member) bool { return m.Enabled && m.Weight > 0 && m.Healthy() }

func addrKey(a netip.Addr) stick.Key {
	b := a.Unmap().As16()
	return stick.KeyOf(b[:])
}

// sticky returns the member the request (req nil for TCP) from src is
// stuck to, if that member may take it.
func (ps *persistence) sticky(src netip.AddrPort, req *http1.Head) *balancer.Member {
	var id string
	switch ps.plan.kind {
	case octavia.PersistenceSourceIP:
		var ok bool
		if id, ok = ps.table.Get(addrKey(src.Addr())); !ok {
			return nil
		}
	case octavia.PersistenceHTTPCookie, octavia.PersistenceAppCookie:
		if req == nil {
			return nil
		}
		v, ok := l7.CookieValue(req, ps.cookie)
		if !ok {
			return nil
		}
		if ps.plan.kind == octavia.PersistenceHTTPCookie {
			m := ps.members[string(v)]
			if m == nil || !usable(m) {
				return nil
			}
			return m
		}
		if id, ok = ps.table.Get(stick.KeyOf(v)); !ok {
			return nil
		}
	}
	m := ps.members[id]
	if m == nil || !usable(m) {
		return nil
	}
	return m
}

// remember records that the request from src went to m, which the pool's
// balancer picked: its address (SOURCE_IP), or the application's session
// cookie it carried, whose member could not take it (APP_COOKIE: the
// client is moved once). HTTP_COOKIE records nothing here: the response
// carries the new cookie.
func (ps *persistence) remember(src netip.AddrPort, req *http1.Head, m *balancer.Member) {
	switch ps.plan.kind {
	case octavia.PersistenceSourceIP:
		ps.table.Put(addrKey(src.Addr()), m.ID)
	case octavia.PersistenceAppCookie:
		if req == nil {
			return
		}
		if v, ok := l7.CookieValue(req, ps.cookie); ok {
			ps.table.Put(stick.KeyOf(v), m.ID)
		}
	}
}

// pick chooses the member for a request (req nil for a TCP connection)
// from src: the one the pool's persistence names when it may take it,
// else the balancer's. The member is acquired; the caller releases it.
func (p *pool) pick(src netip.AddrPort, req *http1.Head) (*balancer.Member, error) {
	ps := p.persist.Load()
	if ps != nil {
		if m := ps.sticky(src, req); m != nil {
			m.Acquire()
			return m, nil
		}
	}
	m, err := p.bal.PickExcept(src, nil)
	if err == nil && ps != nil {
		ps.remember(src, req, m)
	}
	return m, err
}

// redispatched records that a connection for src went to m after the
// member first chosen for it failed.
func (p *pool) redispatched(src netip.AddrPort, req *http1.Head, m *balancer.Member) {
	if ps := p.persist.Load(); ps != nil {
		ps.remember(src, req, m)
	}
}

// inserted is what HTTP_COOKIE persistence changes in a response m sends
// for req, into ins (the caller's, so nothing escapes); nil for other
// pools. It learns APP_COOKIE's session cookie from the response as it
// passes.
func (ps *persistence) inserted(req, resp *http1.Head, m *balancer.Member, ins *http1.Inserted, buf []byte) *http1.Inserted {
	switch ps.plan.kind {
	case octavia.PersistenceAppCookie:
		if v, ok := http1.SetCookieValue(resp, ps.cookie); ok {
			ps.table.Put(stick.KeyOf(v), m.ID)
		}
		return nil
	case octavia.PersistenceHTTPCookie:
	default:
		return nil
	}
	*ins = http1.Inserted{DropSetCookie: cookieSRV}
	if v, ok := l7.CookieValue(req, cookieSRV); ok && string(v) == m.ID {
		return ins // the client has the cookie of the member that answered
	}
	buf = append(buf[:0], "SRV="...)
	buf = append(buf, m.ID...)
	buf = append(buf, "; path=/"...)
	ins.SetCookie = buf
	ins.Private = http1.Cacheable(req, resp)
	return ins
}
