package octavia

import (
	"crypto/sha1"
	"fmt"
)

// idNamespace seeds lbd's name-based UUIDs (RFC 9562 version 5).
var idNamespace = [16]byte{0x6c, 0x62, 0x64, 0x2e, 0x6f, 0x63, 0x74, 0x61, 0x76, 0x69, 0x61, 0x2e, 0x69, 0x64, 0x73, 0x00}

// StableID derives a UUID from a key, so the same config yields the same IDs
// on every load and a reload can tell a changed object from a new one.
func StableID(key string) string {
	h := sha1.New()
	h.Write(idNamespace[:])
	h.Write([]byte(key))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50 // version 5
	u[8] = (u[8] & 0x3f) | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Normalize turns a validated fully-populated graph into the flat shape the
// data plane and the API use: every pool is listed in lb.Pools (inline
// default pools are hoisted there), listeners name their pool by
// default_pool_id, and every object has an ID and its parents' IDs. IDs
// already present are kept; missing ones are derived from what identifies the
// object and cannot change (its load balancer's name, a listener's transport
// and port, a pool's name, a member's address and port), so they are stable
// across loads.
func (c *Config) Normalize() {
	for i, lb := range c.LoadBalancers {
		key := "lb/" + lb.Name
		if lb.Name == "" {
			key = fmt.Sprintf("lb/#%d", i)
		}
		lb.Normalize(key)
	}
}

// Normalize flattens one load balancer; key seeds its ID when it has none.
func (lb *LoadBalancer) Normalize(key string) {
	if lb.ID == "" {
		lb.ID = StableID(key)
	}
	for i, p := range lb.Pools {
		p.normalize(lb, i)
	}
	for _, l := range lb.Listeners {
		if l.ID == "" {
			l.ID = StableID(fmt.Sprintf("%s/listener/%s/%d", lb.ID, l.Protocol.Transport(), l.ProtocolPort))
		}
		l.LoadBalancerID = lb.ID
	}
	// Inline pools first (default pools, then policies' redirect pools),
	// so that any listener or policy can name any of them.
	for _, l := range lb.Listeners {
		if p := l.DefaultPool; p != nil && !isPoolReference(p) {
			lb.Pools = append(lb.Pools, p)
			p.normalize(lb, len(lb.Pools)-1)
			p.ListenerID = l.ID
			l.DefaultPoolID = p.ID
			l.DefaultPool = nil
		}
	}
	for _, l := range lb.Listeners {
		for _, pol := range l.L7Policies {
			if rp := pol.RedirectPool; rp != nil && !isPoolReference(rp) {
				lb.Pools = append(lb.Pools, rp)
				rp.normalize(lb, len(lb.Pools)-1)
				pol.RedirectPool = &Pool{Name: rp.Name} // resolved below, as a reference
			}
		}
	}
	for _, l := range lb.Listeners {
		if p := l.DefaultPool; p != nil {
			for _, q := range lb.Pools {
				if q.Name == p.Name {
					l.DefaultPoolID = q.ID
				}
			}
			l.DefaultPool = nil
		}
	}
	for _, l := range lb.Listeners {
		lb.normalizeL7(l)
	}
}

// NormalizeL7 normalizes the L7 policies of one listener of the load
// balancer (as Normalize does for all): for a listener created alone with
// policies inline.
func (lb *LoadBalancer) NormalizeL7(l *Listener) { lb.normalizeL7(l) }

// normalizeL7 puts a listener's policies in Octavia's order (each
// inserted at its position, in the order given, as Octavia's graph create
// inserts them), numbers them 1..N, gives policies and rules stable IDs
// (from the policy's name, or its place in the list when unnamed, and the
// rule's place in its policy), resolves redirect_pool to redirect_pool_id
// (hoisting an inline pool to the load balancer's pools) and applies
// Octavia's sanitize (redirect_http_code 302 for URL redirects, targets the
// action does not use cleared).
func (lb *LoadBalancer) normalizeL7(l *Listener) {
	given := l.L7Policies
	l.L7Policies = nil
	for i, pol := range given {
		if pol.ID == "" {
			key := fmt.Sprintf("%s/l7policy/%s", l.ID, pol.Name)
			if pol.Name == "" {
				key = fmt.Sprintf("%s/l7policy/#%d", l.ID, i)
			}
			pol.ID = StableID(key)
		}
		pol.ListenerID = l.ID
		if rp := pol.RedirectPool; rp != nil {
			if !isPoolReference(rp) { // a listener created alone (NormalizeL7)
				lb.Pools = append(lb.Pools, rp)
				rp.normalize(lb, len(lb.Pools)-1)
			}
			for _, p := range lb.Pools {
				if p.Name == rp.Name {
					pol.RedirectPoolID = p.ID
				}
			}
			pol.RedirectPool = nil
		}
		args := pol.ArgsOf()
		if args.Sanitize(true) == nil {
			args.Apply(pol)
		}
		for j, r := range pol.Rules {
			if r.ID == "" {
				r.ID = StableID(fmt.Sprintf("%s/rule/#%d", pol.ID, j))
			}
			if !r.Type.UsesKey() {
				r.Key = "" // as Octavia's repository leaves it
			}
		}
		l.InsertL7Policy(pol)
	}
}

func (p *Pool) normalize(lb *LoadBalancer, index int) {
	if p.ID == "" {
		key := fmt.Sprintf("%s/pool/%s", lb.ID, p.Name)
		if p.Name == "" {
			key = fmt.Sprintf("%s/pool/#%d", lb.ID, index)
		}
		p.ID = StableID(key)
	}
	p.LoadBalancerID = lb.ID
	for _, m := range p.Members {
		if m.ID == "" {
			m.ID = StableID(fmt.Sprintf("%s/member/%s/%d", p.ID, normalAddr(m.Address), m.ProtocolPort))
		}
	}
	if h := p.HealthMonitor; h != nil {
		if h.ID == "" {
			h.ID = StableID(p.ID + "/healthmonitor")
		}
		h.PoolID = p.ID
	}
}

// ListenerPool returns the pool a normalized listener forwards to, or nil.
func (lb *LoadBalancer) ListenerPool(l *Listener) *Pool {
	if l.DefaultPoolID == "" {
		return nil
	}
	return lb.PoolByID(l.DefaultPoolID)
}
